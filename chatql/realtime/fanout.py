"""Shared fan-out: execute a subscription event once, write the same bytes to every subscriber.

Subscribers of `onMessageCreated` whose selection only reads viewer-independent fields, and
who share operation and variables, form one group per room. The group reads the room channel
once; for each new message it authorises every member (a set look-up in the membership cache),
executes the selection once, serialises the payload once, and writes it to each member's
socket with only the operation id spliced in. Everything else (other operations, `after`
resumes, viewer-dependent fields) takes Strawberry's ordinary per-subscriber path.

A member whose socket stops draining gets a bounded backlog; past it, the socket is closed with
4008 and the client resumes from its last cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from graphql import FieldNode, GraphQLSchema, OperationDefinitionNode
from graphql.execution import Executor, execute_subscription_event

from chatql.background import BackgroundTasks
from chatql.errors import ChatError, Forbidden, SubscriptionOverflow
from chatql.fast_path.projection import NotCompiled, compile_message
from chatql.realtime.group_plans import Plan, Planner
from chatql.realtime.pubsub import SubscriberOverflow, Subscription, room_channel
from chatql.realtime.transport import FRAMES_EXTENSION
from chatql.security.errors import classify
from chatql.security.limits import Limits
from chatql.services.live import NO_LONGER_MEMBER, TOO_SLOW
from chatql.services.registry import Services
from chatql.store.ids import membership_id
from chatql.store.records import ChangeEvent, MessageRecord

if TYPE_CHECKING:
    from chatql.realtime.shared_subscriptions import SharedSubscriptionsHandler

log = logging.getLogger("chatql.realtime.fanout")

SLOW_CONSUMER_CLOSE = (4008, "Too slow: reconnect and resume with `after`")
SHARED_FIELD = "onMessageCreated"  # the one field groups serve
GROUP_QUEUE = 10_000  # one buffer per group, not per member: room for bursts


def socket_frames(ws: Any) -> Any:
    """The frame writer of a socket: a `DirectSocket`'s protocol, or the one the server put
    into a Starlette WebSocket's scope (`FRAMES_EXTENSION`); None if it has none."""
    frames = getattr(ws, "frames", None)
    if frames is None and hasattr(ws, "scope"):
        frames = ws.scope.get("extensions", {}).get(FRAMES_EXTENSION)
    return frames


class Member:
    """One subscriber in a group: who, which operation id, how to reach its socket.

    An idle subscriber is only this: no task, no future, no Strawberry `Operation` (the member
    stands for its operation in the handler's `operations`). The group ends it with `end`, and
    the handler says goodbye on the socket.
    """

    __slots__ = (
        "backlog",
        "draining",
        "ended",
        "frames",
        "group",
        "handler",
        "operation_id",
        "prefix",
        "viewer_id",
        "watch",
        "ws",
    )
    task = None  # what Strawberry's shutdown looks for in an operation: a member has no task

    def __init__(
        self,
        handler: SharedSubscriptionsHandler,
        ws: Any,
        viewer_id: str,
        operation_id: str,
        watch: str | None = None,
    ) -> None:
        self.handler = handler
        self.ws = ws  # the Starlette WebSocket, or a `DirectSocket` (`send_text`, `close`)
        # The socket's own frame writer (`chatql.realtime.transport`), when the server offers one.
        self.frames = socket_frames(ws)
        self.viewer_id = viewer_id
        self.operation_id = operation_id
        self.watch = watch  # the room id this connection's watch was recorded for, if any
        self.prefix = b'{"id":' + orjson.dumps(operation_id) + b',"type":"next","payload":'
        self.group: Group | None = None
        # (frame, commit time) waiting for the socket; made when it first stops draining
        self.backlog: deque[tuple[bytes, float | None]] | None = None
        self.draining = False
        self.ended = False

    def end(self, error: ChatError | None, *, notify: bool = True) -> None:
        """Leave the group; with `notify`, tell the client (`error`, then `complete`)."""
        if self.ended:
            return
        self.ended = True
        self.backlog = None
        if self.group is not None:
            self.group._fanout.stats.subscription_ended(SHARED_FIELD)
            self.group.remove(self)
        self.handler.member_ended(self, error, notify=notify)


class Group:
    """All members sharing one plan: one channel subscription, one execution per event."""

    def __init__(self, fanout: Fanout, plan: Plan, context: Any) -> None:
        self.plan = plan
        self.members: set[Member] = set()
        self._fanout = fanout
        self._context = context
        executor = Executor.build(
            fanout.schema,
            plan.document,
            context_value=context,
            raw_variable_values=plan.variables,
            operation_name=plan.operation_name,
        )
        if isinstance(executor, list):  # the planner checked the variables, so unexpected
            raise RuntimeError(f"cannot build executor: {executor}")
        self._executor = executor
        operation = plan.document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)  # the planner made sure
        root = operation.selection_set.selections[0]
        strawberry_schema = getattr(fanout.schema, "_strawberry_schema", None)
        self._compiled = (
            compile_message(strawberry_schema, root)
            if isinstance(root, FieldNode) and strawberry_schema is not None
            else None
        )
        self._subscription: Subscription = fanout.services.hub.subscribe(
            room_channel(plan.room_id), maxsize=max(fanout.queue_size, GROUP_QUEUE)
        )
        self._handling = False  # the task is at an event (and may be awaiting)
        self._unframed = 0  # members written through an ASGI `send`, which wants a task
        self._subscription.take_now = self._take_now
        self._task = asyncio.create_task(self._run(), name=f"fanout:{plan.room_id}")

    def add(self, member: Member) -> None:
        if member not in self.members and member.frames is None:
            self._unframed += 1
        self.members.add(member)

    def remove(self, member: Member) -> None:
        if member in self.members and member.frames is None:
            self._unframed -= 1
        self.members.discard(member)
        if not self.members:
            self._fanout.drop(self)

    def stop(self) -> None:
        self._subscription.close()
        self._task.cancel()

    @staticmethod
    def _end(member: Member, error: ChatError | None) -> None:
        member.end(error)

    async def _run(self) -> None:
        try:
            while True:
                try:
                    change = await self._subscription.get()
                except SubscriberOverflow:
                    error = SubscriptionOverflow(TOO_SLOW, retryable=True)
                    for member in list(self.members):
                        self._end(member, error)
                    return
                except StopAsyncIteration:
                    for member in list(self.members):
                        self._end(member, None)
                    return
                if isinstance(change, ChangeEvent):
                    self._handling = True
                    try:
                        await self._handle(change)
                    finally:
                        self._handling = False
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not strand the members silently
            self._fail()

    def _fail(self) -> None:
        """After a bug in the group: log it and end every member (each client resumes from its
        cursor); a failure while ending one does not keep the others from ending."""
        log.exception("fan-out group failed; ending its subscriptions")
        for member in list(self.members):
            try:
                self._end(member, SubscriptionOverflow(TOO_SLOW, retryable=True))
            except Exception:
                log.exception("could not end a fan-out member")

    def _take_now(self, change: Any) -> bool:
        """The event handled as the feed hands it over, when everything it needs is cached
        (members, author) and the task has nothing before it: no task switch, no queue. False:
        the task handles it (a load to await, a payload the executor makes)."""
        if self._handling or not isinstance(change, ChangeEvent):
            return False
        try:
            return self._handle_now(change)
        except Exception:  # as in `_run`; the hub's other subscribers still get the event
            self._fail()
            return True

    def _handle_now(self, change: ChangeEvent) -> bool:
        if self._skips(change):
            return True
        if self._compiled is None or self._unframed:
            return False
        from chatql.types.message import Message  # types import Strawberry: lazy
        from chatql.types.user import User

        services = self._fanout.services
        allowed = services.members.cached_members(self.plan.room_id)
        if allowed is None:
            return False
        assert change.document is not None  # _skips made sure
        message = Message.from_record(MessageRecord.from_doc(change.document))
        author = None
        if self._compiled.needs_author:
            record = services.users.peek(message.author_id)
            if record is None:
                return False
            author = User.from_record(record)
        try:
            data = self._compiled.data(message, author)
        except NotCompiled:
            return False
        self._send({"data": data}, allowed, change.committed_at)
        return True

    def _skips(self, change: ChangeEvent) -> bool:
        """Whether the event is not a new message (members who left end here)."""
        if change.collection == "memberships" and change.operation == "delete":
            for member in list(self.members):
                if change.key == membership_id(self.plan.room_id, member.viewer_id):
                    self._end(member, Forbidden(NO_LONGER_MEMBER))
            return True
        return not (
            change.collection == "messages"
            and change.operation == "insert"
            and change.document is not None
        )

    async def _handle(self, change: ChangeEvent) -> None:
        if self._skips(change):
            return
        from chatql.types.message import Message  # types import Strawberry; keep it lazy

        assert change.document is not None  # _skips made sure
        record = MessageRecord.from_doc(change.document)
        allowed = await self._fanout.services.members.members(self.plan.room_id)
        message = Message.from_record(record)
        payload = await self._answer_compiled(message) if self._compiled else None
        if payload is None:
            outcome = execute_subscription_event(self._executor.build_per_event_executor(message))
            result = await outcome if isinstance(outcome, Awaitable) else outcome
            payload = {"data": result.data}
            if result.errors:
                payload["errors"] = [classify(e).formatted for e in result.errors]
        self._send(payload, allowed, change.committed_at)

    def _send(
        self, payload: dict[str, Any], allowed: frozenset[str], committed_at: float | None
    ) -> None:
        """One payload to every member still allowed to see it (the others end here)."""
        body = orjson.dumps(payload)
        written = 0
        for member in list(self.members):
            if member.viewer_id not in allowed:
                self._end(member, Forbidden(NO_LONGER_MEMBER))
                continue
            written += self._deliver(member, member.prefix + body + b"}", committed_at)
        if written:  # one clock read for the whole pass: no await between the writes
            self._fanout.stats.delivered(committed_at, written, shared=True)

    async def _answer_compiled(self, message: Any) -> dict[str, Any] | None:
        """The event's payload from the compiled projection; None: execute instead."""
        from chatql.types.message import cached_author  # types import Strawberry; keep it lazy

        assert self._compiled is not None
        try:
            data = await self._compiled.answer(
                message, partial(cached_author, self._fanout.services)
            )
        except NotCompiled:
            return None
        return {"data": data}

    def _deliver(self, member: Member, frame: bytes, committed_at: float | None) -> bool:
        """Write now when the socket takes it (True); otherwise queue (bounded) behind a drain
        task, which counts the frame when it is written."""
        if member.draining:
            if member.backlog is None:  # ended meanwhile
                return False
            if len(member.backlog) >= self._fanout.queue_size:
                self._slow(member)
            else:
                member.backlog.append((frame, committed_at))
            return False
        if member.frames is not None:
            written = member.frames.write_text(frame)
        else:
            written = self._send_now(member, frame)
        if written is None:
            self._end(member, None)  # the socket is closing or gone
            return False
        if written:
            return True
        # The transport is paused and nothing was written yet: finish in a task.
        member.draining = True
        member.backlog = deque(((frame, committed_at),))
        self._fanout.tasks.spawn(self._drain(member))
        return False

    @staticmethod
    def _send_now(member: Member, frame: bytes) -> bool | None:
        """Through the ASGI `send`, for servers without a frame writer; answers as
        `LeanWebSocketProtocol.write_text`: True written, False the transport is paused
        (nothing written), None the socket is gone."""
        coroutine = member.ws.send_text(frame.decode())
        try:
            coroutine.send(None)
        except StopIteration:
            return True
        except Exception:
            return None
        coroutine.close()
        return False

    async def _drain(self, member: Member) -> None:
        stats = self._fanout.stats
        try:
            while member.backlog:
                frame, committed_at = member.backlog.popleft()
                await member.ws.send_text(frame.decode())
                stats.delivered(committed_at, shared=True)
        except Exception:
            self._end(member, None)
        finally:
            member.draining = False
            member.backlog = None

    def _slow(self, member: Member) -> None:
        self._fanout.stats.drops["slow_socket"] += 1
        self._end(member, None)
        code, reason = SLOW_CONSUMER_CLOSE
        self._fanout.tasks.spawn(member.ws.close(code=code, reason=reason))


class Fanout:
    """The process's groups, keyed by plan."""

    def __init__(self, services: Services, schema: GraphQLSchema, limits: Limits) -> None:
        self.services = services
        self.schema = schema
        self.queue_size = services.settings.subscription_queue_size
        self.stats = services.hub.stats
        self.planner = Planner(schema, limits)
        self._groups: dict[str, Group] = {}
        self.tasks = BackgroundTasks()

    def join(self, plan: Plan, member: Member, context: Any) -> Group:
        group = self._groups.get(plan.key)
        if group is None:
            group = self._groups[plan.key] = Group(self, plan, context)
        group.add(member)
        member.group = group
        self.stats.subscription_started(SHARED_FIELD)
        return group

    def drop(self, group: Group) -> None:
        if self._groups.get(group.plan.key) is group:
            del self._groups[group.plan.key]
        group.stop()

    def stop(self) -> None:
        for group in list(self._groups.values()):
            for member in list(group.members):
                member.end(None)
            group.stop()
        self._groups.clear()


__all__ = [
    "SLOW_CONSUMER_CLOSE",
    "Fanout",
    "Member",
]
