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
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    GraphQLSchema,
    OperationType,
    specified_rules,
    validate,
)
from graphql.execution import Executor, execute_subscription_event
from graphql.validation import MaxIntrospectionDepthRule

from chatql.errors import ChatError, Forbidden, SubscriptionOverflow
from chatql.pubsub import SubscriberOverflow, Subscription, room_channel
from chatql.security.connections import TransportWSHandler
from chatql.security.errors import classify
from chatql.security.limits import Limits, limits_rule
from chatql.services.live import NO_LONGER_MEMBER, TOO_SLOW
from chatql.services.registry import Services
from chatql.shapes import PlanCache, argument_value, shareable, single_root_field
from chatql.store.base import ChangeEvent, MessageRecord, UserRecord, membership_id

log = logging.getLogger("chatql.fanout")

SLOW_CONSUMER_CLOSE = (4008, "Too slow: reconnect and resume with `after`")
GROUP_QUEUE = 10_000  # one buffer per group, not per member: room for bursts


@dataclass(frozen=True)
class Plan:
    """A validated, shareable onMessageCreated operation."""

    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any]
    room_id: str
    key: str


class Planner:
    """Decides, once per distinct (query, operation, variables), whether sharing applies."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, size: int = 1000) -> None:
        self._schema = schema
        self._limits = limits
        self._plans: PlanCache[Plan] = PlanCache(size)

    def plan(self, query: Any, operation_name: Any, variables: Any) -> Plan | None:
        return self._plans.get(query, operation_name, variables, self._make)

    def _make(
        self, query: str, operation_name: str | None, variables: dict[str, Any], key: str
    ) -> Plan | None:
        found = single_root_field(
            query, operation_name, OperationType.SUBSCRIPTION, self._limits.max_tokens or None
        )
        if found is None:
            return None
        document, node = found
        if node.name.value != "onMessageCreated" or node.selection_set is None:
            return None
        if not shareable(node.selection_set, "Message"):
            return None
        rules = (
            *specified_rules,
            MaxIntrospectionDepthRule,
            limits_rule(self._limits, variables, operation_name),
        )
        if validate(self._schema, document, rules):
            return None
        trial = Executor.build(
            self._schema, document, raw_variable_values=variables, operation_name=operation_name
        )
        if isinstance(trial, list):  # variables do not fit their types: the ordinary path says so
            return None
        arguments = {a.name.value: a.value for a in node.arguments or ()}
        if set(arguments) - {"chatRoomId", "after"}:
            return None
        if argument_value(arguments.get("after"), variables) is not None:
            return None  # resuming replays per subscriber: the ordinary path
        room_id = argument_value(arguments.get("chatRoomId"), variables)
        if not isinstance(room_id, str):
            return None
        return Plan(document, operation_name, variables, room_id, key)


Send = Callable[[str], Coroutine[Any, Any, None]]


@dataclass(eq=False)
class Member:
    """One subscriber in a group: who, which operation id, how to reach its socket."""

    viewer_id: str
    operation_id: str
    send: Send
    close: Callable[[int, str], Coroutine[Any, Any, None]]
    done: asyncio.Future[ChatError | None]
    prefix: str = ""
    backlog: deque[str] = field(default_factory=deque)
    draining: bool = False


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
        self._subscription: Subscription = fanout.services.hub.subscribe(
            room_channel(plan.room_id), maxsize=max(fanout.queue_size, GROUP_QUEUE)
        )
        self._task = asyncio.create_task(self._run(), name=f"fanout:{plan.room_id}")

    def add(self, member: Member) -> None:
        self.members.add(member)

    def remove(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members:
            self._fanout.drop(self)

    def stop(self) -> None:
        self._subscription.close()
        self._task.cancel()

    def _end(self, member: Member, error: ChatError | None) -> None:
        if not member.done.done():
            member.done.set_result(error)

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
                    await self._handle(change)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not strand the members silently
            log.exception("fan-out group failed; ending its subscriptions")
            for member in list(self.members):
                self._end(member, SubscriptionOverflow(TOO_SLOW, retryable=True))

    async def _handle(self, change: ChangeEvent) -> None:
        room_id = self.plan.room_id
        if change.collection == "memberships" and change.operation == "delete":
            for member in list(self.members):
                if change.key == membership_id(room_id, member.viewer_id):
                    self._end(member, Forbidden(NO_LONGER_MEMBER))
            return
        if not (
            change.collection == "messages"
            and change.operation == "insert"
            and change.document is not None
        ):
            return
        from chatql.types.message import Message  # types import Strawberry; keep it lazy

        record = MessageRecord.from_doc(change.document)
        allowed = await self._fanout.services.members.members(room_id)
        outcome = execute_subscription_event(
            self._executor.build_per_event_executor(Message.from_record(record))
        )
        result = await outcome if isinstance(outcome, Awaitable) else outcome
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [classify(e).formatted for e in result.errors]
        body = orjson.dumps(payload).decode()
        for member in list(self.members):
            if member.viewer_id not in allowed:
                self._end(member, Forbidden(NO_LONGER_MEMBER))
                continue
            self._deliver(member, f'{member.prefix}"payload":{body}}}')

    def _deliver(self, member: Member, frame: str) -> None:
        """Write now when the socket takes it; otherwise queue (bounded) behind a drain task."""
        if member.draining:
            if len(member.backlog) >= self._fanout.queue_size:
                self._slow(member)
            else:
                member.backlog.append(frame)
            return
        coroutine = member.send(frame)
        try:
            coroutine.send(None)
        except StopIteration:
            return  # written
        except Exception:
            self._end(member, None)  # the socket is gone
            return
        # The transport is paused and nothing was written yet: finish in a task.
        coroutine.close()
        member.draining = True
        member.backlog.append(frame)
        asyncio.get_running_loop().create_task(self._drain(member))

    async def _drain(self, member: Member) -> None:
        try:
            while member.backlog:
                await member.send(member.backlog.popleft())
        except Exception:
            self._end(member, None)
        finally:
            member.draining = False

    def _slow(self, member: Member) -> None:
        member.backlog.clear()
        self._end(member, None)
        task = asyncio.get_running_loop().create_task(member.close(*SLOW_CONSUMER_CLOSE))
        self._fanout.keep(task)


class Fanout:
    """The process's groups, keyed by plan."""

    def __init__(self, services: Services, schema: GraphQLSchema, limits: Limits) -> None:
        self.services = services
        self.schema = schema
        self.queue_size = services.settings.subscription_queue_size
        self.planner = Planner(schema, limits)
        self._groups: dict[str, Group] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def join(self, plan: Plan, member: Member, context: Any) -> Group:
        group = self._groups.get(plan.key)
        if group is None:
            group = self._groups[plan.key] = Group(self, plan, context)
        group.add(member)
        return group

    def drop(self, group: Group) -> None:
        if self._groups.get(group.plan.key) is group:
            del self._groups[group.plan.key]
        group.stop()

    def stop(self) -> None:
        for group in list(self._groups.values()):
            for member in list(group.members):
                if not member.done.done():
                    member.done.set_result(None)
            group.stop()
        self._groups.clear()


class SharedSubscriptionsHandler(TransportWSHandler[Any, None]):
    """graphql-transport-ws where shareable onMessageCreated operations join a group."""

    async def run_operation(self, operation: Any) -> None:
        fanout: Fanout | None = getattr(self.view, "fanout", None)
        context = self.context
        viewer: UserRecord | None = getattr(context, "user", None)
        plan = None
        if fanout is not None and viewer is not None:
            plan = fanout.planner.plan(
                operation.query, operation.operation_name, operation.variables
            )
        if plan is None or fanout is None or viewer is None:
            await super().run_operation(operation)
            return
        services = fanout.services
        try:
            room = await services.rooms.member_room(viewer, plan.room_id)
        except ChatError as exc:
            await self._fail(operation, exc)
            return
        websocket = self.websocket.ws  # type: ignore[attr-defined]
        member = Member(
            viewer_id=viewer.id,
            operation_id=operation.id,
            send=websocket.send_text,
            close=lambda code, reason: websocket.close(code=code, reason=reason),
            done=asyncio.get_running_loop().create_future(),
            prefix=f'{{"id":{orjson.dumps(operation.id).decode()},"type":"next",',
        )
        connection_id = getattr(context, "connection_id", None)
        if connection_id is not None:
            await services.store.add_room_watch(connection_id, room.id, viewer.id)
        group = fanout.join(plan, member, context)
        try:
            error = await member.done
        finally:
            group.remove(member)
            if connection_id is not None:
                with contextlib.suppress(Exception):
                    await services.store.remove_room_watch(connection_id, room.id)
        if error is not None:
            await self._fail(operation, error)
        else:
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _fail(self, operation: Any, error: ChatError) -> None:
        """As the ordinary path reports a resolver error: one `next` with it, then `complete`."""
        formatted = {"message": error.message, "extensions": error.as_extensions()}
        with contextlib.suppress(Exception):
            await operation.send_operation_message(
                {
                    "id": operation.id,
                    "type": "next",
                    "payload": {"data": None, "errors": [formatted]},
                }
            )
            await operation.send_operation_message({"id": operation.id, "type": "complete"})


__all__ = [
    "SLOW_CONSUMER_CLOSE",
    "Fanout",
    "Member",
    "Plan",
    "Planner",
    "SharedSubscriptionsHandler",
]
