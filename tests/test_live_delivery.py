"""The delivery path below GraphQL: change feed -> hub -> bounded subscriber queues, with the
real SQLite store. These are the guarantees the end-to-end tests build on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from broadcaster import Event

from chatql.errors import Forbidden, SubscriptionOverflow
from chatql.realtime.pubsub import RESYNC_CHANNEL, ChangeFeedBackend, Hub, SubscriberOverflow
from chatql.services.record_cache import RecordCache
from chatql.services.registry import Services
from chatql.store.base import HistoryLost
from chatql.store.ids import new_id
from chatql.store.local_feed import LocalFeed
from chatql.store.records import ChangeEvent, RoomRecord, UserRecord, now_utc
from chatql.store.sqlite import SQLiteStore
from tests.conftest import fast_settings


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = fast_settings(
        database_url=f"sqlite:///{tmp_path}/live.db", subscription_queue_size=5
    )
    store = SQLiteStore(settings.database_url)
    await store.open()
    built = Services.build(settings, store)
    await built.start()
    try:
        yield built
    finally:
        await built.stop()
        await store.close()


async def user(services: Services, name: str) -> UserRecord:
    return (await services.accounts.register(name, "password123", None)).user


async def test_a_subscriber_that_stops_reading_is_cut_off_not_buffered_forever(
    services: Services,
) -> None:
    alice = await user(services, "alice")
    room = await services.rooms.create_room(alice, "r", None, False, None)
    stream = services.live.message_created(alice, room.id, None)
    consume = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0.05)
    first = await services.messages.send(alice, room.id, "first")
    assert (await consume).id == first.id
    for i in range(20):  # never read: the bounded queue (5) overflows
        await services.messages.send(alice, room.id, f"m{i}")
    await asyncio.sleep(0.05)
    with pytest.raises(SubscriptionOverflow) as overflow:
        await stream.__anext__()
    assert overflow.value.code == "SUBSCRIBER_TOO_SLOW"
    assert services.hub.subscriber_count() == 0  # its buffer is gone with it


async def test_membership_removal_ends_the_stream(services: Services) -> None:
    alice, bob = await user(services, "alice"), await user(services, "bob")
    room = await services.rooms.create_room(alice, "r", None, False, [bob.id])
    stream = services.live.message_created(bob, room.id, None)
    pending = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0.05)
    await services.rooms.leave_room(bob, room.id)
    await services.messages.send(alice, room.id, "after bob left")
    with pytest.raises(Forbidden):
        await pending


async def test_non_members_cannot_open_a_stream(services: Services) -> None:
    alice, eve = await user(services, "alice"), await user(services, "eve")
    private = await services.rooms.create_room(alice, "secret", None, True, None)
    stream = services.live.message_created(eve, private.id, None)
    with pytest.raises(Exception) as denied:
        await stream.__anext__()
    assert getattr(denied.value, "code", None) == "NOT_FOUND"


async def test_membership_cache_follows_the_feed(services: Services) -> None:
    alice, bob = await user(services, "alice"), await user(services, "bob")
    room = await services.rooms.create_room(alice, "r", None, False, None)
    assert not await services.members.is_member(room.id, bob.id)
    await services.rooms.join_room(bob, room.id)
    await asyncio.sleep(0.05)  # the feed delivers the membership change
    assert await services.members.is_member(room.id, bob.id)
    await services.rooms.leave_room(bob, room.id)
    await asyncio.sleep(0.05)
    assert not await services.members.is_member(room.id, bob.id)


async def test_record_cache_takes_each_version_from_the_feed(services: Services) -> None:
    """A room's new version comes with its change event, becomes a record when first read (not
    on every message), and is never read back from the store."""
    alice = await user(services, "alice")
    room = await services.rooms.create_room(alice, "r", None, False, None)
    loads: list[list[str]] = []

    async def load_many(keys: Sequence[str]) -> dict[str, RoomRecord]:
        loads.append(list(keys))
        return await services.store.get_rooms(keys)

    cache = RecordCache("rooms", RoomRecord, load_many)
    first = await cache.get(room.id)
    assert first == room and loads == [[room.id]]
    for count in (1, 2):
        await services.messages.send(alice, room.id, f"m{count}")
        stored = await services.store.get_room(room.id)
        assert stored is not None
        cache.observe(ChangeEvent("update", "rooms", room.id, stored.to_doc(), None))
        cache.observe(ChangeEvent("update", "users", room.id, {"id": "x"}, None))  # not rooms
    kept = await cache.get(room.id)
    assert kept == stored and kept is not None and kept.last_seq == 2
    assert await cache.get(room.id) is kept  # made a record once
    assert loads == [[room.id]]
    cache.observe(ChangeEvent("delete", "rooms", room.id, None, None))
    assert await cache.get(room.id) is not None and len(loads) == 2  # gone: read again


async def test_hub_resync_tells_every_subscriber_to_resume(services: Services) -> None:
    subscription = services.hub.subscribe("room:x", maxsize=10)
    await services.feed.publish(RESYNC_CHANNEL, None)
    with pytest.raises(SubscriberOverflow):
        await asyncio.wait_for(subscription.get(), 2)


class FlakyStore(SQLiteStore):
    """A store whose feed fails once with a transient error, then once with history lost."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: list[object] = []

    def watch(self, resume_token: object = None) -> AsyncIterator[ChangeEvent]:
        self.calls.append(resume_token)
        inner = super().watch(resume_token)
        attempt = len(self.calls)

        async def stream() -> AsyncIterator[ChangeEvent]:
            count = 0
            async for event in inner:
                yield event
                count += 1
                if attempt == 1 and count == 1:
                    raise ConnectionError("network blip")
                if attempt == 2 and count == 1:
                    raise HistoryLost("too old")

        return stream()


async def test_feed_resumes_after_errors_and_resyncs_when_history_is_lost(tmp_path: Path) -> None:
    store = FlakyStore(f"sqlite:///{tmp_path}/flaky.db")
    await store.open()
    backend = ChangeFeedBackend(store, retry_delay=0.01)
    hub = Hub(backend)
    seen: list[Event] = []
    hub.add_observer(seen.append)
    await hub.start()
    try:
        ids = [new_id() for _ in range(3)]
        for user_id in ids:
            await store.create_user(
                UserRecord(user_id, f"u{user_id[:8]}", "U", password_hash="x", created_at=now_utc())
            )
            await asyncio.sleep(0.1)
        channels = [e.channel for e in seen]
        assert RESYNC_CHANNEL in channels
        assert backend.resyncs == 1
        assert store.calls[0] is None and store.calls[1] is not None  # resumed with its token
        assert store.calls[2] is None  # after history was lost it starts afresh
        assert [c for c in channels if c.startswith("user:")] == [f"user:{i}" for i in ids]
    finally:
        await hub.stop()
        await store.close()


async def test_a_failing_observer_costs_one_event_not_the_feed(tmp_path: Path) -> None:
    """The feed hands events to the hub itself (no task in between); an exception while
    dispatching one is logged and neither stops the feed nor makes it re-sync."""
    store = SQLiteStore(f"sqlite:///{tmp_path}/observer.db")
    await store.open()
    backend = ChangeFeedBackend(store, retry_delay=0.01)
    hub = Hub(backend)
    seen: list[str] = []

    def observer(event: Event) -> None:
        seen.append(event.channel)
        if seen.count("presence") == 1 and event.channel == "presence":
            raise RuntimeError("observer bug")  # the first user's presence event is lost

    hub.add_observer(observer)
    await hub.start()
    try:
        subscription = hub.subscribe("presence", maxsize=10)
        for n in range(2):
            await store.create_user(
                UserRecord(new_id(), f"obs{n}", "U", password_hash="x", created_at=now_utc())
            )
        change = await asyncio.wait_for(subscription.get(), 5)  # the second user's
        assert isinstance(change, ChangeEvent) and change.document is not None
        assert change.document["username"] == "obs1"
        assert hub.running and backend.resyncs == 0
        assert seen.count("presence") == 2
    finally:
        await hub.stop()
        await store.close()


async def test_the_sqlite_feed_hands_each_commit_to_the_hub_as_it_is_made(tmp_path: Path) -> None:
    """No queue and no task between the commit and the hub: when the write returns, its event
    has been routed already, in commit order."""
    store = SQLiteStore(f"sqlite:///{tmp_path}/push.db")
    await store.open()
    backend = ChangeFeedBackend(store, retry_delay=0.01)
    hub = Hub(backend)
    seen: list[str] = []
    hub.add_observer(lambda event: seen.append(event.channel))
    await hub.start()
    try:
        ids = [new_id() for _ in range(3)]
        for n, user_id in enumerate(ids):
            await store.create_user(
                UserRecord(user_id, f"push{n}", "U", password_hash="x", created_at=now_utc())
            )
            assert seen[-2:] == [f"user:{user_id}", "presence"]  # before any other turn
        assert [c for c in seen if c.startswith("user:")] == [f"user:{i}" for i in ids]
    finally:
        await hub.stop()
        await store.close()


async def test_a_pushed_watch_gets_its_backlog_what_came_meanwhile_then_live_events() -> None:
    feed = LocalFeed()
    feed.emit([("insert", "notes", "a", None)])
    token = list(feed._history)[-1].token
    feed.emit([("insert", "notes", "b", None)])
    watch = feed.watch(token)  # resumes after "a"
    feed.emit([("insert", "notes", "c", None)])  # before anyone pushes: queued
    got: list[str] = []

    def sink(event: ChangeEvent) -> None:
        got.append(event.key)
        if event.key == "d":
            raise RuntimeError("a listener's bug")

    pushing = asyncio.ensure_future(watch.push_to(sink))
    await asyncio.sleep(0)
    assert got == ["b", "c"]
    feed.emit([("insert", "notes", "d", None), ("insert", "notes", "e", None)])  # no raise
    assert got == ["b", "c", "d", "e"]
    feed.close()
    await asyncio.wait_for(pushing, 5)
    feed.emit([("insert", "notes", "f", None)])  # nobody listens any more
    assert got == ["b", "c", "d", "e"]
