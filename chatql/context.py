"""The typed GraphQL context: who is asking, the services, and per-request loaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from chatql.errors import Unauthenticated
from chatql.services.registry import Services
from chatql.store.base import RoomRecord, UserRecord


class Loaders:
    """Batch the author/room look-ups of one request into one store call each.

    Over WebSockets one context lives as long as the connection, so caching is off there:
    batching still works within a tick, but nothing stale is kept.
    """

    def __init__(self, services: Services, *, cache: bool) -> None:
        store = services.store

        async def load_users(ids: Sequence[str]) -> list[UserRecord | None]:
            found = await store.get_users(list(ids))
            return [found.get(i) for i in ids]

        async def load_rooms(ids: Sequence[str]) -> list[RoomRecord | None]:
            found = await store.get_rooms(list(ids))
            return [found.get(i) for i in ids]

        self.users: DataLoader[str, UserRecord | None] = DataLoader(load_users, cache=cache)
        self.rooms: DataLoader[str, RoomRecord | None] = DataLoader(load_rooms, cache=cache)


@dataclass
class ChatContext:
    services: Services
    request: Request | WebSocket
    response: Any
    loaders: Loaders
    access_token: str | None = None
    connection_params: dict[str, Any] | None = None
    user: UserRecord | None = None
    _checked: bool = field(default=False, repr=False)

    async def viewer(self) -> UserRecord:
        """The authenticated user, or UNAUTHENTICATED."""
        if self.user is not None:
            return self.user
        if self._checked or self.access_token is None:
            raise Unauthenticated("Sign in first: send Authorization: Bearer <accessToken>")
        self._checked = True
        self.user = await self.services.accounts.authenticate(self.access_token)
        return self.user
