"""WebSocket connection limits: authenticated sockets per user, and coded limit refusals.

The per-user count lives in this process only: with several processes behind a load balancer a
user may hold `CHATQL_MAX_CONNECTIONS_PER_USER` sockets on each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import MutableMapping
from typing import Any, cast

from strawberry.http.typevars import Context, RootValue
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage

TOO_MANY_CONNECTIONS = (4429, "Too many connections")
INIT_TIMEOUT = (4408, "Connection initialisation timeout")
_SCOPE_KEY = "chatql.counted_user"


class TooManyConnections(Exception):
    """Raised by on_ws_connect; the protocol handlers turn it into close code 4429."""


class ConnectionLimiter:
    """Counts each user's authenticated sockets here, so one account cannot hoard sockets."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def admit(self, scope: MutableMapping[str, Any], user_id: str) -> None:
        """Count this socket for the user, or raise TooManyConnections; 0 = no limit."""
        if not self.limit:
            return
        self.release(scope)  # a second connection_init on the same socket replaces the first
        if self._open[user_id] >= self.limit:
            raise TooManyConnections
        self._open[user_id] += 1
        scope[_SCOPE_KEY] = user_id

    def release(self, scope: MutableMapping[str, Any]) -> None:
        """Forget the socket once it has ended (safe to call for any scope, any number of times)."""
        user_id = scope.pop(_SCOPE_KEY, None)
        if user_id is not None:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]

    def count(self, user_id: str) -> int:
        return self._open[user_id]


def subscription_limit_error(limit: int) -> dict[str, Any]:
    """Strawberry's "Subscription limit reached", with the extensions.code every error carries."""
    return {
        "message": "Subscription limit reached",
        "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": limit, "measured": limit + 1},
    }


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, RootValue]):
    """graphql-transport-ws with ChatQL's refusals: 4429 over the per-user limit, coded errors."""

    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        except TooManyConnections:
            await self.websocket.close(*TOO_MANY_CONNECTIONS)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(
            payload.get("variables"), (dict, type(None))
        ):
            await self.websocket.close(4400, "Subscribe payload variables must be an object")
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
    """graphql-ws (legacy) with the limits graphql-transport-ws has: init timeout 4408, 4429."""

    _init_seen = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self._init_seen:
            with contextlib.suppress(Exception):  # the client may be gone already
                await self.websocket.close(*INIT_TIMEOUT)

    async def handle_message(self, message: OperationMessage) -> None:
        self._init_seen = self._init_seen or message.get("type") == "connection_init"
        try:
            await super().handle_message(message)
        except TooManyConnections:
            code, reason = TOO_MANY_CONNECTIONS
            await self.send_message(
                cast(OperationMessage, {"type": "connection_error", "payload": {"message": reason}})
            )
            await self.websocket.close(code, reason)

    async def handle_start(self, message: StartMessage) -> None:
        payload = message.get("payload")
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
