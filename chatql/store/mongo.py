"""The MongoDB store: pymongo's asyncio client against a replica set.

It mirrors `SQLiteStore` method for method. Each record is one document whose `_id` is the
record id; memberships use `membership_id(room_id, user_id)` so a delete event's documentKey
alone says who left which room, and rooms also keep `name_lower` for search and ordering.

There are no multi-document transactions: a message's seq comes from one atomic
`find_one_and_update` `$inc` on its room (which also bumps `message_count` and
`last_activity`), and the unique (room_id, seq) and (room_id, author_id, client_id) indexes
guard the rest. The change feed is a database-level change stream restricted to the
collections services watch (never `refresh_tokens`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from chatql.errors import StoreConflict
from chatql.store.base import (
    ChangeEvent,
    ChangeOperation,
    HistoryLost,
    MembershipRecord,
    MessageRecord,
    Record,
    RefreshTokenRecord,
    RoomRecord,
    SortDirection,
    StoreUnavailable,
    UserRecord,
    membership_id,
    new_id,
    now_utc,
)

DEFAULT_DATABASE = "chatql"
# A counter every update bumps, so that no update is a no-op the change stream would skip.
_REVISION = "_rev"
WATCHED_COLLECTIONS = ("users", "rooms", "memberships", "messages")

_OPERATIONS: dict[str, ChangeOperation] = {
    "insert": "insert",
    "update": "update",
    "replace": "update",
    "delete": "delete",
}
# ChangeStreamHistoryLost, ChangeStreamFatalError, InvalidResumeToken
_HISTORY_LOST_CODES = frozenset({286, 280, 260})

# Unique index name -> the constraint name the protocol reports in StoreConflict.
_CONSTRAINTS = {
    "username": "username",
    "token_hash": "token_hash",
    "direct_key": "direct_key",
    "room_seq": "seq",
    "client_id": "client_id",
}
_KEY_CONSTRAINTS = {
    ("username",): "username",
    ("token_hash",): "token_hash",
    ("direct_key",): "direct_key",
    ("room_id", "seq"): "seq",
    ("author_id", "client_id", "room_id"): "client_id",
}


def database_name(url: str) -> str:
    """`mongodb://h1,h2/chat?replicaSet=rs` -> `chat`; no path -> `chatql`."""
    name = unquote(urlsplit(url).path.lstrip("/"))
    return name or DEFAULT_DATABASE


def _utc(value: datetime) -> datetime:
    """Normalise like SQLite does: aware UTC at millisecond precision (naive means local)."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _encode(value: Any) -> Any:
    return _utc(value) if isinstance(value, datetime) else value


def _encode_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _encode(value) for key, value in doc.items()}


def _decode_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document as a record mapping: `_id` -> `id`, datetimes aware UTC, no `_rev`."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == _REVISION:
            continue
        if isinstance(value, datetime):
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        out["id" if key == "_id" else key] = value
    return out


def _record[R: Record](cls: type[R], doc: Mapping[str, Any] | None) -> R | None:
    return cls.from_doc(_decode_doc(doc)) if doc is not None else None


def _doc(record: UserRecord | RefreshTokenRecord | RoomRecord | MessageRecord) -> dict[str, Any]:
    doc = _encode_doc(record.to_doc())
    doc["_id"] = doc.pop("id")
    return doc


def _membership_doc(member: MembershipRecord) -> dict[str, Any]:
    return {"_id": member.id, **_encode_doc(member.to_doc())}


def _contains(term: str) -> dict[str, Any]:
    return {"$regex": re.escape(term), "$options": "i"}


async def _fetch(cursor: Any, limit: int) -> list[dict[str, Any]]:
    """Run a find with SQL LIMIT semantics: 0 returns nothing, negative means no limit."""
    if limit == 0:
        return []
    if limit > 0:
        cursor = cursor.limit(limit)
    docs: list[dict[str, Any]] = await cursor.to_list(None)
    return docs


def _constraint(exc: DuplicateKeyError) -> str:
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


def _history_lost(exc: BaseException) -> bool:
    if not isinstance(exc, OperationFailure):
        return False
    # The label marks errors the server says a resume cannot fix: re-syncing is the way out.
    if exc.code in _HISTORY_LOST_CODES or exc.has_error_label("NonResumableChangeStreamError"):
        return True
    # Servers say "the resume point may no longer be in the oplog"; embedded
    # implementations say the token "is no longer available" in their history.
    return "no longer" in str(exc).lower()


class MongoStore:
    def __init__(self, url: str, *, client: Any | None = None, database: str | None = None) -> None:
        self.url = url
        self._owns_client = client is None
        self._client: Any = (
            client if client is not None else AsyncMongoClient(url, tz_aware=True, tzinfo=UTC)
        )
        self._db: Any = self._client[database or database_name(url)]
        self._users: Any = self._db["users"]
        self._tokens: Any = self._db["refresh_tokens"]
        self._rooms: Any = self._db["rooms"]
        self._memberships: Any = self._db["memberships"]
        self._messages: Any = self._db["messages"]

    # ---------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        """Create the indexes; idempotent (same names, same options each time).

        `IndexModel`s rather than `create_index(**kwargs)` keep the server spelling
        (`partialFilterExpression`) out of keyword arguments, which embedded clients
        spell differently."""
        string = {"$type": "string"}
        users = [IndexModel([("username", ASCENDING)], name="username", unique=True)]
        tokens = [
            IndexModel([("token_hash", ASCENDING)], name="token_hash", unique=True),
            IndexModel([("family_id", ASCENDING)], name="family_id"),
            IndexModel([("user_id", ASCENDING)], name="user_id"),
        ]
        rooms = [
            IndexModel(
                [("direct_key", ASCENDING)],
                name="direct_key",
                unique=True,
                partialFilterExpression={"direct_key": string},
            ),
            IndexModel(
                [
                    ("is_private", ASCENDING),
                    ("is_direct", ASCENDING),
                    ("name_lower", ASCENDING),
                    ("_id", ASCENDING),
                ],
                name="public_rooms",
            ),
            IndexModel([("last_activity", DESCENDING), ("_id", DESCENDING)], name="last_activity"),
        ]
        memberships = [
            IndexModel([("user_id", ASCENDING)], name="user_id"),
            IndexModel(
                [("room_id", ASCENDING), ("joined_at", ASCENDING), ("user_id", ASCENDING)],
                name="room_order",
            ),
        ]
        messages = [
            IndexModel([("room_id", ASCENDING), ("seq", ASCENDING)], name="room_seq", unique=True),
            IndexModel(
                [("room_id", ASCENDING), ("author_id", ASCENDING), ("client_id", ASCENDING)],
                name="client_id",
                unique=True,
                partialFilterExpression={"client_id": string},
            ),
            IndexModel([("room_id", ASCENDING), ("created_at", ASCENDING)], name="room_time"),
        ]
        indexes: list[tuple[Any, list[IndexModel]]] = [
            (self._users, users),
            (self._tokens, tokens),
            (self._rooms, rooms),
            (self._memberships, memberships),
            (self._messages, messages),
        ]
        for collection, models in indexes:
            await collection.create_indexes(models)

    async def close(self) -> None:
        if self._owns_client:
            await _maybe_await(self._client.close())

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except Exception as exc:
            raise StoreUnavailable(str(exc)) from exc

    # ---------------------------------------------------------------- plumbing
    async def _insert(self, collection: Any, doc: Mapping[str, Any]) -> None:
        try:
            await collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise StoreConflict(_constraint(exc)) from exc

    async def _set(
        self, collection: Any, key: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Apply `changes` and return the document after them (None when missing).

        Like SQLite's UPDATE, every call on an existing document is a write with a change
        event, even when nothing changes: the server skips no-op updates, so each update
        also bumps the hidden `_rev` counter."""
        values = {k: _encode(v) for k, v in changes.items() if k not in ("id", "_id", _REVISION)}
        update: dict[str, Any] = {"$inc": {_REVISION: 1}}
        if values:
            update["$set"] = values
        try:
            doc: dict[str, Any] | None = await collection.find_one_and_update(
                {"_id": key}, update, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise StoreConflict(_constraint(exc)) from exc
        return doc

    # ---------------------------------------------------------------- users
    async def create_user(self, user: UserRecord) -> None:
        await self._insert(self._users, _doc(user))

    async def get_user(self, user_id: str) -> UserRecord | None:
        return _record(UserRecord, await self._users.find_one({"_id": user_id}))

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        docs = await self._users.find({"_id": {"$in": ids}}).to_list(None)
        return {str(d["_id"]): UserRecord.from_doc(_decode_doc(d)) for d in docs}

    async def get_user_by_username(self, username: str) -> UserRecord | None:
        return _record(UserRecord, await self._users.find_one({"username": username.lower()}))

    async def search_users(
        self, term: str, limit: int, after_username: str | None
    ) -> list[UserRecord]:
        query = {
            "$or": [{"username": _contains(term)}, {"display_name": _contains(term)}],
            "username": {"$gt": after_username or ""},
        }
        cursor = self._users.find(query).sort([("username", ASCENDING)])
        docs = await _fetch(cursor, limit)
        return [UserRecord.from_doc(_decode_doc(d)) for d in docs]

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        return _record(UserRecord, await self._set(self._users, user_id, changes))

    async def bump_token_version(self, user_id: str) -> int:
        doc = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$inc": {"token_version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["token_version"]) if doc is not None else 0

    # ---------------------------------------------------------------- refresh tokens
    async def insert_refresh_token(self, token: RefreshTokenRecord) -> None:
        await self._insert(self._tokens, _doc(token))

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        doc = await self._tokens.find_one({"token_hash": token_hash})
        return _record(RefreshTokenRecord, doc)

    async def revoke_refresh_token(self, token_id: str, when: datetime) -> bool:
        result = await self._tokens.update_one(
            {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": _utc(when)}}
        )
        return int(result.modified_count) == 1

    async def revoke_token_family(self, family_id: str, when: datetime) -> None:
        await self._tokens.update_many(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": _utc(when)}}
        )

    async def revoke_user_tokens(self, user_id: str, when: datetime) -> None:
        await self._tokens.update_many(
            {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": _utc(when)}}
        )

    # ---------------------------------------------------------------- rooms
    async def create_room(self, room: RoomRecord, members: Sequence[MembershipRecord]) -> None:
        """Room first, then its members; on a failure undo what was inserted."""
        await self._insert(self._rooms, {**_doc(room), "name_lower": room.name.lower()})
        docs = [_membership_doc(m) for m in members]
        if not docs:
            return
        try:
            await self._memberships.insert_many(docs, ordered=True)
        except Exception as exc:
            await self._memberships.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
            await self._rooms.delete_one({"_id": room.id})
            if isinstance(exc, DuplicateKeyError):
                raise StoreConflict(_constraint(exc)) from exc
            duplicate = _bulk_duplicate(exc)
            if duplicate is not None:
                raise StoreConflict(duplicate) from exc
            raise

    async def get_room(self, room_id: str) -> RoomRecord | None:
        return _record(RoomRecord, await self._rooms.find_one({"_id": room_id}))

    async def get_rooms(self, room_ids: Sequence[str]) -> dict[str, RoomRecord]:
        ids = list(dict.fromkeys(room_ids))
        if not ids:
            return {}
        docs = await self._rooms.find({"_id": {"$in": ids}}).to_list(None)
        return {str(d["_id"]): RoomRecord.from_doc(_decode_doc(d)) for d in docs}

    async def get_direct_room(self, direct_key: str) -> RoomRecord | None:
        return _record(RoomRecord, await self._rooms.find_one({"direct_key": direct_key}))

    async def update_room(self, room_id: str, changes: Mapping[str, Any]) -> RoomRecord | None:
        values = dict(changes)
        if "name" in values:
            values["name_lower"] = str(values["name"]).lower()
        return _record(RoomRecord, await self._set(self._rooms, room_id, values))

    async def list_user_rooms(
        self, user_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[RoomRecord]:
        memberships = await self._memberships.find(
            {"user_id": user_id}, {"room_id": 1, "_id": 0}
        ).to_list(None)
        ids = list(dict.fromkeys(str(m["room_id"]) for m in memberships))
        if not ids:
            return []
        query: dict[str, Any] = {"_id": {"$in": ids}}
        if after is not None:
            when = _utc(after[0])
            query["$or"] = [
                {"last_activity": {"$lt": when}},
                {"last_activity": when, "_id": {"$lt": after[1]}},
            ]
        cursor = self._rooms.find(query).sort([("last_activity", DESCENDING), ("_id", DESCENDING)])
        docs = await _fetch(cursor, limit)
        return [RoomRecord.from_doc(_decode_doc(d)) for d in docs]

    async def list_public_rooms(
        self, term: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[RoomRecord]:
        conditions: list[dict[str, Any]] = [{"is_private": False, "is_direct": False}]
        if term:
            conditions.append({"name_lower": _contains(term.lower())})
        if after is not None:
            conditions.append(
                {
                    "$or": [
                        {"name_lower": {"$gt": after[0]}},
                        {"name_lower": after[0], "_id": {"$gt": after[1]}},
                    ]
                }
            )
        cursor = self._rooms.find({"$and": conditions}).sort(
            [("name_lower", ASCENDING), ("_id", ASCENDING)]
        )
        docs = await _fetch(cursor, limit)
        return [RoomRecord.from_doc(_decode_doc(d)) for d in docs]

    # ---------------------------------------------------------------- memberships
    async def add_member(self, member: MembershipRecord) -> bool:
        try:
            await self._memberships.insert_one(_membership_doc(member))
        except DuplicateKeyError:
            return False
        return True

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        result = await self._memberships.delete_one({"_id": membership_id(room_id, user_id)})
        return int(result.deleted_count) == 1

    async def set_member_role(self, room_id: str, user_id: str, role: str) -> None:
        await self._memberships.update_one(
            {"_id": membership_id(room_id, user_id)},
            {"$set": {"role": role}, "$inc": {_REVISION: 1}},
        )

    async def get_membership(self, room_id: str, user_id: str) -> MembershipRecord | None:
        doc = await self._memberships.find_one({"_id": membership_id(room_id, user_id)})
        return _record(MembershipRecord, doc)

    async def list_members(
        self, room_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[MembershipRecord]:
        query: dict[str, Any] = {"room_id": room_id}
        if after is not None:
            when = _utc(after[0])
            query["$or"] = [
                {"joined_at": {"$gt": when}},
                {"joined_at": when, "user_id": {"$gt": after[1]}},
            ]
        cursor = self._memberships.find(query).sort(
            [("joined_at", ASCENDING), ("user_id", ASCENDING)]
        )
        docs = await _fetch(cursor, limit)
        return [MembershipRecord.from_doc(_decode_doc(d)) for d in docs]

    async def count_members(self, room_id: str) -> int:
        return int(await self._memberships.count_documents({"room_id": room_id}))

    async def member_ids(self, room_id: str) -> frozenset[str]:
        docs = await self._memberships.find({"room_id": room_id}, {"user_id": 1, "_id": 0}).to_list(
            None
        )
        return frozenset(str(d["user_id"]) for d in docs)

    # ---------------------------------------------------------------- messages
    async def insert_message(
        self,
        *,
        room_id: str,
        author_id: str,
        content: str,
        message_type: str,
        client_id: str | None,
    ) -> tuple[MessageRecord, bool]:
        """Look for the client_id first; else take the room's next seq atomically and insert.

        Two concurrent sends with one client_id can both pass the lookup: the unique index
        stops the second, which returns the first's message and gives back its
        message_count (its seq stays unused, so seqs stay strictly increasing)."""
        if client_id is not None:
            existing = await self._find_by_client_id(room_id, author_id, client_id)
            if existing is not None:
                return existing, False
        now = now_utc()
        room = await self._rooms.find_one_and_update(
            {"_id": room_id},
            {"$inc": {"last_seq": 1, "message_count": 1}, "$set": {"last_activity": now}},
            return_document=ReturnDocument.AFTER,
        )
        if room is None:
            raise StoreConflict("room")
        message = MessageRecord(
            id=new_id(),
            room_id=room_id,
            author_id=author_id,
            content=content,
            message_type=message_type,
            seq=int(room["last_seq"]),
            created_at=now,
            updated_at=now,
            client_id=client_id,
        )
        try:
            await self._messages.insert_one(_doc(message))
        except DuplicateKeyError as exc:
            if client_id is not None and _constraint(exc) == "client_id":
                await self._rooms.update_one({"_id": room_id}, {"$inc": {"message_count": -1}})
                original = await self._find_by_client_id(room_id, author_id, client_id)
                if original is not None:
                    return original, False
            raise StoreConflict(_constraint(exc)) from exc
        return message, True

    async def _find_by_client_id(
        self, room_id: str, author_id: str, client_id: str
    ) -> MessageRecord | None:
        doc = await self._messages.find_one(
            {"room_id": room_id, "author_id": author_id, "client_id": client_id}
        )
        return _record(MessageRecord, doc)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        return _record(MessageRecord, await self._messages.find_one({"_id": message_id}))

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
        query: dict[str, Any] = {"room_id": room_id}
        seq: dict[str, int] = {}
        if after_seq is not None:
            seq["$gt"] = after_seq
        if before_seq is not None:
            seq["$lt"] = before_seq
        if seq:
            query["seq"] = seq
        if before_time is not None:
            query["created_at"] = {"$lt": _utc(before_time)}
        order = ASCENDING if direction == "ASC" else DESCENDING
        cursor = self._messages.find(query).sort([("seq", order)])
        docs = await _fetch(cursor, limit)
        return [MessageRecord.from_doc(_decode_doc(d)) for d in docs]

    # ---------------------------------------------------------------- change feed
    def watch(self, resume_token: Any = None) -> AsyncIterator[ChangeEvent]:
        """Open the change stream now, not at the first `__anext__`.

        `db.watch(...)` is called here. A driver whose watch resolves its start position
        synchronously (mongoeco) is pinned to "now" at this call; pymongo's coroutine is
        scheduled as a task right away, so the aggregate goes out at the next loop turn.
        A token that cannot be resumed raises HistoryLost here or from `__anext__`."""
        if resume_token is not None and not isinstance(resume_token, Mapping):
            raise HistoryLost(f"not a change stream resume token: {resume_token!r}")
        pipeline = [
            {
                "$match": {
                    "ns.coll": {"$in": list(WATCHED_COLLECTIONS)},
                    "operationType": {"$in": list(_OPERATIONS)},
                }
            }
        ]
        try:
            opening = self._db.watch(
                pipeline, full_document="updateLookup", resume_after=resume_token
            )
        except OperationFailure as exc:
            if _history_lost(exc):
                raise HistoryLost(str(exc)) from exc
            raise
        return _ChangeFeed(opening)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _bulk_duplicate(exc: BaseException) -> str | None:
    """The constraint of the first duplicate-key write error of a bulk insert, if any."""
    details = getattr(exc, "details", None)
    if not isinstance(details, Mapping):
        return None
    for error in details.get("writeErrors") or ():
        if isinstance(error, Mapping) and error.get("code") == 11000:
            return _constraint(DuplicateKeyError(str(error.get("errmsg")), 11000, dict(error)))
    return None


class _ChangeFeed:
    """Async iterator over a change stream whose opening `MongoStore.watch` already started.

    Errors other than cancellation end the feed: the stream is closed and the error (or
    HistoryLost) raised once; later calls stop iteration. Cancelling a pending `__anext__`
    (e.g. `asyncio.wait_for`) leaves the feed usable."""

    def __init__(self, opening: Awaitable[Any]) -> None:
        self._source: Awaitable[Any] | None = opening
        self._opening: asyncio.Future[Any] | None = None
        self._stream: Any = None
        self._closed = False
        if inspect.iscoroutine(opening):
            # with no running loop yet, the opening starts at the first __anext__
            with contextlib.suppress(RuntimeError):
                self._start(asyncio.get_running_loop())

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        source, self._source = self._source, None
        assert inspect.iscoroutine(source)
        self._opening = loop.create_task(source)
        self._opening.add_done_callback(_silence)

    def __aiter__(self) -> Self:
        return self

    async def _open(self) -> Any:
        if self._stream is None:
            if self._opening is None and inspect.iscoroutine(self._source):
                self._start(asyncio.get_running_loop())
            if self._opening is not None:
                # shield: a cancelled __anext__ must not cancel the opening itself
                self._stream = await asyncio.shield(self._opening)
            else:
                assert self._source is not None
                self._stream = await self._source
            self._opening = self._source = None
        return self._stream

    async def __anext__(self) -> ChangeEvent:
        while not self._closed:
            try:
                stream = await self._open()
                raw: Mapping[str, Any] = await stream.next()
            except (asyncio.CancelledError, StopAsyncIteration):
                if self._stream is not None and not getattr(self._stream, "alive", True):
                    await self._discard()
                raise
            except Exception as exc:
                if self._closed:  # closed under us by aclose()
                    break
                await self._discard()
                if _history_lost(exc):
                    raise HistoryLost(str(exc)) from exc
                raise
            event = _change_event(raw)
            if event is not None:
                return event
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop watching and release the server cursor."""
        self._closed = True
        opening, self._opening = self._opening, None
        source, self._source = self._source, None
        stream, self._stream = self._stream, None
        if inspect.iscoroutine(source):
            source.close()
        if opening is not None:
            if not opening.done():
                opening.cancel()
            elif not opening.cancelled() and opening.exception() is None:
                stream = opening.result()
        if stream is None and source is not None and not inspect.iscoroutine(source):
            stream = source  # an already-open cursor that was never awaited
        if stream is not None:
            await _maybe_await(stream.close())

    async def _discard(self) -> None:
        with contextlib.suppress(Exception):
            await self.aclose()


def _silence(future: asyncio.Future[Any]) -> None:
    """Mark an opening failure as seen; `__anext__` still re-raises it."""
    if not future.cancelled():
        future.exception()


def _change_event(raw: Mapping[str, Any]) -> ChangeEvent | None:
    operation = _OPERATIONS.get(str(raw.get("operationType")))
    if operation is None:
        return None
    namespace = raw.get("ns") or {}
    key = (raw.get("documentKey") or {}).get("_id")
    document: dict[str, Any] | None = None
    if operation != "delete":
        full = raw.get("fullDocument")
        if full is None:  # deleted before the lookup: its delete event follows
            return None
        document = _decode_doc(full)
    return ChangeEvent(
        operation=operation,
        collection=str(namespace.get("coll")),
        key=str(key),
        document=document,
        token=raw.get("_id"),
    )
