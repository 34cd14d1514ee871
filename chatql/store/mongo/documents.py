"""How records become MongoDB documents and back, and how write errors become conflicts.

Each record is one document whose `_id` is the record id; records keyed by a property
(memberships, reactions, bans) use that key (`membership_id`, `reaction_id`) as `_id` so a
delete event's documentKey alone says what went away. Datetimes are stored as UTC at
millisecond precision, like SQLite keeps them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatql.store.records import Record

# A counter every update bumps, so that no update is a no-op the change stream would skip.
REVISION = "_rev"

# Unique index name -> the constraint name the protocol reports in StoreConflict.
_CONSTRAINTS = {
    "username": "username",
    "email": "email",
    "token_hash": "token_hash",
    "direct_key": "direct_key",
    "room_seq": "seq",
    "client_id": "client_id",
}
_KEY_CONSTRAINTS = {
    ("username",): "username",
    ("email",): "email",
    ("token_hash",): "token_hash",
    ("direct_key",): "direct_key",
    ("room_id", "seq"): "seq",
    ("author_id", "client_id", "room_id"): "client_id",
}


def utc(value: datetime) -> datetime:
    """Normalise like SQLite does: aware UTC at millisecond precision (naive means local)."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def encode(value: Any) -> Any:
    return utc(value) if isinstance(value, datetime) else value


def encode_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: encode(value) for key, value in doc.items()}


def decode_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document as a record mapping: `_id` -> `id`, datetimes aware UTC, no `_rev`."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == REVISION:
            continue
        if isinstance(value, datetime):
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        out["id" if key == "_id" else key] = value
    return out


def record[R: Record](cls: type[R], doc: Mapping[str, Any] | None) -> R | None:
    return cls.from_doc(decode_doc(doc)) if doc is not None else None


def records[R: Record](cls: type[R], docs: list[dict[str, Any]]) -> list[R]:
    return [cls.from_doc(decode_doc(d)) for d in docs]


def to_doc(rec: Record) -> dict[str, Any]:
    """A record with an `id` field: that id becomes `_id`."""
    doc = encode_doc(rec.to_doc())
    doc["_id"] = doc.pop("id")
    return doc


def keyed_doc(key: str, rec: Record) -> dict[str, Any]:
    """A record keyed by a property of its fields (membership, reaction, ban)."""
    return {"_id": key, **encode_doc(rec.to_doc())}


def contains(term: str) -> dict[str, Any]:
    return {"$regex": re.escape(term), "$options": "i"}


async def fetch(cursor: Any, limit: int) -> list[dict[str, Any]]:
    """Run a find with SQL LIMIT semantics: 0 returns nothing, negative means no limit."""
    if limit == 0:
        return []
    if limit > 0:
        cursor = cursor.limit(limit)
    docs: list[dict[str, Any]] = await cursor.to_list(None)
    return docs


async def aggregate(collection: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One aggregate round trip (pymongo's async `aggregate` is a coroutine)."""
    cursor = await maybe_await(collection.aggregate(pipeline))
    docs: list[dict[str, Any]] = await cursor.to_list(None)
    return docs


def constraint(exc: DuplicateKeyError) -> str:
    details = exc.details or {}
    pattern = details.get("keyPattern")
    if isinstance(pattern, Mapping):
        keys = tuple(sorted(pattern))
        if keys in _KEY_CONSTRAINTS:
            return _KEY_CONSTRAINTS[keys]
        if keys == ("_id",):
            return "id"
    message = str(details.get("errmsg") or exc)
    match = re.search(r"index: (\S+)", message)
    if match:
        name = match.group(1)
        if name == "_id_":
            return "id"
        return _CONSTRAINTS.get(name, name)
    return message


def bulk_duplicate(exc: BaseException) -> str | None:
    """The constraint of the first duplicate-key write error of a bulk insert, if any."""
    details = getattr(exc, "details", None)
    if not isinstance(details, Mapping):
        return None
    for error in details.get("writeErrors") or ():
        if isinstance(error, Mapping) and error.get("code") == 11000:
            return constraint(DuplicateKeyError(str(error.get("errmsg")), 11000, dict(error)))
    return None


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
