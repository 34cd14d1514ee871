"""Change feed -> broadcaster backend -> channels -> subscribers.

`ChangeFeedBackend` is a broadcaster `BroadcastBackend` whose messages are the store's committed
changes, routed to channels (`room:<id>`, `user:<id>`, `roominfo:<id>`, `stream:<id>`).
Mutations never publish persistent events: they write, and the feed publishes, so every process
watching the same database sees every event and nothing is delivered for a write that rolled back.

`Hub` replaces broadcaster's `Broadcast` to close its known weak spots: subscriber queues are
bounded (an overflowing subscriber is told so and must resume from its cursor), subscribing is
synchronous (no race with the first event), and a failing listener logs and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend

from chatql.observability.live_stats import LatencyHistogram, LiveStats, delivering_commit
from chatql.store.base import HistoryLost, Store
from chatql.store.records import ChangeEvent

log = logging.getLogger("chatql.realtime.pubsub")

RESYNC_CHANNEL = "__resync__"
PRESENCE_CHANNEL = "presence"

# Set by a transport around one operation: called when that operation's stream subscribes to the
# hub, i.e. from when no event can be missed any more (AppSync acknowledges a `start` then).
on_listening: ContextVar[Callable[[], None] | None] = ContextVar("on_listening", default=None)


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


def stream_channel(stream_id: str) -> str:
    return f"stream:{stream_id}"


def channels_for(change: ChangeEvent) -> list[str]:
    """Which channels a committed change is published on."""
    doc = change.document
    if change.collection == "messages" and doc is not None:
        return [room_channel(str(doc["room_id"]))]
    if change.collection == "memberships":
        room_id, _, user_id = change.key.partition(":")
        return [room_channel(room_id), user_channel(user_id)]
    if change.collection == "rooms":
        return [f"roominfo:{change.key}"]
    if change.collection == "users":
        return [user_channel(change.key), PRESENCE_CHANNEL]
    if change.collection == "reactions":
        return [room_channel(change.key[:32])]
    if change.collection == "notifications" and doc is not None:
        return [user_channel(str(doc["user_id"]))]
    if change.collection == "events" and doc is not None:
        return [str(doc["channel"])]
    if change.collection == "streams":
        return [stream_channel(change.key)]
    return []


class ChangeFeedBackend(BroadcastBackend):
    """A broadcaster backend fed by `Store.watch()`, resuming with the last token it saw.

    Events stay in this process, so an Event's message is the ChangeEvent itself rather than
    the string broadcaster's network backends need. With a `name`, the position is saved in the
    store about once a second and on shutdown, and a restarted process of that name resumes
    from it (or re-syncs, if the store no longer has that much history).
    """

    def __init__(
        self,
        store: Store,
        retry_delay: float = 0.5,
        name: str | None = None,
        save_every: float = 1.0,
    ) -> None:
        # BroadcastBackend.__init__ only raises NotImplementedError; nothing to call.
        self._store = store
        self._retry_delay = retry_delay
        self._name = name
        self._save_every = save_every
        self._saved: Any = None
        self._saver: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        # Where events go: this queue for broadcaster's `next_published`, or straight to the
        # hub once it asks (`deliver_to`): one task hop less for every event.
        self._emit: Callable[[Event], None] = self._queue.put_nowait
        self._task: asyncio.Task[None] | None = None
        self._token: Any = None
        self._started = asyncio.Event()
        self.running = False
        self.resyncs = 0
        self.lag = LatencyHistogram()  # commit -> read from the store's feed

    async def connect(self) -> None:
        if self._name is not None and self._token is None:
            try:
                self._token = self._saved = await self._store.load_feed_position(self._name)
            except Exception:
                log.exception("could not read the saved feed position; starting from now")
        self._task = asyncio.create_task(self._pump(), name="chatql-change-feed")
        await self._started.wait()
        if self._name is not None:
            self._saver = asyncio.create_task(self._save_periodically(), name="chatql-feed-save")

    async def disconnect(self) -> None:
        for task in (self._saver, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._saver = self._task = None
        await self._save()
        self.running = False

    async def _save(self) -> None:
        if self._name is None or self._token is None or self._token == self._saved:
            return
        token = self._token
        try:
            await self._store.save_feed_position(self._name, token)
            self._saved = token
        except Exception:
            log.exception("could not save the feed position")

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._save_every)
            await self._save()

    async def subscribe(self, group: str) -> None:
        """Every change is already routed to its channels; the hub filters per subscriber."""

    async def unsubscribe(self, group: str) -> None:
        """See `subscribe`."""

    async def publish(self, channel: str, message: Any) -> None:
        """Ephemeral events (typing) that are not worth storing; this process only."""
        self._emit(Event(channel, message))

    def deliver_to(self, sink: Callable[[Event], None] | None) -> None:
        """Hand every event to `sink` as it is read (None: back to `next_published`). The sink
        must not raise: an exception here would be taken for a failing feed."""
        self._emit = sink if sink is not None else self._queue.put_nowait

    async def next_published(self) -> Event:
        return await self._queue.get()

    def _route(self, change: ChangeEvent) -> None:
        self._token = change.token
        if change.committed_at is not None:
            self.lag.observe(time.time() - change.committed_at)
        for channel in channels_for(change):
            self._emit(Event(channel, change))  # type: ignore[arg-type]

    async def _pump(self) -> None:
        while True:
            try:
                stream = self._store.watch(self._token)
                self.running = True
                self._started.set()
                push_to = getattr(stream, "push_to", None)
                if push_to is not None:  # the in-process feed calls us as it commits
                    await push_to(self._route)
                else:
                    async for change in stream:
                        self._route(change)
                log.warning("change feed ended; reopening")
            except asyncio.CancelledError:
                raise
            except HistoryLost as exc:
                log.warning("change feed cannot resume (%s); re-syncing subscribers", exc)
                self.resyncs += 1
                self._token = None
                self._emit(Event(RESYNC_CHANNEL, None))  # type: ignore[arg-type]
            except Exception:
                log.exception("change feed failed; retrying")
                self.running = False
                self._started.set()
                await asyncio.sleep(self._retry_delay)


class SubscriberOverflow(Exception):
    """The subscriber's bounded queue filled up, or the feed had to re-sync."""


class Subscription:
    """One subscriber's bounded buffer on one channel.

    `take_now`, when set, is offered each item while nothing is buffered: if it handles the
    item then and there (True), the item is not buffered and its reader never wakes for it,
    which spares a task switch per event; False buffers it as usual. It must say False when
    its reader is still busy with an earlier item, so items are handled in order.
    """

    def __init__(self, hub: Hub, channels: tuple[str, ...], maxsize: int) -> None:
        self.channels = channels
        self._hub = hub
        self._maxsize = maxsize
        self._items: deque[Any] = deque()
        self._wakeup = asyncio.Event()
        self.overflowed = False
        self.closed = False
        self.take_now: Callable[[Any], bool] | None = None

    def offer(self, item: Any) -> None:
        if self.overflowed or self.closed:
            return
        if not self._items and self.take_now is not None and self.take_now(item):
            return
        if len(self._items) >= self._maxsize:
            self.overflowed = True
            self._items.clear()
            self._hub.stats.drops["queue_overflow"] += 1
        else:
            self._items.append(item)
        self._wakeup.set()

    def overflow(self) -> None:
        if not self.overflowed:
            self._hub.stats.drops["resync"] += 1
        self.overflowed = True
        self._items.clear()
        self._wakeup.set()

    async def get(self) -> Any:
        while not self._items:
            if self.overflowed:
                raise SubscriberOverflow(", ".join(self.channels))
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        delivering_commit.set(getattr(item, "committed_at", None))  # see live_stats
        return item

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        return await self.get()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.take_now = None  # it is its reader's method: no reference cycle left behind
            self._hub._remove(self)
            self._wakeup.set()


class Hub:
    """Reads the backend and hands each event to the subscribers of its channel."""

    def __init__(self, backend: BroadcastBackend) -> None:
        self._backend = backend
        self._channels: dict[str, set[Subscription]] = {}
        self._observers: list[Callable[[Event], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._pushed = False  # the backend hands events over itself (`deliver_to`)
        self.stats = LiveStats()
        lag = getattr(backend, "lag", None)
        if isinstance(lag, LatencyHistogram):
            self.stats.feed_lag = lag

    def add_observer(self, observer: Callable[[Event], None]) -> None:
        """Called for every event before subscribers see it (caches invalidate here)."""
        self._observers.append(observer)

    async def start(self) -> None:
        if isinstance(self._backend, ChangeFeedBackend):
            self._backend.deliver_to(self._dispatch_safely)  # no task between feed and hub
            self._pushed = True
        await self._backend.connect()
        if not self._pushed:
            self._task = asyncio.create_task(self._listen(), name="chatql-hub")

    async def stop(self) -> None:
        if self._pushed:
            assert isinstance(self._backend, ChangeFeedBackend)
            self._backend.deliver_to(None)
            self._pushed = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._backend.disconnect()
        for subscribers in list(self._channels.values()):
            for subscription in list(subscribers):
                subscription.close()

    @property
    def resyncs(self) -> int:
        """Times the change feed could not resume (0 for a backend that never re-syncs)."""
        return int(getattr(self._backend, "resyncs", 0))

    @property
    def running(self) -> bool:
        listening = self._pushed or (self._task is not None and not self._task.done())
        return listening and bool(getattr(self._backend, "running", True))

    def subscribe(self, *channels: str, maxsize: int) -> Subscription:
        """One bounded buffer fed by every event of the given channels, in feed order."""
        subscription = Subscription(self, channels, maxsize)
        for channel in channels:
            self._channels.setdefault(channel, set()).add(subscription)
        listening = on_listening.get()
        if listening is not None:
            listening()
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._channels[channel]

    async def publish(self, channel: str, message: Any) -> None:
        await self._backend.publish(channel, message)

    def deliver(self, channel: str, message: Any) -> None:
        """Hand a locally derived event (e.g. typing ended) to this process's subscribers."""
        for subscription in tuple(self._channels.get(channel, ())):
            subscription.offer(message)

    def subscriber_count(self, channel: str | None = None) -> int:
        if channel is not None:
            return len(self._channels.get(channel, ()))
        return sum(len(s) for s in self._channels.values())

    async def _listen(self) -> None:
        while True:
            try:
                event = await self._backend.next_published()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the broadcast backend failed to hand over an event")
                continue
            self._dispatch_safely(event)

    def _dispatch_safely(self, event: Event) -> None:
        try:
            self._dispatch(event)
        except Exception:
            log.exception("dropping an event that could not be dispatched")

    def _dispatch(self, event: Event) -> None:
        for observer in self._observers:
            observer(event)
        if event.channel == RESYNC_CHANNEL:
            for subscribers in self._channels.values():
                for subscription in subscribers:
                    subscription.overflow()
            return
        for subscription in tuple(self._channels.get(event.channel, ())):
            subscription.offer(event.message)
