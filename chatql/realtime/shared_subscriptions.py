"""graphql-transport-ws with shared subscriptions: shareable `onMessageCreated` operations
join a fan-out group (see `fanout`) instead of running one execution each."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message as WSMessage,
)

from chatql.background import BackgroundTasks
from chatql.errors import ChatError
from chatql.realtime.fanout import Fanout, Member
from chatql.security.connections import TransportWSHandler
from chatql.store.records import UserRecord


class SharedSubscriptionsHandler(TransportWSHandler[Any, None]):
    """graphql-transport-ws where shareable onMessageCreated operations join a group.

    Joining runs in Strawberry's operation task, which then ends: the member waits in its group
    with nothing of its own running. When the group ends it (FORBIDDEN, overflow, a dead
    socket, shutdown), or the client completes it, or the socket closes, a short task removes
    the room watch and, unless the client asked, sends the error and `complete`.
    """

    _goodbyes: BackgroundTasks | None = None  # per socket, made when first needed

    async def run_operation(self, operation: Any) -> None:
        fanout: Fanout | None = getattr(self.view, "fanout", None)
        context = self.context
        viewer: UserRecord | None = getattr(context, "user", None)
        plan = None
        # Guests read public rooms without being members: the per-subscription path checks
        # that (the shared groups authorise by membership).
        if fanout is not None and viewer is not None and not viewer.is_guest:
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
        watch = None
        connection_id = getattr(context, "connection_id", None)
        if connection_id is not None:
            try:
                await services.store.add_room_watch(connection_id, room.id, viewer.id)
            except asyncio.CancelledError:  # completed by the client meanwhile
                with contextlib.suppress(Exception):
                    await services.store.remove_room_watch(connection_id, room.id)
                raise
            watch = room.id
        # Strawberry's adapter holds the Starlette WebSocket; a `DirectSocket` is its own.
        websocket = getattr(self.websocket, "ws", self.websocket)
        member = Member(self, websocket, viewer.id, operation.id, watch)
        operations: dict[str, Any] = self.operations
        operations[operation.id] = member  # the member stands for the operation from now on
        fanout.join(plan, member, context)

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self.operations.get(operation_id)
        if isinstance(member, Member):  # `complete` from the client, or the socket closed
            del self.operations[operation_id]
            member.end(None, notify=False)
            return
        await super().cleanup_operation(operation_id)

    async def shutdown(self) -> None:
        await super().shutdown()
        if self._goodbyes is not None:  # let the room watches go before the connection does
            await self._goodbyes.wait()

    def member_ended(self, member: Member, error: ChatError | None, *, notify: bool) -> None:
        """Called once per member, when it has left its group."""
        if self._goodbyes is None:
            self._goodbyes = BackgroundTasks()
        self._goodbyes.spawn(self._goodbye(member, error, notify))

    async def _goodbye(self, member: Member, error: ChatError | None, notify: bool) -> None:
        connection_id = getattr(self.context, "connection_id", None)
        if member.watch is not None and connection_id is not None:
            with contextlib.suppress(Exception):  # the store may be closing at shutdown
                store = cast(Any, self.view).services.store
                await store.remove_room_watch(connection_id, member.watch)
        if not notify:
            return
        operation_id = member.operation_id
        operations: dict[str, Any] = self.operations
        with contextlib.suppress(Exception):  # the socket may be gone
            if error is not None:
                if operations.get(operation_id) is not member:
                    return  # the client completed it meanwhile
                await self.send_message(_error_message(operation_id, error))
            if operations.get(operation_id) is member:
                del operations[operation_id]
                await self.send_message(cast(WSMessage, {"id": operation_id, "type": "complete"}))

    async def _fail(self, operation: Any, error: ChatError) -> None:
        """As the ordinary path reports a resolver error: one `next` with it, then `complete`."""
        with contextlib.suppress(Exception):
            await operation.send_operation_message(_error_message(operation.id, error))
            await operation.send_operation_message({"id": operation.id, "type": "complete"})


def _error_message(operation_id: str, error: ChatError) -> WSMessage:
    formatted = {"message": error.message, "extensions": error.as_extensions()}
    payload = {"data": None, "errors": [formatted]}
    return cast(WSMessage, {"id": operation_id, "type": "next", "payload": payload})
