"""WebSocket connection limits: authenticated sockets per user, and coded limit refusals.

The per-user count lives in this process only: with several processes behind a load balancer a
user may hold `CHATQL_MAX_CONNECTIONS_PER_USER` sockets on each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any, cast

from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.http.typevars import Context, RootValue
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage

from chatql.background import BackgroundTasks
from chatql.observability.live_stats import delivering_commit
from chatql.persisted_documents import DocumentRefused, DocumentResolver
from chatql.realtime.timer_wheel import WheelTimer, timer_wheel

TOO_MANY_CONNECTIONS = (4429, "Too many connections")
NOT_TEXT = "WebSocket message type must be text"  # close 4400 reasons, as Strawberry's
NOT_JSON = "WebSocket message must be valid JSON"
INIT_TIMEOUT = (4408, "Connection initialisation timeout")
_background = BackgroundTasks()  # timer-started work in flight


class TooManyConnections(Exception):
    """Raised by on_ws_connect; the protocol handlers turn it into close code 4429."""


class ConnectionLimiter:
    """Counts each user's authenticated sockets here, so one account cannot hoard sockets.

    A counted socket is remembered by the identity of its key (an ASGI socket's scope, or a
    `DirectSocket`), not by an entry added to the scope: a scope is a big dict already, and one
    more key can double its table (for every socket). `release` must be called once the socket
    has ended, while the key is still alive.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self._counted: dict[int, str] = {}  # id(scope) -> user id

    def admit(self, key: object, user_id: str) -> None:
        """Count this socket for the user, or raise TooManyConnections; 0 = no limit."""
        if not self.limit:
            return
        self.release(key)  # a second connection_init on the same socket replaces the first
        if self._open[user_id] >= self.limit:
            raise TooManyConnections
        self._open[user_id] += 1
        self._counted[id(key)] = user_id

    def release(self, key: object) -> None:
        """Forget the socket once it has ended (safe to call for any key, any number of times)."""
        user_id = self._counted.pop(id(key), None)
        if user_id is not None:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]

    def count(self, user_id: str) -> int:
        return self._open[user_id]


def is_protocol_message(message: object) -> bool:
    """What both subprotocols take as a message: a JSON object with a string `type`."""
    return isinstance(message, dict) and isinstance(message.get("type"), str)


def subscription_limit_error(limit: int) -> dict[str, Any]:
    """Strawberry's "Subscription limit reached", with the extensions.code every error carries."""
    return {
        "message": "Subscription limit reached",
        "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": limit, "measured": limit + 1},
    }


def resolve_document(view: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Put the text of a document named by hash into a subscribe/start payload, as HTTP does
    (see `chatql.persisted_documents`); the refusal's GraphQL error if it cannot run."""
    documents: DocumentResolver | None = getattr(view, "documents", None)
    if documents is None:
        return None
    try:
        payload["query"] = documents.resolve(
            payload.get("query"), payload.get("extensions"), payload.get("documentId")
        )
    except DocumentRefused as refused:
        return refused.as_error()
    return None


def forget_connection_params(context: Any) -> None:
    """connection_init's payload (the bearer token) is read once, by on_ws_connect; a context
    that lives as long as its socket need not keep it."""
    if getattr(context, "connection_params", None) is not None:
        context.connection_params = None


def count_delivery(view: Any) -> None:
    """After a frame is written: when the task just took a live event from its subscriber
    queue, that frame is a delivery (see `chatql.observability.live_stats`)."""
    committed_at = delivering_commit.get()
    if committed_at is not None:
        delivering_commit.set(None)
        view.services.hub.stats.delivered(committed_at or None, shared=False)


def forget_message(message: Any) -> None:
    """Empty a handled frame in place: the receive loop's locals (Strawberry's and the JSON
    adapter's) keep the last frame until the next arrives, which for an idle subscriber is its
    `subscribe` (query, variables, payload). What handlers kept of it they took out already."""
    if isinstance(message, dict):
        message.clear()


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, RootValue]):
    """graphql-transport-ws with ChatQL's refusals: 4429 over the per-user limit, coded errors.

    The connection_init timeout is a timer on the process's wheel (`chatql.realtime.transport`), not
    Strawberry's task per socket (which, once cancelled, lingered with its traceback).
    """

    _init_timer: WheelTimer | None = None

    async def handle(self) -> None:
        """Strawberry's receive loop, except that a message is let go once handled: an idle
        subscriber would otherwise keep its `subscribe` frame (document, variables) for life."""
        self.on_request_accepted()
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(cast("Message", message))
                    del message
            except NonTextMessageReceived:
                await self.handle_invalid_message(NOT_TEXT)
            except NonJsonMessageReceived:
                await self.handle_invalid_message(NOT_JSON)
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    def on_request_accepted(self) -> None:
        delay = self.connection_init_wait_timeout.total_seconds()
        self._init_timer = timer_wheel().call_later(delay, self._init_timed_out)

    def _init_timed_out(self) -> None:
        self._init_timer = None
        if self.connection_init_received or self.connection_timed_out:
            return
        self.connection_timed_out = True
        # As Strawberry's timeout task: shutdown waits for it, handle_connection_init cancels it.
        self.connection_init_timeout_task = _background.spawn(self._close_timed_out())

    async def _close_timed_out(self) -> None:
        try:
            await self.websocket.close(*INIT_TIMEOUT)
        except Exception as error:
            await self.handle_task_exception(error)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        await super().handle_connection_init(message)
        forget_connection_params(self.context)

    async def shutdown(self) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        await super().shutdown()

    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        except TooManyConnections:
            await self.websocket.close(*TOO_MANY_CONNECTIONS)
        finally:
            forget_message(message)

    async def send_message(self, message: Message) -> None:
        await self.websocket.send_json(message)
        count_delivery(self.view)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(
            payload.get("variables"), (dict, type(None))
        ):
            await self.websocket.close(4400, "Subscribe payload variables must be an object")
            return
        if self.connection_acknowledged:  # else Strawberry closes the socket with 4401
            error = resolve_document(self.view, payload)
            if error is None and not isinstance(payload.get("query"), str):
                error = {
                    "message": "A subscribe payload needs a `query` string or a persisted hash",
                    "extensions": {"code": "BAD_REQUEST"},
                }
            if error is not None:  # this operation fails; the socket stays open
                refusal = {"id": message["id"], "type": "error", "payload": [error]}
                await self.send_message(cast(Message, refusal))
                return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = {
                "id": message["id"],
                "type": "error",
                "payload": [subscription_limit_error(limit)],
            }
            await self.send_message(cast(Message, error))
            return
        await super().handle_subscribe(message)


class LegacyWSLimits(BaseGraphQLWSHandler[Context, RootValue]):
    """graphql-ws (legacy) with the limits graphql-transport-ws has: init timeout 4408, 4429.

    The init timeout and the keep-alive (`ka` every interval) are timers on the process's
    wheel (`chatql.realtime.transport`), not a task per socket each.
    """

    _init_seen = False
    _init_timer: WheelTimer | None = None
    _init_close: asyncio.Task[None] | None = None
    _ka_timer: WheelTimer | None = None
    _ended = False

    async def handle(self) -> None:
        delay = self.view.connection_init_wait_timeout.total_seconds()
        self._init_timer = timer_wheel().call_later(delay, self._init_timed_out)
        try:
            await super().handle()
        finally:
            self._ended = True  # a keep-alive in flight sets no new timer
            for timer in (self._init_timer, self._ka_timer):
                if timer is not None:
                    timer.cancel()
            self._init_timer = self._ka_timer = None
            if self._init_close is not None:
                self._init_close.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._init_close

    def _init_timed_out(self) -> None:
        self._init_timer = None
        if not self._init_seen:
            self._init_close = asyncio.get_running_loop().create_task(self._close_uninitialised())

    async def _close_uninitialised(self) -> None:
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.websocket.close(*INIT_TIMEOUT)

    async def handle_keep_alive(self) -> None:
        """Strawberry's keep-alive loop (send `ka`, sleep) is a task per socket: this sends the
        first `ka` in that task, which then ends, and leaves the next ones to a timer."""
        self.keep_alive_task = None  # a finished task: nothing to cancel at the end
        await self._send_keep_alive()

    async def _send_keep_alive(self) -> None:
        if self._ended:
            return
        try:
            await self.send_message(cast(OperationMessage, {"type": "ka"}))
        except Exception:  # the socket is gone: as Strawberry's loop, stop
            return
        if self._ended:
            return
        interval = self.keep_alive_interval or 1
        self._ka_timer = timer_wheel().call_later(interval, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self._ka_timer = None
        _background.spawn(self._send_keep_alive())

    async def handle_message(self, message: OperationMessage) -> None:
        initialising = message.get("type") == "connection_init"
        self._init_seen = self._init_seen or initialising
        if initialising and self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        try:
            await super().handle_message(message)
        except TooManyConnections:
            code, reason = TOO_MANY_CONNECTIONS
            await self.send_message(
                cast(OperationMessage, {"type": "connection_error", "payload": {"message": reason}})
            )
            await self.websocket.close(code, reason)
        finally:
            if initialising:
                forget_connection_params(self.context)
            forget_message(message)

    async def send_message(self, message: OperationMessage) -> None:
        await self.websocket.send_json(message)
        count_delivery(self.view)

    async def handle_start(self, message: StartMessage) -> None:
        payload = message.get("payload")
        refused = None
        if isinstance(payload, dict) and self.connection_acknowledged:
            refused = resolve_document(self.view, cast(dict[str, Any], payload))
        if refused is not None:
            error = {"type": "error", "id": message.get("id"), "payload": refused}
            await self.send_message(cast(OperationMessage, error))
            return
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables"), (dict, type(None)))
        ):
            error = {
                "type": "error",
                "id": message.get("id"),
                "payload": {
                    "message": "A start payload needs a `query` string and object `variables`",
                    "extensions": {"code": "BAD_REQUEST"},
                },
            }
            await self.send_message(cast(OperationMessage, error))
            return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.tasks
            and len(self.tasks) >= limit
        ):
            error = {
                "type": "error",
                "id": message["id"],
                "payload": subscription_limit_error(limit),
            }
            await self.send_message(cast(OperationMessage, error))
            return
        await super().handle_start(message)
