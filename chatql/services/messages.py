"""Sending, editing, deleting and reading messages, and threads.

The store assigns each message its room's next `seq`; history pages are positioned by seq, so a
page boundary never moves while new messages arrive (no skips, no repeats). A deleted message
stays in history as a tombstone (no content, `deleted_at` set) so cursors and threads stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chatql.errors import BadUserInput, Forbidden, NotFound, StoreConflict
from chatql.security.rate_limit import RateLimiter
from chatql.services import pagination, permissions, validation
from chatql.services.files import Files
from chatql.services.images import RASTER_IMAGES
from chatql.services.notifications import Notifications
from chatql.services.pagination import Page
from chatql.services.rooms import Rooms
from chatql.store.base import SortDirection, Store
from chatql.store.records import MessageRecord, UserRecord, now_utc


class Messages:
    def __init__(
        self,
        store: Store,
        rooms: Rooms,
        notifications: Notifications,
        send_limit: RateLimiter,
        files: Files,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._notifications = notifications
        self._send_limit = send_limit
        self._files = files

    async def send(
        self,
        viewer: UserRecord,
        room_id: str,
        content: str,
        message_type: str = "TEXT",
        client_id: str | None = None,
        reply_to_id: str | None = None,
        attachment_ids: Sequence[str] | None = None,
    ) -> MessageRecord:
        files = await self._files.attachable(viewer, attachment_ids)
        if files:  # the files say it all: the text may be empty
            clean = (
                validation.text(content, "content", validation.MAX_CONTENT, required=False) or ""
            )
        else:
            clean = validation.required_text(content, "content", validation.MAX_CONTENT)
        kind = validation.message_type(message_type)
        if files and kind == "TEXT":
            images = all(u.mime_type in RASTER_IMAGES for u in files)
            kind = "IMAGE" if images else "FILE"
        idempotency_key = validation.client_id(client_id)
        parent_id = (
            validation.entity_id(reply_to_id, "replyToId") if reply_to_id is not None else None
        )
        room, membership = await self._rooms.membership(viewer, room_id)
        muted_until = membership.muted_until
        if muted_until is not None and muted_until > now_utc():
            raise Forbidden("You are muted in this room", until=muted_until.isoformat())
        if parent_id is not None:
            parent = await self._store.get_message(parent_id)
            if parent is None or parent.room_id != room.id:
                raise BadUserInput("replyToId is not a message of this room", field="replyToId")
        self._send_limit.hit(viewer.id, "messages")
        try:
            message, _created = await self._store.insert_message(
                room_id=room.id,
                author_id=viewer.id,
                content=clean,
                message_type=kind,
                client_id=idempotency_key,
                reply_to_id=parent_id,
                notify=await self._notifications.rule_for(clean),
                attachment_ids=[u.id for u in files],
            )
        except StoreConflict as exc:
            if exc.constraint == "room":
                raise NotFound("Chat room not found") from None
            if exc.constraint == "attachments":
                raise BadUserInput("An attachment is used already", field="attachmentIds") from None
            raise
        return message

    async def start_bot_reply(
        self,
        bot: UserRecord,
        room_id: str,
        content: str = "",
        reply_to_id: str | None = None,
        *,
        streaming: bool = True,
    ) -> MessageRecord:
        """A message by the assistant's bot user, streaming by default: the server writes it,
        so no rate limit or input rules, but only where the bot is a member and not muted."""
        room, membership = await self._rooms.membership(bot, room_id)
        if membership.muted_until is not None and membership.muted_until > now_utc():
            raise Forbidden("The assistant is muted in this room")
        message, _created = await self._store.insert_message(
            room_id=room.id,
            author_id=bot.id,
            content=content[: validation.MAX_CONTENT],
            message_type="TEXT",
            client_id=None,
            reply_to_id=reply_to_id,
            notify=await self._notifications.rule_for(content),
            is_streaming=streaming,
        )
        return message

    async def stream_bot_reply(
        self, message_id: str, content: str, *, done: bool = False
    ) -> MessageRecord | None:
        """Grow a streaming reply, or end it (`done`); an ordinary update that subscribers see
        as any other, never marked edited. None once the reply ended (stopped or deleted)."""
        changes: dict[str, object] = {
            "content": content[: validation.MAX_CONTENT],
            "updated_at": now_utc(),
        }
        if done:
            changes["is_streaming"] = False
        return await self._store.update_message(message_id, changes, if_streaming=True)

    async def _live_message(
        self, viewer: UserRecord, message_id: str, *, moderating: bool = False
    ) -> MessageRecord:
        """A message the viewer may act on: readable by them, or any one for a moderator."""
        if moderating and permissions.is_global_moderator(viewer):
            message = await self._store.get_message(validation.entity_id(message_id, "id"))
        else:
            message = await self.get_message(viewer, message_id)
        if message is None:
            raise NotFound("Message not found")
        if message.deleted_at is not None:
            raise BadUserInput("The message was deleted", field="id")
        return message

    async def edit(self, viewer: UserRecord, message_id: str, content: str) -> MessageRecord:
        clean = validation.required_text(content, "content", validation.MAX_CONTENT)
        message = await self._live_message(viewer, message_id)
        if message.author_id != viewer.id:
            raise Forbidden("Only the author can edit a message")
        now = now_utc()
        updated = await self._store.update_message(
            message.id, {"content": clean, "edited_at": now, "updated_at": now}
        )
        if updated is None:  # pragma: no cover - deleted rooms take their messages along
            raise NotFound("Message not found")
        return updated

    async def delete(self, viewer: UserRecord, message_id: str) -> MessageRecord:
        message = await self._live_message(viewer, message_id, moderating=True)
        if message.author_id != viewer.id:
            role = await self._rooms.role_of(message.room_id, viewer.id)
            allowed = role in ("OWNER", "ADMIN") or permissions.is_global_moderator(viewer)
            if not allowed:
                raise Forbidden("Only the author, a room admin or a moderator can delete it")
        now = now_utc()
        updated = await self._store.update_message(
            message.id,
            {
                "content": "",
                "deleted_at": now,
                "deleted_by": viewer.id,
                "updated_at": now,
                "is_streaming": False,  # a reply being written stops there
            },
        )
        if updated is None:  # pragma: no cover
            raise NotFound("Message not found")
        if message.attachment_count:
            await self._files.message_deleted(message.id)
        return updated

    async def remove_all_by(self, author_id: str) -> int:
        """Tombstone every message of an author (a deleted account), with their files;
        each one is an ordinary delete, so live subscribers see them go."""
        removed = 0
        after: str | None = None
        while True:
            batch = await self._store.messages_by_author(author_id, 200, after)
            for message in batch:
                now = now_utc()
                await self._store.update_message(
                    message.id,
                    {"content": "", "deleted_at": now, "deleted_by": author_id, "updated_at": now},
                )
                if message.attachment_count:
                    await self._files.message_deleted(message.id)
                removed += 1
            if len(batch) < 200:
                return removed
            after = batch[-1].id

    async def history(
        self,
        viewer: UserRecord,
        room_id: str,
        *,
        limit: int | None,
        next_token: str | None,
        before: datetime | None = None,
        direction: SortDirection = "DESC",
    ) -> Page[MessageRecord]:
        size = validation.page_limit(limit, 50)
        room = await self._rooms.readable_room(viewer, room_id)
        return await self.page(room.id, size, next_token, before, direction)

    async def page(
        self,
        room_id: str,
        size: int,
        next_token: str | None,
        before: datetime | None,
        direction: SortDirection,
    ) -> Page[MessageRecord]:
        """A page of a room the caller is already allowed to read."""
        after_seq = before_seq = None
        if next_token is not None:
            parts = pagination.decode("h", next_token)
            if (
                len(parts) != 3
                or parts[0] != room_id
                or parts[1] != direction
                or not pagination.is_seq(parts[2])
            ):
                raise BadUserInput(
                    "nextToken does not belong to this room and sort direction",
                    field="nextToken",
                )
            if direction == "DESC":
                before_seq = parts[2]
            else:
                after_seq = parts[2]
        if before is not None and before.tzinfo is None:
            raise BadUserInput("before must include a time zone", field="before")
        items = await self._store.list_messages(
            room_id,
            limit=size + 1,
            direction=direction,
            after_seq=after_seq,
            before_seq=before_seq,
            before_time=before,
        )
        token = None
        if len(items) > size:
            items = items[:size]
            token = pagination.encode("h", room_id, direction, items[-1].seq)
        return Page(items, token)

    async def replies(
        self, parent: MessageRecord, limit: int | None, next_token: str | None
    ) -> Page[MessageRecord]:
        """Replies of a message the caller may already read, oldest first."""
        size = validation.page_limit(limit, 20)
        after = None
        if next_token is not None:
            parts = pagination.decode("t", next_token)
            if len(parts) != 2 or parts[0] != parent.id or not pagination.is_seq(parts[1]):
                raise BadUserInput("nextToken does not belong to this thread", field="nextToken")
            after = parts[1]
        items = await self._store.list_replies(parent.id, size + 1, after)
        token = None
        if len(items) > size:
            items = items[:size]
            token = pagination.encode("t", parent.id, items[-1].seq)
        return Page(items, token)

    async def get_message(self, viewer: UserRecord, message_id: str) -> MessageRecord | None:
        message = await self._store.get_message(validation.entity_id(message_id, "id"))
        if message is None or not await self._rooms.can_read(viewer, message.room_id):
            return None
        return message

    async def last_message(self, room_id: str) -> MessageRecord | None:
        latest = await self._store.list_messages(room_id, limit=1, direction="DESC")
        return latest[0] if latest else None
