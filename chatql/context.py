"""The typed GraphQL context: who is asking, the services, and per-request loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from chatql.errors import Forbidden, Unauthenticated
from chatql.services.registry import Services
from chatql.store.records import MessageRecord, ReactionGroup, RoomRecord, UploadRecord, UserRecord

if TYPE_CHECKING:
    from chatql.realtime.direct_sockets import DirectSocket
    from chatql.security.validation_memo import Lookup


class Loaders:
    """Batch the look-ups of one request into one store call each (no N+1).

    Over WebSockets one context lives as long as the connection, so caching is off there:
    batching still works within a tick, but nothing stale is kept.
    """

    def __init__(
        self, services: Services, viewer: Callable[[], Awaitable[UserRecord]], *, cache: bool
    ) -> None:
        store = services.store

        async def users(ids: Sequence[str]) -> list[UserRecord | None]:
            found = await services.users.get_many(list(ids))
            return [found.get(i) for i in ids]

        async def rooms(ids: Sequence[str]) -> list[RoomRecord | None]:
            found = await services.room_records.get_many(list(ids))
            return [found.get(i) for i in ids]

        async def messages(ids: Sequence[str]) -> list[MessageRecord | None]:
            found = await store.get_messages(list(ids))
            return [found.get(i) for i in ids]

        async def reply_counts(ids: Sequence[str]) -> list[int]:
            found = await store.count_replies(list(ids))
            return [found.get(i, 0) for i in ids]

        async def reactions(ids: Sequence[str]) -> list[list[ReactionGroup]]:
            found = await store.reaction_groups(list(ids), (await viewer()).id)
            return [found.get(i, []) for i in ids]

        async def read_states(ids: Sequence[str]) -> list[tuple[int, int] | None]:
            found = await store.read_states((await viewer()).id, list(ids))
            return [found.get(i) for i in ids]

        async def attachments(ids: Sequence[str]) -> list[list[UploadRecord]]:
            found = await services.files.attachments(list(ids))
            return [found.get(i, []) for i in ids]

        async def stream_ratings(ids: Sequence[str]) -> list[tuple[int, int]]:
            found = await services.streams.rating_summaries(list(ids))
            return [found.get(i, (0, 0)) for i in ids]

        async def follower_counts(ids: Sequence[str]) -> list[int]:
            found = await services.follows.follower_counts(list(ids))
            return [found.get(i, 0) for i in ids]

        async def followed_by_viewer(ids: Sequence[str]) -> list[bool]:
            found = await services.follows.followed_by(await viewer(), list(ids))
            return [i in found for i in ids]

        async def my_ratings(ids: Sequence[str]) -> list[int | None]:
            found = await services.streams.my_ratings(await viewer(), list(ids))
            return [found.get(i) for i in ids]

        self.users: DataLoader[str, UserRecord | None] = DataLoader(users, cache=cache)
        self.rooms: DataLoader[str, RoomRecord | None] = DataLoader(rooms, cache=cache)
        self.messages: DataLoader[str, MessageRecord | None] = DataLoader(messages, cache=cache)
        self.reply_counts: DataLoader[str, int] = DataLoader(reply_counts, cache=cache)
        self.reactions: DataLoader[str, list[ReactionGroup]] = DataLoader(reactions, cache=cache)
        self.attachments: DataLoader[str, list[UploadRecord]] = DataLoader(attachments, cache=cache)
        self.read_states: DataLoader[str, tuple[int, int] | None] = DataLoader(
            read_states, cache=cache
        )
        self.stream_ratings: DataLoader[str, tuple[int, int]] = DataLoader(
            stream_ratings, cache=cache
        )
        self.my_ratings: DataLoader[str, int | None] = DataLoader(my_ratings, cache=cache)
        self.follower_counts: DataLoader[str, int] = DataLoader(follower_counts, cache=cache)
        self.followed_by_viewer: DataLoader[str, bool] = DataLoader(followed_by_viewer, cache=cache)


@dataclass(slots=True)
class ChatContext:
    """One per HTTP request, or one per WebSocket (or SSE stream) for as long as it is open.

    `long_lived` marks a context that may run subscriptions and lives as long as its connection
    without an ASGI WebSocket scope: an SSE stream's (chatql.protocols.sse), a `DirectSocket`'s.
    `connection_params` is connection_init's payload while `on_ws_connect` reads it; the
    WebSocket handlers then drop it (it holds the bearer token), so resolvers see None.
    """

    services: Services
    request: Request | WebSocket | DirectSocket
    response: Any
    access_token: str | None = None
    api_key: str | None = None
    connection_params: dict[str, Any] | None = None
    user: UserRecord | None = None
    connection_id: str | None = None
    session_handle: int | None = None
    long_lived: bool = False
    # an HTTP request's validated document once found, for its later lookups (never kept
    # by a connection's context: it would hold an operation's variables as long as it lives)
    document: Lookup | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)
    _checked: bool = field(default=False, repr=False)

    def found_document(self, lookup: Lookup) -> None:
        if not self.live:
            self.document = lookup

    @property
    def live(self) -> bool:
        """True on a connection that outlives one answer (a WebSocket, an SSE stream): the
        only places subscriptions run."""
        return self.long_lived or isinstance(self.request, WebSocket)

    @property
    def loaders(self) -> Loaders:
        """Made on first use: most sockets never resolve a relation of their own."""
        if self._loaders is None:
            self._loaders = Loaders(self.services, self.viewer, cache=not self.live)
        return self._loaders

    @property
    def client(self) -> str:
        """The peer address, for per-client rate limits."""
        peer = self.request.client
        return peer.host if peer else ""

    async def writer(self) -> UserRecord:
        """The authenticated user, who must not be a guest: every write goes through here."""
        user = await self.viewer()
        if user.is_guest:
            raise Forbidden("Guests can only read; sign up to take part", reason="GUEST")
        return user

    async def viewer(self) -> UserRecord:
        """The authenticated user, or UNAUTHENTICATED."""
        if self.user is not None:
            return self.user
        if self._checked or (self.access_token is None and self.api_key is None):
            raise Unauthenticated("Sign in first: send Authorization: Bearer <accessToken>")
        self._checked = True
        self.user = await authenticate(self.services, self.access_token, self.api_key)
        return self.user


async def authenticate(
    services: Services, access_token: str | None, api_key: str | None
) -> UserRecord:
    """The user an access token (which wins when both are given) or an API key speaks for."""
    if access_token is not None:
        return await services.accounts.authenticate(access_token)
    if api_key is not None:
        return await services.api_keys.authenticate(api_key)
    raise Unauthenticated("Sign in first: send Authorization: Bearer <accessToken>")
