"""The storage protocol every backend implements.

Services only ever see this protocol and the records of `records.py`: they never know whether
SQLite or MongoDB is behind it. The contract tests in `tests/test_store_contract.py` prove
both behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from chatql.store.records import (
    AccountTokenRecord,
    AssistantTurnRecord,
    BanRecord,
    ChangeEvent,
    ConnectionRecord,
    FollowRecord,
    IdentityRecord,
    MembershipRecord,
    MessageRecord,
    NotificationRecord,
    NotificationRule,
    RatingRecord,
    ReactionGroup,
    ReactionRecord,
    RefreshTokenRecord,
    RoomRecord,
    StoreCounts,
    StreamRecord,
    StreamStats,
    UploadRecord,
    UsernameHoldRecord,
    UserRecord,
    WatchRecord,
)

SortDirection = Literal["ASC", "DESC"]


class StoreUnavailable(Exception):
    """The store cannot be reached; readiness checks report it."""


class HistoryLost(Exception):
    """The change feed cannot resume from the given token; the caller must re-sync."""


class Store(Protocol):
    """Async storage, grouped by concept. All methods are safe to call concurrently."""

    # lifecycle
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    # upkeep (the `chatql` command line: migrate, check, stats)
    async def pending_migrations(self) -> list[str]:
        """What `migrate` would apply, in order; callable before `open` and without changing
        anything. StoreUnavailable when the store cannot be reached, or holds a schema newer
        than this code knows (a downgrade)."""

    async def migrate(self) -> list[str]:
        """Apply the pending migrations (SQLite's numbered scripts, MongoDB's indexes) and
        return what was applied; callable before `open`, idempotent."""

    async def count_records(self) -> StoreCounts: ...

    # users
    async def create_user(self, user: UserRecord) -> None:
        """Raise StoreConflict('username') when the (lower-cased) username is taken or held
        for someone else, StoreConflict('email') when the email is another user's."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...
    async def get_users(self, user_ids: Sequence[str]) -> dict[str, UserRecord]: ...
    async def get_user_by_username(self, username: str) -> UserRecord | None: ...
    async def get_users_by_usernames(self, usernames: Sequence[str]) -> dict[str, UserRecord]: ...
    async def search_users(
        self, term: str, limit: int, after_username: str | None
    ) -> list[UserRecord]:
        """Users whose username or display name contains `term` (case-insensitive),
        ordered by username, strictly after `after_username`."""

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        """StoreConflict('email') when a new email is another user's."""

    async def bump_token_version(self, user_id: str) -> int: ...
    async def get_user_by_email(self, email: str) -> UserRecord | None: ...
    async def rename_user(
        self, user_id: str, username: str, hold_old_until: datetime, now: datetime
    ) -> UserRecord | None:
        """Give the user `username`, holding the old one for them until `hold_old_until`.
        StoreConflict('username') when the new name is taken, or held for someone else
        (holds whose `until` passed count for nothing). None when the user is gone."""

    async def username_holds(
        self, usernames: Sequence[str], now: datetime
    ) -> dict[str, UsernameHoldRecord]:
        """The holds still in force on these (lower-cased) usernames."""

    async def expired_guests(self, now: datetime, limit: int) -> list[UserRecord]: ...
    async def delete_user(self, user_id: str) -> bool:
        """Remove a user who never wrote anything (a guest) with their refresh tokens."""

    async def erase_user_data(self, user_id: str) -> None:
        """Delete what belongs to the user alone: notifications, identities, account tokens,
        follows (both ways), stream ratings and refresh tokens (memberships, messages and
        uploads go through their services)."""

    # account tokens (verification, password reset, login codes) and external identities
    async def insert_account_token(self, token: AccountTokenRecord) -> None: ...
    async def get_account_token(self, token_hash: str) -> AccountTokenRecord | None: ...
    async def use_account_token(self, token_id: str, when: datetime) -> bool:
        """Mark the token used; False when it already was (single use, even in a race)."""

    async def delete_account_tokens(self, user_id: str, purpose: str) -> int: ...
    async def purge_account_tokens(self, expired_before: datetime) -> int: ...
    async def insert_identity(self, identity: IdentityRecord) -> None:
        """StoreConflict('identity') when that provider's subject is already linked."""

    async def get_identity(self, provider: str, subject: str) -> IdentityRecord | None: ...

    # refresh tokens
    async def insert_refresh_token(self, token: RefreshTokenRecord) -> None: ...
    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None: ...
    async def revoke_refresh_token(self, token_id: str, when: datetime) -> bool:
        """Mark one token revoked; False if it was already revoked (a reuse)."""

    async def revoke_token_family(self, family_id: str, when: datetime) -> None: ...
    async def revoke_user_tokens(self, user_id: str, when: datetime) -> None: ...

    # rooms and memberships
    async def create_room(self, room: RoomRecord, members: Sequence[MembershipRecord]) -> None:
        """Insert a room with its first members; StoreConflict('direct_key') for a DM pair
        that already has a room."""

    async def get_room(self, room_id: str) -> RoomRecord | None: ...
    async def get_rooms(self, room_ids: Sequence[str]) -> dict[str, RoomRecord]: ...
    async def get_direct_room(self, direct_key: str) -> RoomRecord | None: ...
    async def update_room(self, room_id: str, changes: Mapping[str, Any]) -> RoomRecord | None: ...
    async def list_user_rooms(
        self, user_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[RoomRecord]:
        """Rooms the user belongs to, most recent activity first, after (last_activity, id)."""

    async def list_public_rooms(
        self, term: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[RoomRecord]:
        """Public group rooms whose name contains `term`, by (lower(name), id)."""

    async def add_member(self, member: MembershipRecord) -> bool:
        """True when added, False when the user was already a member."""

    async def remove_member(self, room_id: str, user_id: str) -> bool: ...
    async def get_membership(self, room_id: str, user_id: str) -> MembershipRecord | None: ...
    async def list_members(
        self, room_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[MembershipRecord]:
        """Members by (joined_at, user_id)."""

    async def count_members(self, room_id: str) -> int: ...
    async def member_ids(self, room_id: str) -> frozenset[str]: ...

    async def update_membership(
        self, room_id: str, user_id: str, changes: Mapping[str, Any]
    ) -> MembershipRecord | None: ...
    async def room_memberships(self, room_id: str) -> list[MembershipRecord]:
        """Every membership of a room (notification fan-out)."""

    async def user_room_ids(self, user_id: str) -> frozenset[str]: ...
    async def read_states(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, tuple[int, int]]:
        """For each room the user belongs to: (last_read_seq, unread count), where unread
        counts other people's messages after last_read_seq that are not deleted; one query."""

    async def delete_room(self, room_id: str) -> bool:
        """Delete a room with its memberships (one delete event each), messages and reactions."""

    # room restrictions (bans and mutes), one per (room, user, kind)
    async def set_ban(self, ban: BanRecord) -> None: ...
    async def get_ban(self, room_id: str, user_id: str, kind: str = "BAN") -> BanRecord | None: ...
    async def remove_ban(self, room_id: str, user_id: str, kind: str = "BAN") -> bool: ...

    # messages
    async def insert_message(
        self,
        *,
        room_id: str,
        author_id: str,
        content: str,
        message_type: str,
        client_id: str | None,
        reply_to_id: str | None = None,
        notify: NotificationRule | None = None,
        attachment_ids: Sequence[str] = (),
        is_streaming: bool = False,
    ) -> tuple[MessageRecord, bool]:
        """Assign the room's next seq and store the message durably; return (message, created).

        `attachment_ids` are claimed with the message: each must be a COMPLETE upload of the
        author's, not yet attached; it becomes ATTACHED to this message at its position. If
        any cannot be claimed, nothing is stored and StoreConflict("attachments") is raised.

        With a client_id already used by that author in that room, return the original
        message and False instead of storing a duplicate. With `notify`, a new message's
        notifications are stored too: `notify` gets the message and the room's
        `notification_targets` and says which to create; where the store can, in the same
        transaction (SQLite: one round trip for both). `is_streaming` starts an assistant
        reply that later updates fill in. created_at is the later of now and the room's last
        activity: it never goes back along the room's seq, even when a clock does."""

    async def get_message(self, message_id: str) -> MessageRecord | None: ...
    async def messages_by_author(
        self, author_id: str, limit: int, after_id: str | None
    ) -> list[MessageRecord]:
        """An author's messages not yet deleted, by id, strictly after `after_id`."""

    async def get_messages(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]: ...

    # ------------------------------------------------------------ uploads
    async def insert_upload(self, upload: UploadRecord) -> None: ...
    async def get_upload(self, upload_id: str) -> UploadRecord | None: ...
    async def update_upload(
        self, upload_id: str, changes: Mapping[str, Any], *, status: str | None = None
    ) -> UploadRecord | None:
        """Apply `changes`; with `status`, only while the upload is in that status (else None)."""

    async def message_attachments(
        self, message_ids: Sequence[str]
    ) -> dict[str, list[UploadRecord]]:
        """Each message's reachable attachments (not removed), in position order."""

    async def remove_message_uploads(self, message_id: str, when: datetime) -> int:
        """Make a message's attachments unreachable now; their bytes go after the grace."""

    async def remove_room_uploads(self, room_id: str, when: datetime) -> int:
        """The same for every message of a room (before the room is deleted)."""

    async def uploads_to_purge(
        self, now: datetime, removed_before: datetime, limit: int
    ) -> list[UploadRecord]:
        """Uploads never completed or attached (or whose check never ended: a crash) whose
        `expires_at` passed, attached ones removed before `removed_before`, and ones a purge
        took but did not finish: the garbage collector deletes their bytes, then them."""

    async def delete_upload(self, upload_id: str) -> bool: ...
    async def update_message(
        self, message_id: str, changes: Mapping[str, Any], *, if_streaming: bool = False
    ) -> MessageRecord | None:
        """Apply `changes`; with `if_streaming`, only while the message is still streaming
        and not deleted (else None, and nothing changes)."""

    async def search_room_messages(
        self, room_id: str, term: str, limit: int
    ) -> list[MessageRecord]:
        """A room's messages not deleted whose content contains `term` (case-insensitive),
        newest first."""

    # the assistant's turns
    async def claim_assistant_turn(self, turn: AssistantTurnRecord) -> bool:
        """Insert the turn; False when one with its id exists (another process has it)."""

    async def set_assistant_reply(self, turn_id: str, reply_id: str) -> None: ...
    async def get_assistant_turn_by_reply(self, reply_id: str) -> AssistantTurnRecord | None: ...
    async def list_replies(
        self, parent_id: str, limit: int, after_seq: int | None
    ) -> list[MessageRecord]:
        """Replies to a message, oldest first (by seq)."""

    async def count_replies(self, parent_ids: Sequence[str]) -> dict[str, int]: ...

    # reactions
    async def add_reaction(self, reaction: ReactionRecord) -> bool:
        """False when this user already reacted with this emoji (nothing changes)."""

    async def remove_reaction(
        self, room_id: str, message_id: str, user_id: str, emoji: str
    ) -> bool: ...
    async def reaction_groups(
        self, message_ids: Sequence[str], viewer_id: str
    ) -> dict[str, list[ReactionGroup]]:
        """Per message, its reactions grouped by emoji, in order of first use."""

    async def reaction_users(self, message_id: str, emoji: str, limit: int) -> list[str]: ...

    # connections (presence) and who is watching which room
    async def add_connection(self, connection: ConnectionRecord) -> None: ...
    async def remove_connection(self, connection_id: str) -> ConnectionRecord | None:
        """Also forgets the connection's room watches."""

    async def count_connections(self, user_id: str) -> int: ...
    async def heartbeat(self, process_id: str, when: datetime) -> None: ...
    async def remove_stale_connections(self, before: datetime) -> list[str]:
        """Drop connections whose process stopped heart-beating; return their user ids."""

    async def add_room_watch(self, connection_id: str, room_id: str, user_id: str) -> None: ...
    async def remove_room_watch(self, connection_id: str, room_id: str) -> None: ...
    async def room_watchers(self, room_id: str) -> frozenset[str]:
        """Users with at least one open subscription on the room."""

    async def notification_targets(self, room_id: str) -> Sequence[tuple[str, bool, bool]]:
        """(user_id, notifications_muted, watching) for every member, in one round trip
        where the store can: what a new message's notifications need to know."""

    # notifications
    async def insert_notifications(self, notifications: Sequence[NotificationRecord]) -> None: ...
    async def list_notifications(
        self,
        user_id: str,
        *,
        unread_only: bool,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[NotificationRecord]:
        """Newest first, by (created_at, id) descending, strictly after `after`."""

    async def mark_notification_read(
        self, user_id: str, notification_id: str, when: datetime
    ) -> NotificationRecord | None: ...
    async def mark_all_notifications_read(self, user_id: str, when: datetime) -> int: ...
    async def delete_notification(self, user_id: str, notification_id: str) -> bool: ...

    # live streams, follows, ratings, watches and viewer samples
    async def insert_stream(self, stream: StreamRecord) -> None: ...
    async def get_stream(self, stream_id: str) -> StreamRecord | None: ...
    async def get_streams(self, stream_ids: Sequence[str]) -> dict[str, StreamRecord]: ...
    async def update_stream(
        self,
        stream_id: str,
        changes: Mapping[str, Any],
        *,
        statuses: Sequence[str] | None = None,
    ) -> StreamRecord | None:
        """Apply `changes`; with `statuses`, only while the stream is in one of them (a
        status change that loses a race changes nothing and returns None)."""

    async def list_streams(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
        term: str | None = None,
        category_key: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        creator_id: str | None = None,
    ) -> list[StreamRecord]:
        """Streams newest first by (created_at, id), strictly after `after`; `term` matches
        title or description (case-insensitive). CANCELLED ones only when `status` asks for
        them or `creator_id` is given."""

    async def stream_categories(self, limit: int) -> list[tuple[str, int, int]]:
        """(name, live streams, streams not cancelled) per category key, most streams first;
        the name is one way creators wrote it (the first in code-point order)."""

    async def raise_peak_viewers(self, stream_id: str, viewers: int) -> StreamRecord | None:
        """Set peak_viewers to `viewers` if that is higher (a change event only then)."""

    async def record_viewer_sample(self, stream_id: str, at: datetime, viewers: int) -> None:
        """Keep the highest viewer count seen in the sample slot `at` (idempotent, so every
        process may record the same slot)."""

    async def insert_watch(self, watch: WatchRecord) -> None: ...
    async def stream_stats(
        self, stream: StreamRecord, follows_since: datetime, follows_until: datetime
    ) -> StreamStats: ...
    async def follow(self, follow: FollowRecord) -> bool:
        """False when already following."""

    async def unfollow(self, follower_id: str, followee_id: str) -> bool: ...
    async def following(self, follower_id: str, followee_ids: Sequence[str]) -> frozenset[str]:
        """Which of `followee_ids` the follower follows."""

    async def count_followers(self, user_ids: Sequence[str]) -> dict[str, int]: ...
    async def follower_ids(self, followee_id: str, limit: int, after: str | None) -> list[str]:
        """Followers' ids in id order, strictly after `after` (to notify them in batches)."""

    async def rate_stream(self, rating: RatingRecord) -> None:
        """Insert or replace the user's rating of the stream (keeping its created_at)."""

    async def rating_summaries(self, stream_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(sum, count) of each stream's ratings; streams without any are left out."""

    async def user_ratings(self, user_id: str, stream_ids: Sequence[str]) -> dict[str, int]:
        """The user's rating of each of these streams they rated."""

    # ephemeral events (typing): not stored for good, but seen by every process's feed
    async def publish_ephemeral(self, channel: str, payload: Mapping[str, Any]) -> None:
        """Emit an `events` change carrying {channel, payload}; MongoDB keeps it briefly
        (TTL) so other processes' change streams see it, SQLite only feeds this process."""

    async def list_messages(
        self,
        room_id: str,
        *,
        limit: int,
        direction: SortDirection,
        after_seq: int | None = None,
        before_seq: int | None = None,
        before_time: datetime | None = None,
    ) -> list[MessageRecord]:
        """Messages of a room ordered by seq in `direction`, with seq > after_seq,
        seq < before_seq and created_at < before_time when given."""

    # change feed
    async def load_feed_position(self, name: str) -> Any:
        """The resume token a process of this name saved last, or None."""

    async def save_feed_position(self, name: str, token: Any) -> None:
        """Remember where the process `name` is in the change feed (not itself in the feed)."""

    def watch(self, resume_token: Any = None) -> AsyncIterator[ChangeEvent]:
        """Every committed change, in commit order, starting after `resume_token` when given
        (raise HistoryLost if that is no longer possible), else from now on."""
        ...
