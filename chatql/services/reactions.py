"""Reactions: one per (user, message, emoji), on messages the user can read."""

from __future__ import annotations

from chatql.errors import BadUserInput, NotFound
from chatql.services import validation
from chatql.services.emoji import is_emoji
from chatql.services.messages import Messages
from chatql.store.base import Store
from chatql.store.records import MessageRecord, ReactionRecord, UserRecord, now_utc


def clean_emoji(value: str) -> str:
    emoji = value.strip()
    if not is_emoji(emoji):
        raise BadUserInput(
            "emoji must be a single emoji or a :shortcode: of at most 32 characters",
            field="emoji",
        )
    return emoji


class Reactions:
    def __init__(self, store: Store, messages: Messages) -> None:
        self._store = store
        self._messages = messages

    async def _readable(self, viewer: UserRecord, message_id: str) -> MessageRecord:
        message = await self._messages.get_message(
            viewer, validation.entity_id(message_id, "messageId")
        )
        if message is None:
            raise NotFound("Message not found")
        return message

    async def add(self, viewer: UserRecord, message_id: str, emoji: str) -> ReactionRecord:
        clean = clean_emoji(emoji)
        message = await self._readable(viewer, message_id)
        if message.deleted_at is not None:
            raise BadUserInput("The message was deleted", field="messageId")
        reaction = ReactionRecord(message.room_id, message.id, viewer.id, clean, now_utc())
        await self._store.add_reaction(reaction)  # a repeat changes nothing
        return reaction

    async def remove(self, viewer: UserRecord, message_id: str, emoji: str) -> bool:
        clean = clean_emoji(emoji)
        message = await self._readable(viewer, message_id)
        return await self._store.remove_reaction(message.room_id, message.id, viewer.id, clean)
