"""The indexes `MongoStore.open` creates: MongoDB's counterpart of the SQLite migrations.

`IndexModel`s rather than `create_index(**kwargs)` keep the server spelling
(`partialFilterExpression`, `expireAfterSeconds`) out of keyword arguments, which embedded
clients spell differently. Creating an index that exists with the same options is a no-op.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

# How long an ephemeral event (typing) stays in `events` for other processes' streams.
EVENT_TTL_SECONDS = 60

_STRING = {"$type": "string"}


def _index(*fields: str, name: str, **options: object) -> IndexModel:
    keys = [
        (field[1:], DESCENDING) if field.startswith("-") else (field, ASCENDING) for field in fields
    ]
    return IndexModel(keys, name=name, **options)


INDEXES: dict[str, list[IndexModel]] = {
    "users": [
        _index("username", name="username", unique=True),
        _index("email", name="email", unique=True, partialFilterExpression={"email": _STRING}),
        _index("expires_at", name="guest_expiry", partialFilterExpression={"role": "GUEST"}),
    ],
    "account_tokens": [
        _index("token_hash", name="token_hash", unique=True),
        _index("user_id", "purpose", name="user_purpose"),
        _index("expires_at", name="expiry"),
    ],
    "identities": [_index("user_id", name="user_id")],
    "assistant_turns": [
        _index("reply_id", name="reply_id", partialFilterExpression={"reply_id": _STRING})
    ],
    "refresh_tokens": [
        _index("token_hash", name="token_hash", unique=True),
        _index("family_id", name="family_id"),
        _index("user_id", name="user_id"),
    ],
    "rooms": [
        _index(
            "direct_key",
            name="direct_key",
            unique=True,
            partialFilterExpression={"direct_key": _STRING},
        ),
        _index("is_private", "is_direct", "name_lower", "_id", name="public_rooms"),
        _index("-last_activity", "-_id", name="last_activity"),
    ],
    "memberships": [
        _index("user_id", name="user_id"),
        _index("room_id", "joined_at", "user_id", name="room_order"),
    ],
    "messages": [
        _index("room_id", "seq", name="room_seq", unique=True),
        _index(
            "room_id",
            "author_id",
            "client_id",
            name="client_id",
            unique=True,
            partialFilterExpression={"client_id": _STRING},
        ),
        _index("room_id", "created_at", name="room_time"),
        _index("author_id", "_id", name="author"),
        # queries say `reply_to_id: {$eq: parent, $type: "string"}` so the planner may use it
        _index(
            "reply_to_id", "seq", name="replies", partialFilterExpression={"reply_to_id": _STRING}
        ),
    ],
    "reactions": [
        _index("message_id", "emoji", "created_at", name="by_emoji"),
        _index("room_id", name="room_id"),
    ],
    "room_bans": [_index("room_id", name="room_id")],
    "connections": [
        _index("user_id", name="user_id"),
        _index("process_id", name="process_id"),
        _index("heartbeat_at", name="heartbeat_at"),
    ],
    "room_watches": [
        _index("room_id", name="room_id"),
        _index("connection_id", name="connection_id"),
    ],
    "notifications": [
        _index("user_id", "-created_at", "-_id", name="user_order"),
        _index("room_id", name="room_id"),
    ],
    "events": [_index("created_at", name="ttl", expireAfterSeconds=EVENT_TTL_SECONDS)],
    "streams": [
        _index("-created_at", "-_id", name="recent"),
        _index("creator_id", "-created_at", "-_id", name="creator"),
        _index("status", "-created_at", "-_id", name="status"),
        _index("category_key", "-created_at", "-_id", name="category"),
        _index("tags", name="tags"),
    ],
    "follows": [
        _index("followee_id", "follower_id", name="followee"),
        _index("followee_id", "created_at", name="followee_time"),
        _index("follower_id", name="follower"),
    ],
    "stream_ratings": [_index("stream_id", name="stream_id"), _index("user_id", name="user_id")],
    "stream_watches": [_index("stream_id", "viewer_id", name="stream_viewer")],
    "stream_samples": [_index("stream_id", "at", name="stream_time")],
    "uploads": [
        _index(
            "message_id",
            "position",
            name="message",
            partialFilterExpression={"message_id": _STRING},
        ),
        _index("status", "expires_at", name="expiry"),
        _index("removed_at", name="removed"),
    ],
}
