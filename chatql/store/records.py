"""The records every store speaks in, and the change events its feed carries.

Plain values (see `value_class`): services and resolvers read them, stores make them from
their rows and documents, and the change feed carries them as documents (`to_doc`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Self

from chatql.store.ids import identity_id, membership_id, reaction_id, time_ordered_id
from chatql.value_class import value_class

ROOM_ROLES = ("OWNER", "ADMIN", "MEMBER")


def now_utc() -> datetime:
    """The current time at millisecond precision, the precision every store keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Record:
    """Plain data, convertible to and from the documents the change feed carries."""

    def to_doc(self) -> dict[str, Any]:
        """A flat dict of the fields (records hold only scalars: no deep copy needed)."""
        return {name: getattr(self, name) for name in _fields(type(self))[0]}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Self:
        names = _fields(cls)[1]
        if names.issuperset(doc):  # a row of the record's table: nothing to leave out
            return cls(**doc)
        return cls(**{k: v for k, v in doc.items() if k in names})


_FIELDS: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def _fields(kind: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """A record class's field names, in order and as a set, looked up once per class."""
    found = _FIELDS.get(kind)
    if found is None:
        order = tuple(f.name for f in dataclasses.fields(kind))
        found = _FIELDS[kind] = (order, frozenset(order))
    return found


@value_class
class UserRecord(Record):
    id: str
    username: str
    display_name: str
    password_hash: str
    created_at: datetime
    avatar_url: str | None = None
    status: str = "OFFLINE"
    last_seen: datetime | None = None
    token_version: int = 0
    role: str = "USER"
    current_room: str | None = None
    email: str | None = None  # lower-cased; unique among users
    email_verified: bool = False
    terms_version: str | None = None
    terms_accepted_at: datetime | None = None
    expires_at: datetime | None = None  # guests only: when the guest account goes
    deleted_at: datetime | None = None  # a deleted account's tombstone keeps its id
    is_bot: bool = False  # the assistant: made by the server, never signs in

    @property
    def has_password(self) -> bool:
        """Accounts made by a social sign-in have none until a password reset sets one."""
        return bool(self.password_hash)

    @property
    def is_guest(self) -> bool:
        return self.role == "GUEST"


@value_class
class RefreshTokenRecord(Record):
    id: str
    user_id: str
    family_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


TOKEN_PURPOSES = ("VERIFY_EMAIL", "RESET_PASSWORD", "LOGIN_CODE")


@value_class
class AccountTokenRecord(Record):
    """A single-use secret sent by mail or through a redirect; only its digest is stored.

    `email` is the address a VERIFY_EMAIL token proves; `data` is what a LOGIN_CODE carries
    (the verified identity, as JSON)."""

    id: str
    purpose: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    user_id: str | None = None
    email: str | None = None
    data: str | None = None
    used_at: datetime | None = None


@value_class
class IdentityRecord(Record):
    """An account at an OpenID provider, linked to one of ours."""

    provider: str
    subject: str
    user_id: str
    created_at: datetime
    email: str | None = None

    @property
    def id(self) -> str:
        return identity_id(self.provider, self.subject)


@value_class
class UsernameHoldRecord(Record):
    """A username given up recently: only its last owner may take it until `until`, and
    mentions of it still reach that owner meanwhile."""

    username: str
    user_id: str
    until: datetime


@value_class
class RoomRecord(Record):
    id: str
    name: str
    created_by: str
    owner_id: str
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    description: str | None = None
    is_private: bool = False
    is_direct: bool = False
    direct_key: str | None = None
    last_seq: int = 0
    message_count: int = 0


@value_class
class MembershipRecord(Record):
    room_id: str
    user_id: str
    role: str
    joined_at: datetime
    last_read_seq: int = 0
    notifications_muted: bool = False
    muted_until: datetime | None = None

    @property
    def id(self) -> str:
        return membership_id(self.room_id, self.user_id)


@value_class
class MessageRecord(Record):
    id: str
    room_id: str
    author_id: str
    content: str
    message_type: str
    seq: int
    created_at: datetime
    updated_at: datetime
    client_id: str | None = None
    reply_to_id: str | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    attachment_count: int = 0
    is_streaming: bool = False  # an assistant reply still being written

    @classmethod
    def new(
        cls,
        *,
        room_id: str,
        author_id: str,
        content: str,
        message_type: str,
        seq: int,
        client_id: str | None,
        reply_to_id: str | None,
        now: datetime,
        attachment_count: int = 0,
        is_streaming: bool = False,
    ) -> MessageRecord:
        """A message about to be stored at `seq` (every store takes the seq its own way)."""
        return cls(
            id=time_ordered_id(),
            room_id=room_id,
            author_id=author_id,
            content=content,
            message_type=message_type,
            seq=seq,
            created_at=now,
            updated_at=now,
            client_id=client_id,
            reply_to_id=reply_to_id,
            attachment_count=attachment_count,
            is_streaming=is_streaming,
        )


@value_class
class AssistantTurnRecord(Record):
    """A message the assistant answers, keyed by that message's id: inserting it is the claim
    that lets exactly one process call the provider; `reply_id` is the bot's message."""

    id: str
    room_id: str
    asker_id: str
    claimed_by: str
    created_at: datetime
    reply_id: str | None = None


UPLOAD_PENDING = "PENDING"  # a ticket was issued; the bytes may be on their way
UPLOAD_CHECKING = "CHECKING"  # completeUpload is checking it (one call at a time)
UPLOAD_COMPLETE = "COMPLETE"  # checked and processed; may be attached once
UPLOAD_ATTACHED = "ATTACHED"  # part of a message or a user's avatar
UPLOAD_PURGING = "PURGING"  # the garbage collector has taken it; its bytes are going
UPLOAD_USES = ("MESSAGE", "AVATAR")


@value_class
class UploadRecord(Record):
    """One file: its ticket, then what checking its bytes found, then where it is used.

    `expires_at` is when an upload still PENDING or COMPLETE (never attached) is removed;
    `removed_at` makes an attached file unreachable at once (its message was deleted, or the
    avatar replaced); its bytes go after a grace period."""

    id: str
    owner_id: str
    filename: str
    declared_type: str
    declared_size: int
    object_key: str
    created_at: datetime
    expires_at: datetime
    status: str = UPLOAD_PENDING
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    thumb_key: str | None = None
    completed_at: datetime | None = None
    used_for: str | None = None
    message_id: str | None = None
    position: int = 0
    removed_at: datetime | None = None


@value_class
class ReactionRecord(Record):
    room_id: str
    message_id: str
    user_id: str
    emoji: str
    created_at: datetime

    @property
    def id(self) -> str:
        return reaction_id(self.room_id, self.message_id, self.user_id, self.emoji)


@value_class
class ReactionGroup:
    """All reactions with one emoji on one message, as seen by one viewer."""

    emoji: str
    count: int
    reacted_by_me: bool
    first_at: datetime


@value_class
class BanRecord(Record):
    """A room restriction: BAN keeps a user out, MUTE keeps them quiet. Both outlive the
    membership, so leaving and rejoining lifts neither."""

    room_id: str
    user_id: str
    banned_by: str
    created_at: datetime
    until: datetime | None = None
    kind: str = "BAN"


@value_class
class ConnectionRecord(Record):
    """One authenticated WebSocket; presence is derived from these."""

    id: str
    user_id: str
    process_id: str
    connected_at: datetime
    heartbeat_at: datetime


@value_class
class NotificationRecord(Record):
    id: str
    user_id: str
    type: str
    created_at: datetime
    room_id: str | None = None
    message_id: str | None = None
    actor_id: str | None = None
    read_at: datetime | None = None
    stream_id: str | None = None


STREAM_STATUSES = ("SCHEDULED", "LIVE", "ENDED", "CANCELLED")


@value_class
class StreamRecord(Record):
    """A live stream: the control plane's record of it (the media plane holds the video).

    `key_version` is part of the stream key (derived, never stored): rotating the key bumps
    it, which makes every earlier key worthless at once."""

    id: str
    creator_id: str
    room_id: str
    title: str
    status: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    category: str | None = None  # as the creator wrote it; `category_key` is what filters
    category_key: str | None = None
    tags: tuple[str, ...] = ()
    scheduled_start: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    key_version: int = 1
    peak_viewers: int = 0
    has_recording: bool = False
    has_thumbnail: bool = False
    ingest_node: str | None = None  # the process whose media plane receives it while LIVE

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> StreamRecord:
        """Tags arrive as a list (MongoDB) or JSON text (SQLite); the record keeps a tuple."""
        values = {k: v for k, v in doc.items() if k in _fields(cls)[1]}
        tags = values.get("tags") or ()
        values["tags"] = tuple(json.loads(tags) if isinstance(tags, str) else tags)
        return cls(**values)


@value_class
class FollowRecord(Record):
    follower_id: str
    followee_id: str
    created_at: datetime

    @property
    def id(self) -> str:
        return f"{self.follower_id}:{self.followee_id}"


@value_class
class RatingRecord(Record):
    """One viewer's rating of one ended stream; rating again replaces it."""

    stream_id: str
    user_id: str
    rating: int
    created_at: datetime
    updated_at: datetime
    comment: str | None = None


@value_class
class WatchRecord(Record):
    """One closed watch of a stream: who, when, and how many of its seconds were live."""

    id: str
    stream_id: str
    viewer_id: str
    started_at: datetime
    ended_at: datetime
    seconds: float


@value_class
class StreamStats:
    """What a stream's analytics add up from the store."""

    watch_seconds: float
    unique_viewers: frozenset[str]
    chat_messages: int
    chatters: int
    rating_sum: int
    rating_count: int
    new_followers: int
    samples: tuple[tuple[datetime, int], ...]


NotificationRule = Callable[
    ["MessageRecord", Sequence[tuple[str, bool, bool]]], list[NotificationRecord]
]
"""(new message, (user_id, notifications_muted, watching) per member) -> notifications to store."""


ChangeOperation = Literal["insert", "update", "delete"]


@value_class
class ChangeEvent:
    """One committed change, shaped like a MongoDB change event.

    `document` is the full document after the change (None for deletes); `key` is the
    document id. `token` lets a watcher resume after this event where the store supports it.
    """

    operation: ChangeOperation
    collection: str
    key: str
    document: Mapping[str, Any] | None
    token: Any = None
    committed_at: float | None = None  # Unix time of the commit, for latency metrics


@value_class
class StoreCounts:
    """What `chatql stats` reports: how much the store holds, for capacity planning."""

    users: int  # accounts not deleted (guests and the assistant's bot included)
    rooms: int
    messages: int  # not deleted
    streams: int
    uploads: int  # files not removed, whatever their status
