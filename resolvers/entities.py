"""`_entities`, the Federation gateway's way in (CHATQL_FEDERATION): references to users, rooms
and messages come back as entities, each shown exactly as the query that shows it alone would:
`getUser` (anyone signed in), `getChatRoom` (public, or private to its members) and `getMessage`
(members of its room; guests, public rooms' history). What the viewer may not see is reported
exactly as what does not exist, so a reference cannot probe for private rooms.

One call resolves every reference with one batched load per type (the request's DataLoaders),
and checks each room's rules once, however many references point into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatql.errors import BadUserInput, ChatError, NotFound
from chatql.services import validation
from chatql.store.records import UserRecord
from chatql.types.message import Message
from chatql.types.room import ChatRoom
from chatql.types.user import User
from resolvers import Info

ENTITY_TYPES = ("ChatRoom", "Message", "User")
NOT_FOUND = {
    "User": "User not found",
    "ChatRoom": "Chat room not found",
    "Message": "Message not found",
}

type Entity = User | ChatRoom | Message


@dataclass(frozen=True, slots=True)
class Reference:
    """One representation the gateway sent: `{"__typename": ..., "id": ...}`."""

    typename: str
    id: str


def reference(representation: object, index: int) -> Reference:
    """The representation checked; anything else is the gateway's (or a stranger's) mistake."""
    where = f"representations[{index}]"
    if not isinstance(representation, dict):
        raise BadUserInput(f"{where} must be an object with __typename and id", index=index)
    typename = representation.get("__typename")
    if typename not in ENTITY_TYPES:
        raise BadUserInput(
            f"{where}.__typename must be one of {', '.join(ENTITY_TYPES)}", index=index
        )
    raw_id = representation.get("id")
    if not isinstance(raw_id, str):
        raise BadUserInput(f"{where}.id must be a string (the entity's key)", index=index)
    try:
        return Reference(typename, validation.entity_id(raw_id, "id"))
    except BadUserInput:
        raise BadUserInput(f"{where}.id is not a valid id", index=index) from None


async def resolve_entities(
    info: Info, representations: Sequence[object]
) -> list[Entity | ChatError]:
    """The entities in the order asked; an error in the place of each one not shown."""
    context = info.context
    viewer = await context.viewer()
    limit = context.services.settings.max_representations
    if limit and len(representations) > limit:
        raise BadUserInput(
            f"At most {limit} representations per _entities call",
            limit=limit,
            measured=len(representations),
        )
    references: list[Reference | ChatError] = []
    for index, representation in enumerate(representations):
        try:
            references.append(reference(representation, index))
        except BadUserInput as exc:
            references.append(exc)
    found = await _visible(info, viewer, [r for r in references if isinstance(r, Reference)])
    return [
        r if isinstance(r, ChatError) else found.get(r) or NotFound(NOT_FOUND[r.typename])
        for r in references
    ]


async def _visible(
    info: Info, viewer: UserRecord, references: list[Reference]
) -> dict[Reference, Entity]:
    loaders = info.context.loaders
    rooms = info.context.services.rooms

    def ids(typename: str) -> list[str]:
        return list(dict.fromkeys(r.id for r in references if r.typename == typename))

    found: dict[Reference, Entity] = {}
    user_ids, room_ids, message_ids = ids("User"), ids("ChatRoom"), ids("Message")
    for user in await loaders.users.load_many(user_ids):
        if user is not None:
            found[Reference("User", user.id)] = User.from_record(user)
    for room in await loaders.rooms.load_many(room_ids):
        if room is not None and await rooms.may_see(viewer, room):
            found[Reference("ChatRoom", room.id)] = ChatRoom.from_record(room)
    messages = [m for m in await loaders.messages.load_many(message_ids) if m is not None]
    readable = {
        room_id: await rooms.can_read(viewer, room_id)
        for room_id in dict.fromkeys(m.room_id for m in messages)
    }
    for message in messages:
        if readable[message.room_id]:
            found[Reference("Message", message.id)] = Message.from_record(message)
    return found
