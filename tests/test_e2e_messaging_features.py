"""Messaging features end to end, over real sockets: editing and soft-deleting messages,
threads, reactions, typing indicators, and the regression that a private room's events never
reach anyone outside it.

Every test talks to a real uvicorn on loopback with httpx and raw WebSockets. Subscriptions are
checked on both subprotocols; the core live flow of each feature also runs on MongoDB (mongoeco
in process).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chatql.config import Settings
from chatql.store.mongo.feed import WATCHED_COLLECTIONS
from tests.conftest import make_store, mongoeco_client
from tests.helpers import (
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    Account,
    Client,
    Server,
    Socket,
    running_server,
)

SETTLE = 0.2  # lets a subscribe frame reach the server before the event under test
QUIET = 0.3  # how long "nothing arrives" is watched for
UNKNOWN_ID = "0" * 32
MALFORMED_ID = "not-an-id"

# ---------------------------------------------------------------- operations
MESSAGE_FIELDS = (
    "id chatRoomId content seq cursor createdAt updatedAt editedAt deletedAt isEdited isDeleted "
    "replyToId author { username }"
)
SEND = f"mutation($i: CreateMessageInput!) {{ createMessage(input: $i) {{ {MESSAGE_FIELDS} }} }}"
SEND_REPLY = (
    "mutation($i: CreateMessageInput!) { createMessage(input: $i) "
    "{ id seq replyToId replyTo { id content } replyCount } }"
)
UPDATE = f"mutation($i: UpdateMessageInput!) {{ updateMessage(input: $i) {{ {MESSAGE_FIELDS} }} }}"
DELETE = f"mutation($i: ID!) {{ deleteMessage(id: $i) {{ {MESSAGE_FIELDS} }} }}"
GET_MESSAGE = f"query($m: ID!) {{ getMessage(id: $m) {{ {MESSAGE_FIELDS} }} }}"
HISTORY = (
    "query($r: ID!, $l: Int, $t: String) "
    "{ messagesByRoom(chatRoomId: $r, limit: $l, nextToken: $t, sortDirection: ASC) "
    f"{{ items {{ {MESSAGE_FIELDS} }} nextToken }} }}"
)
THREAD = (
    "query($m: ID!, $l: Int, $t: String) { getMessage(id: $m) { id replyCount "
    "replies(limit: $l, nextToken: $t) "
    "{ items { id content replyToId isDeleted replyTo { id } } nextToken } } }"
)
REACTION_FIELDS = "id messageId chatRoomId emoji userId createdAt user { username }"
REACT = (
    f"mutation($i: CreateReactionInput!) {{ createReaction(input: $i) {{ {REACTION_FIELDS} }} }}"
)
UNREACT = "mutation($m: ID!, $e: String!) { deleteReaction(messageId: $m, emoji: $e) }"
GROUPS = (
    "query($m: ID!, $l: Int) { getMessage(id: $m) "
    "{ reactions { emoji count reactedByMe users(limit: $l) { username } } } }"
)
HISTORY_GROUPS = (
    "query($r: ID!) { messagesByRoom(chatRoomId: $r, sortDirection: ASC) "
    "{ items { id reactions { emoji count reactedByMe } } } }"
)
START_TYPING = "mutation($r: ID!) { startTyping(chatRoomId: $r) }"
STOP_TYPING = "mutation($r: ID!) { stopTyping(chatRoomId: $r) }"
SET_ROLE = "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { id role } }"
SET_MEMBER_ROLE = (
    "mutation($r: ID!, $u: ID!, $role: RoomRole!) "
    "{ setRoomMemberRole(roomId: $r, userId: $u, role: $role) { id } }"
)

ON_CREATED = (
    "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) "
    "{ id chatRoomId content seq replyToId replyTo { id content } } }"
)
ON_UPDATED = f"subscription($r: ID!) {{ onMessageUpdated(chatRoomId: $r) {{ {MESSAGE_FIELDS} }} }}"
ON_DELETED = f"subscription($r: ID!) {{ onMessageDeleted(chatRoomId: $r) {{ {MESSAGE_FIELDS} }} }}"
ON_REACTION_ADDED = (
    f"subscription($r: ID!) {{ onReactionAdded(chatRoomId: $r) {{ {REACTION_FIELDS} }} }}"
)
ON_REACTION_REMOVED = (
    f"subscription($r: ID!) {{ onReactionRemoved(chatRoomId: $r) {{ {REACTION_FIELDS} }} }}"
)
TYPING_FIELDS = "userId userName chatRoomId timestamp"
ON_TYPING_STARTED = (
    f"subscription($r: ID!) {{ onTypingStarted(chatRoomId: $r) {{ {TYPING_FIELDS} }} }}"
)
ON_TYPING_ENDED = f"subscription($r: ID!) {{ onTypingEnded(chatRoomId: $r) {{ {TYPING_FIELDS} }} }}"
ON_MY_ROOMS = "subscription { onMyRoomsChanged { type chatRoomId room { id } } }"
ON_NOTIFICATION = "subscription { onNotificationReceived { id type chatRoomId messageId } }"

ROOM_STREAMS = {
    "onMessageCreated": ON_CREATED,
    "onMessageUpdated": ON_UPDATED,
    "onMessageDeleted": ON_DELETED,
    "onReactionAdded": ON_REACTION_ADDED,
    "onReactionRemoved": ON_REACTION_REMOVED,
    "onTypingStarted": ON_TYPING_STARTED,
    "onTypingEnded": ON_TYPING_ENDED,
}


# ---------------------------------------------------------------- the cast
NAMES = ("boss", "mod", "owner", "radmin", "alice", "bob", "eve")


@dataclass
class Scene:
    """`boss` is a global ADMIN (bootstrap), `mod` a global MODERATOR.

    - lobby (public): owner (OWNER), radmin (room ADMIN), alice, bob
    - secret (private): owner (OWNER), alice, bob
    - yard (public): eve (OWNER) alone
    """

    server: Server
    client: Client
    users: dict[str, Account]
    lobby: str
    secret: str
    yard: str
    store_kind: str
    mongo: Any = None  # the shared mongoeco client, on MongoDB

    def __getitem__(self, name: str) -> Account:
        return self.users[name]


@contextlib.asynccontextmanager
async def staged(settings: Settings, kind: str, tmp_path: Path) -> AsyncIterator[Scene]:
    """Register everyone, then restart (same database) with `boss` as the bootstrap admin."""
    shared = None
    if kind == "mongoeco":
        shared = mongoeco_client()
        settings = replace(settings, database_url="mongodb://localhost/chatql_test")

    def store() -> Any:
        return make_store("mongoeco", tmp_path, shared=shared) if shared is not None else None

    async with running_server(settings, store()) as first:
        setup = Client(first)
        users = {name: await setup.register(name) for name in NAMES}
        await setup.close()
    async with running_server(replace(settings, bootstrap_admin="boss"), store()) as server:
        client = Client(server)
        promoted = await client.data(
            SET_ROLE, {"u": users["mod"].id, "r": "MODERATOR"}, users["boss"].token
        )
        assert promoted["setUserRole"]["role"] == "MODERATOR"
        owner = users["owner"]
        trio = [users[n].id for n in ("radmin", "alice", "bob")]
        lobby = await client.create_room(owner, "lobby", members=trio)
        await client.data(
            SET_MEMBER_ROLE, {"r": lobby, "u": users["radmin"].id, "role": "ADMIN"}, owner.token
        )
        secret = await client.create_room(
            owner, "secret", private=True, members=[users["alice"].id, users["bob"].id]
        )
        yard = await client.create_room(users["eve"], "yard")
        try:
            yield Scene(server, client, users, lobby, secret, yard, kind, shared)
        finally:
            await client.close()


@pytest.fixture
async def scene(settings: Settings, tmp_path: Path) -> AsyncIterator[Scene]:
    async with staged(settings, "sqlite", tmp_path) as staged_scene:
        yield staged_scene


@pytest.fixture(params=["sqlite", "mongoeco"])
async def any_scene(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Scene]:
    """The same scene on SQLite and on MongoDB (mongoeco)."""
    async with staged(settings, str(request.param), tmp_path) as staged_scene:
        yield staged_scene


# ---------------------------------------------------------------- helpers
def code(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


async def error_code(
    client: Client, query: str, variables: dict[str, Any], account: Account | None
) -> str:
    return code(await client.error(query, variables, account.token if account else None))


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def send(
    client: Client, author: Account, room: str, content: str, reply_to: str | None = None
) -> dict[str, Any]:
    data = await client.data(
        SEND, {"i": {"chatRoomId": room, "content": content, "replyToId": reply_to}}, author.token
    )
    return data["createMessage"]  # type: ignore[no-any-return]


async def history(client: Client, viewer: Account, room: str) -> list[dict[str, Any]]:
    data = await client.data(HISTORY, {"r": room, "l": 100}, viewer.token)
    return data["messagesByRoom"]["items"]  # type: ignore[no-any-return]


async def get_message(client: Client, viewer: Account, message_id: str) -> Any:
    return (await client.data(GET_MESSAGE, {"m": message_id}, viewer.token))["getMessage"]


def edit_vars(message_id: str, content: str) -> dict[str, Any]:
    return {"i": {"id": message_id, "content": content}}


def react_vars(message_id: str, emoji: str) -> dict[str, Any]:
    return {"i": {"messageId": message_id, "emoji": emoji}}


async def groups(
    client: Client, viewer: Account, message_id: str, limit: int | None = None
) -> list[dict[str, Any]]:
    data = await client.data(GROUPS, {"m": message_id, "l": limit}, viewer.token)
    return data["getMessage"]["reactions"]  # type: ignore[no-any-return]


async def live(server: Server, protocol: str, account: Account) -> Socket:
    sock = await Socket.connect(server, protocol, account.token)
    await sock.ack()
    return sock


async def live_on(
    server: Server,
    protocol: str,
    account: Account,
    *subscriptions: tuple[str, dict[str, Any]],
) -> Socket:
    """A socket of `account` with these subscriptions, given time to reach the server."""
    sock = await live(server, protocol, account)
    for query, variables in subscriptions:
        await sock.subscribe(query, variables)
    await asyncio.sleep(SETTLE)
    return sock


async def event(sock: Socket, field: str, timeout: float = 5) -> dict[str, Any]:
    payload = await sock.next_payload(timeout)
    assert "errors" not in payload, payload
    return payload["data"][field]  # type: ignore[no-any-return]


async def take(sock: Socket, count: int, timeout: float = 5) -> list[tuple[str, dict[str, Any]]]:
    """The next `count` events of a socket with several subscriptions, as (field, value)."""
    out = []
    for _ in range(count):
        payload = await sock.next_payload(timeout)
        assert "errors" not in payload, payload
        ((field, value),) = payload["data"].items()
        out.append((field, value))
    return out


async def refused(sock: Socket, query: str, variables: dict[str, Any]) -> str:
    """Subscribe, and return the code the subscription fails with; it must end there."""
    await sock.subscribe(query, variables)
    frame = await sock.recv()
    if frame["type"] == "error":
        payload = frame["payload"]
        error = payload[0] if isinstance(payload, list) else payload
    else:
        assert frame["type"] in ("next", "data"), frame
        assert not frame["payload"].get("data"), frame
        error = frame["payload"]["errors"][0]
        assert (await sock.recv())["type"] == "complete"
    return code(error)


# ================================================================ 1. edit and delete
async def test_the_author_edits_a_message_trimmed_and_marked_edited(scene: Scene) -> None:
    client, alice, bob = scene.client, scene["alice"], scene["bob"]
    sent = await send(client, alice, scene.lobby, "first draft")
    assert sent["isEdited"] is False and sent["editedAt"] is None
    await send(client, bob, scene.lobby, "a later message")

    edited = (await client.data(UPDATE, edit_vars(sent["id"], "  final text\n "), alice.token))[
        "updateMessage"
    ]
    assert edited["content"] == "final text"
    assert edited["isEdited"] is True and edited["isDeleted"] is False
    assert ts(edited["editedAt"]) >= ts(sent["createdAt"])
    assert ts(edited["updatedAt"]) == ts(edited["editedAt"])
    same = ("id", "seq", "cursor", "createdAt", "chatRoomId", "author")
    assert {k: edited[k] for k in same} == {k: sent[k] for k in same}

    # everyone reads the edit, in place
    for viewer in (alice, bob, scene["owner"]):
        items = await history(client, viewer, scene.lobby)
        assert [m["content"] for m in items] == ["final text", "a later message"]
        assert items[0]["isEdited"] is True and items[0]["seq"] == sent["seq"]
    again = await client.data(UPDATE, edit_vars(sent["id"], "final text, v3"), alice.token)
    assert ts(again["updateMessage"]["editedAt"]) >= ts(edited["editedAt"])
    assert (await get_message(client, bob, sent["id"]))["content"] == "final text, v3"


async def test_only_the_author_may_edit(scene: Scene) -> None:
    client, alice = scene.client, scene["alice"]
    public = await send(client, alice, scene.lobby, "mine in public")
    private = await send(client, alice, scene.secret, "mine in private")
    expected = {
        # members of the room who are not the author, whatever their rank
        ("bob", "lobby"): "FORBIDDEN",
        ("owner", "lobby"): "FORBIDDEN",
        ("radmin", "lobby"): "FORBIDDEN",
        ("bob", "secret"): "FORBIDDEN",
        ("owner", "secret"): "FORBIDDEN",
        # non-members cannot even see the message: the same answer as for a missing one
        ("eve", "lobby"): "NOT_FOUND",
        ("eve", "secret"): "NOT_FOUND",
        ("radmin", "secret"): "NOT_FOUND",
        ("mod", "lobby"): "NOT_FOUND",
        ("boss", "secret"): "NOT_FOUND",
    }
    for (name, room), outcome in expected.items():
        target = public if room == "lobby" else private
        body = await client.post(UPDATE, edit_vars(target["id"], "hijacked"), scene[name].token)
        assert body["data"] is None, (name, room, body)
        assert code(body["errors"][0]) == outcome, (name, room, body)
    assert await error_code(client, UPDATE, edit_vars(public["id"], "x"), None) == (
        "UNAUTHENTICATED"
    )
    assert await error_code(client, UPDATE, edit_vars(UNKNOWN_ID, "x"), alice) == "NOT_FOUND"
    assert await error_code(client, UPDATE, edit_vars(MALFORMED_ID, "x"), alice) == (
        "BAD_USER_INPUT"
    )
    assert (await get_message(client, alice, public["id"]))["content"] == "mine in public"
    assert (await get_message(client, alice, private["id"]))["content"] == "mine in private"
    assert (await get_message(client, alice, public["id"]))["isEdited"] is False


async def test_edited_content_is_validated(scene: Scene) -> None:
    client, alice = scene.client, scene["alice"]
    sent = await send(client, alice, scene.lobby, "original")
    for content in ("", "   ", "\n\t ", "x" * 4001, "nul\x00byte", "bell\x07"):
        got = await error_code(client, UPDATE, edit_vars(sent["id"], content), alice)
        assert got == "BAD_USER_INPUT", repr(content)
    message = await get_message(client, alice, sent["id"])
    assert message["content"] == "original" and message["isEdited"] is False
    longest = (await client.data(UPDATE, edit_vars(sent["id"], "y" * 4000), alice.token))[
        "updateMessage"
    ]
    assert longest["content"] == "y" * 4000
    keeps = (await client.data(UPDATE, edit_vars(sent["id"], "line 1\n\tline 2"), alice.token))[
        "updateMessage"
    ]
    assert keeps["content"] == "line 1\n\tline 2"


async def test_delete_permission_matrix(scene: Scene) -> None:
    client, alice, owner, radmin = scene.client, scene["alice"], scene["owner"], scene["radmin"]
    allowed = ("alice", "owner", "radmin", "mod", "boss")  # author, owner, room admin, global
    for name in allowed:
        sent = await send(client, alice, scene.lobby, f"to be deleted by {name}")
        done = (await client.data(DELETE, {"i": sent["id"]}, scene[name].token))["deleteMessage"]
        assert done["id"] == sent["id"] and done["isDeleted"] is True, name
        assert done["content"] == "" and done["deletedAt"] is not None, name
    refused_by = {"bob": "FORBIDDEN", "eve": "NOT_FOUND", "": "UNAUTHENTICATED"}
    for who, outcome in refused_by.items():
        safe = await send(client, alice, scene.lobby, f"safe from {who or 'anonymous'}")
        account = scene[who] if who else None
        assert await error_code(client, DELETE, {"i": safe["id"]}, account) == outcome, who
        assert (await get_message(client, alice, safe["id"]))["isDeleted"] is False, who

    # a demoted room admin is a plain member again
    await client.data(
        SET_MEMBER_ROLE, {"r": scene.lobby, "u": radmin.id, "role": "MEMBER"}, owner.token
    )
    sent = await send(client, alice, scene.lobby, "safe from a former admin")
    assert await error_code(client, DELETE, {"i": sent["id"]}, radmin) == "FORBIDDEN"

    # a private room: its owner and global staff may, a stranger cannot tell it exists
    for name in ("owner", "mod", "boss"):
        sent = await send(client, alice, scene.secret, f"private, deleted by {name}")
        done = await client.data(DELETE, {"i": sent["id"]}, scene[name].token)
        assert done["deleteMessage"]["isDeleted"] is True, name
    sent = await send(client, alice, scene.secret, "private and safe")
    for name in ("eve", "radmin", "bob"):
        outcome = "FORBIDDEN" if name == "bob" else "NOT_FOUND"
        assert await error_code(client, DELETE, {"i": sent["id"]}, scene[name]) == outcome, name
    for account in (alice, scene["mod"]):
        assert await error_code(client, DELETE, {"i": UNKNOWN_ID}, account) == "NOT_FOUND"
        assert await error_code(client, DELETE, {"i": MALFORMED_ID}, account) == "BAD_USER_INPUT"


async def test_a_deleted_message_stays_as_a_tombstone(scene: Scene) -> None:
    client, alice, bob = scene.client, scene["alice"], scene["bob"]
    sent = [await send(client, alice, scene.lobby, f"m{i}") for i in range(3)]
    edited = await client.data(UPDATE, edit_vars(sent[1]["id"], "m1 edited"), alice.token)
    assert edited["updateMessage"]["isEdited"] is True
    await client.data(REACT, react_vars(sent[1]["id"], "👍"), bob.token)
    deleted = (await client.data(DELETE, {"i": sent[1]["id"]}, alice.token))["deleteMessage"]
    assert deleted["content"] == "" and deleted["isDeleted"] is True
    assert ts(deleted["deletedAt"]) >= ts(sent[1]["createdAt"])
    assert ts(deleted["updatedAt"]) == ts(deleted["deletedAt"])

    items = await history(client, bob, scene.lobby)
    assert [m["id"] for m in items] == [m["id"] for m in sent]
    tomb = items[1]
    assert (tomb["seq"], tomb["cursor"]) == (sent[1]["seq"], sent[1]["cursor"])
    assert tomb["content"] == "" and tomb["isDeleted"] is True and tomb["deletedAt"] is not None
    assert tomb["author"] == {"username": "alice"}
    assert [m["content"] for m in items] == ["m0", "", "m2"]
    assert (await get_message(client, bob, sent[1]["id"]))["isDeleted"] is True

    # pages still line up around the tombstone
    token, seen = None, []
    while True:
        page = (await client.data(HISTORY, {"r": scene.lobby, "l": 1, "t": token}, bob.token))[
            "messagesByRoom"
        ]
        seen += [m["seq"] for m in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == [m["seq"] for m in sent]

    # a tombstone is final
    for name in ("alice", "owner", "mod"):
        account = scene[name]
        got = await error_code(client, UPDATE, edit_vars(sent[1]["id"], "back"), account)
        assert got == ("NOT_FOUND" if name == "mod" else "BAD_USER_INPUT"), name  # mod: no member
        assert await error_code(client, DELETE, {"i": sent[1]["id"]}, account) == "BAD_USER_INPUT"
    assert await error_code(client, REACT, react_vars(sent[1]["id"], "🎉"), bob) == (
        "BAD_USER_INPUT"
    )
    assert (await get_message(client, alice, sent[1]["id"]))["content"] == ""


async def edits_and_deletes_flow(scene: Scene, protocol: str) -> None:
    client, alice, owner = scene.client, scene["alice"], scene["owner"]
    variables = {"r": scene.lobby}
    updates = await live_on(scene.server, protocol, scene["bob"], (ON_UPDATED, variables))
    deletes = await live_on(scene.server, protocol, scene["bob"], (ON_DELETED, variables))
    sent = await send(client, alice, scene.lobby, "draft")

    edited = (await client.data(UPDATE, edit_vars(sent["id"], " final "), alice.token))[
        "updateMessage"
    ]
    got = await event(updates, "onMessageUpdated")
    assert got == edited
    assert got["content"] == "final" and got["isEdited"] is True
    assert (got["seq"], got["cursor"], got["chatRoomId"]) == (
        sent["seq"],
        sent["cursor"],
        scene.lobby,
    )
    await deletes.nothing_within(QUIET)  # an edit is not a deletion

    gone = (await client.data(DELETE, {"i": sent["id"]}, owner.token))["deleteMessage"]
    got = await event(deletes, "onMessageDeleted")
    assert got == gone
    assert got["content"] == "" and got["isDeleted"] is True and got["seq"] == sent["seq"]
    await updates.nothing_within(QUIET)  # a deletion is not an edit
    await deletes.nothing_within(0.1)
    await updates.close()
    await deletes.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_edits_and_deletes_are_delivered_live(any_scene: Scene, protocol: str) -> None:
    await edits_and_deletes_flow(any_scene, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_room_streams_are_for_members_only(scene: Scene, protocol: str) -> None:
    sock = await live(scene.server, protocol, scene["eve"])
    for field, query in ROOM_STREAMS.items():
        assert await refused(sock, query, {"r": scene.lobby}) == "FORBIDDEN", field
        assert await refused(sock, query, {"r": scene.secret}) == "NOT_FOUND", field
        assert await refused(sock, query, {"r": UNKNOWN_ID}) == "NOT_FOUND", field
        assert await refused(sock, query, {"r": MALFORMED_ID}) == "BAD_USER_INPUT", field
    # nothing of those refused streams is left running
    await send(scene.client, scene["alice"], scene.lobby, "after the refusals")
    await scene.client.data(START_TYPING, {"r": scene.secret}, scene["alice"].token)
    await sock.nothing_within(QUIET)
    await sock.close()


# ================================================================ 2. threads
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_replies_form_a_thread_paged_oldest_first(any_scene: Scene, protocol: str) -> None:
    scene = any_scene
    client, alice, bob = scene.client, scene["alice"], scene["bob"]
    watcher = await live_on(
        scene.server, protocol, scene["owner"], (ON_CREATED, {"r": scene.lobby})
    )
    root = await send(client, alice, scene.lobby, "root")
    aside = await send(client, bob, scene.lobby, "not in the thread")
    replies = []
    for i in range(5):
        author = bob if i % 2 == 0 else alice
        data = await client.data(
            SEND_REPLY,
            {"i": {"chatRoomId": scene.lobby, "content": f"r{i}", "replyToId": root["id"]}},
            author.token,
        )
        reply = data["createMessage"]
        assert reply["replyToId"] == root["id"]
        assert reply["replyTo"] == {"id": root["id"], "content": "root"}
        assert reply["replyCount"] == 0
        replies.append(reply)
        await send(client, alice, scene.lobby, f"chatter {i}")  # interleaved, not in the thread

    live_events = [await event(watcher, "onMessageCreated") for _ in range(12)]
    live_replies = [m for m in live_events if m["replyToId"] is not None]
    assert [m["id"] for m in live_replies] == [r["id"] for r in replies]
    assert all(m["replyTo"] == {"id": root["id"], "content": "root"} for m in live_replies)
    await watcher.close()

    async def page(limit: int | None, token: str | None) -> dict[str, Any]:
        data = await client.data(THREAD, {"m": root["id"], "l": limit, "t": token}, bob.token)
        return data["getMessage"]  # type: ignore[no-any-return]

    whole = await page(None, None)
    assert whole["replyCount"] == 5
    assert [m["content"] for m in whole["replies"]["items"]] == [f"r{i}" for i in range(5)]
    assert whole["replies"]["nextToken"] is None
    assert all(m["replyTo"] == {"id": root["id"]} for m in whole["replies"]["items"])

    seen, token, sizes = [], None, []
    while True:
        got = (await page(2, token))["replies"]
        sizes.append(len(got["items"]))
        seen += [m["id"] for m in got["items"]]
        token = got["nextToken"]
        if token is None:
            break
    assert sizes == [2, 2, 1] and seen == [r["id"] for r in replies]
    exact = (await page(5, None))["replies"]
    assert len(exact["items"]) == 5 and exact["nextToken"] is None

    aside_thread = (await client.data(THREAD, {"m": aside["id"]}, bob.token))["getMessage"]
    assert aside_thread["replyCount"] == 0 and aside_thread["replies"]["items"] == []

    # a reply to a reply starts its own thread; a deleted reply stays in place as a tombstone
    nested = await send(client, alice, scene.lobby, "nested", reply_to=replies[0]["id"])
    assert nested["replyToId"] == replies[0]["id"]
    first = (await client.data(THREAD, {"m": replies[0]["id"]}, bob.token))["getMessage"]
    assert first["replyCount"] == 1 and [m["id"] for m in first["replies"]["items"]] == [
        nested["id"]
    ]
    await client.data(DELETE, {"i": replies[2]["id"]}, scene["owner"].token)
    after = await page(None, None)
    assert after["replyCount"] == 5
    assert [m["isDeleted"] for m in after["replies"]["items"]] == [False, False, True, False, False]
    assert [m["content"] for m in after["replies"]["items"]][2] == ""


async def test_replies_must_point_into_the_same_room(scene: Scene) -> None:
    client, alice, eve = scene.client, scene["alice"], scene["eve"]
    root = await send(client, alice, scene.lobby, "root")
    elsewhere = await send(client, alice, scene.secret, "in another room")
    before = await history(client, alice, scene.lobby)

    def reply(room: str, parent: Any, content: str = "reply") -> dict[str, Any]:
        return {"i": {"chatRoomId": room, "content": content, "replyToId": parent}}

    for parent in (elsewhere["id"], UNKNOWN_ID, MALFORMED_ID, root["id"].upper(), " " + root["id"]):
        got = await error_code(client, SEND, reply(scene.lobby, parent), alice)
        assert got == "BAD_USER_INPUT", parent
    # the reply to a room's message posted elsewhere is refused the same way
    assert await error_code(client, SEND, reply(scene.secret, root["id"]), alice) == (
        "BAD_USER_INPUT"
    )
    # a stranger learns nothing: the room check comes first
    assert await error_code(client, SEND, reply(scene.secret, elsewhere["id"]), eve) == (
        "NOT_FOUND"
    )
    assert await error_code(client, SEND, reply(scene.lobby, root["id"]), eve) == "FORBIDDEN"
    assert await error_code(client, SEND, reply(scene.lobby, root["id"], "  "), alice) == (
        "BAD_USER_INPUT"
    )
    assert await history(client, alice, scene.lobby) == before

    thread = (await client.data(THREAD, {"m": root["id"]}, alice.token))["getMessage"]
    assert thread["replyCount"] == 0

    # thread paging arguments
    for limit in (0, -1, 101):
        got = await error_code(client, THREAD, {"m": root["id"], "l": limit}, alice)
        assert got == "BAD_USER_INPUT", limit
    other_root = await send(client, alice, scene.lobby, "other root")
    for i in range(3):
        await send(client, alice, scene.lobby, f"o{i}", reply_to=other_root["id"])
    other_token = (await client.data(THREAD, {"m": other_root["id"], "l": 1}, alice.token))[
        "getMessage"
    ]["replies"]["nextToken"]
    assert other_token is not None
    for token in (other_token, "garbage", ""):
        got = await error_code(client, THREAD, {"m": root["id"], "l": 1, "t": token}, alice)
        assert got == "BAD_USER_INPUT", token


async def test_an_empty_reply_to_id_is_malformed(scene: Scene) -> None:
    client, alice = scene.client, scene["alice"]
    body = await client.post(
        SEND, {"i": {"chatRoomId": scene.lobby, "content": "hi", "replyToId": ""}}, alice.token
    )
    assert body["data"] is None and code(body["errors"][0]) == "BAD_USER_INPUT", body
    assert await history(client, alice, scene.lobby) == []


# ================================================================ 3. reactions
ACCEPTED_EMOJI = (
    "👍",
    "👍🏽",
    "👨‍👩‍👧",
    "🇫🇷",
    "1️⃣",
    "#⃣",
    "❤️",
    "🏳️‍🌈",
    ":tada:",
    ":+1:",
    ":-1:",
    ":a:",
    ":" + "x" * 30 + ":",  # 32 characters in all
)
REJECTED_EMOJI = (
    "",
    " ",
    "ab",
    "a",
    "1",
    "👍👍",
    "👍a",
    "👍\u200d",
    "\u200d👍",
    "🇫🇷🇫🇷",
    "<script>",
    ":" + "x" * 31 + ":",  # 33 characters
    ":Tada:",  # shortcodes are lower case
    ":ta da:",
    "::",
    ":tada",
    "tada:",
    ":tada::tada:",
    "👍\x00",
)


async def test_emoji_must_be_one_emoji_or_a_shortcode(scene: Scene) -> None:
    client, alice, bob = scene.client, scene["alice"], scene["bob"]
    message = await send(client, alice, scene.lobby, "react to me")
    for emoji in ACCEPTED_EMOJI:
        done = await client.data(REACT, react_vars(message["id"], emoji), bob.token)
        assert done["createReaction"]["emoji"] == emoji, emoji
    for emoji in REJECTED_EMOJI:
        got = await error_code(client, REACT, react_vars(message["id"], emoji), bob)
        assert got == "BAD_USER_INPUT", repr(emoji)
        got = await error_code(client, UNREACT, {"m": message["id"], "e": emoji}, bob)
        assert got == "BAD_USER_INPUT", repr(emoji)
    stored = await groups(client, bob, message["id"])
    assert [g["emoji"] for g in stored] == list(ACCEPTED_EMOJI)
    assert all(g["count"] == 1 and g["reactedByMe"] for g in stored)

    # surrounding white space is trimmed (clean_emoji strips), so it is the same reaction
    padded = await client.data(REACT, react_vars(message["id"], " 👍 "), bob.token)
    assert padded["createReaction"]["emoji"] == "👍"
    assert (await groups(client, bob, message["id"]))[0] == {
        "emoji": "👍",
        "count": 1,
        "reactedByMe": True,
        "users": [{"username": "bob"}],
    }
    assert (await client.data(UNREACT, {"m": message["id"], "e": "👍 "}, bob.token))[
        "deleteReaction"
    ] is True


async def test_reactions_are_grouped_per_emoji_for_each_viewer(any_scene: Scene) -> None:
    scene = any_scene
    client, alice, bob, owner = scene.client, scene["alice"], scene["bob"], scene["owner"]
    message = await send(client, alice, scene.lobby, "party?")
    other = await send(client, alice, scene.lobby, "no reactions here")

    made = (await client.data(REACT, react_vars(message["id"], "👍"), alice.token))[
        "createReaction"
    ]
    assert made["messageId"] == message["id"] and made["chatRoomId"] == scene.lobby
    assert made["userId"] == alice.id and made["user"] == {"username": "alice"}
    assert made["emoji"] == "👍"
    await client.data(REACT, react_vars(message["id"], ":tada:"), bob.token)
    await client.data(REACT, react_vars(message["id"], "👍"), bob.token)
    for _ in range(2):  # repeats change nothing
        again = await client.data(REACT, react_vars(message["id"], "👍"), alice.token)
        assert again["createReaction"]["id"] == made["id"]

    def view(*rows: tuple[str, int, bool, list[str]]) -> list[dict[str, Any]]:
        return [
            {"emoji": e, "count": n, "reactedByMe": mine, "users": [{"username": u} for u in us]}
            for e, n, mine, us in rows
        ]

    assert await groups(client, alice, message["id"]) == view(
        ("👍", 2, True, ["alice", "bob"]), (":tada:", 1, False, ["bob"])
    )
    assert await groups(client, bob, message["id"]) == view(
        ("👍", 2, True, ["alice", "bob"]), (":tada:", 1, True, ["bob"])
    )
    assert await groups(client, owner, message["id"], limit=1) == view(
        ("👍", 2, False, ["alice"]), (":tada:", 1, False, ["bob"])
    )
    assert await groups(client, owner, other["id"]) == []
    batched = (await client.data(HISTORY_GROUPS, {"r": scene.lobby}, bob.token))["messagesByRoom"]
    assert [m["reactions"] for m in batched["items"]] == [
        [
            {"emoji": "👍", "count": 2, "reactedByMe": True},
            {"emoji": ":tada:", "count": 1, "reactedByMe": True},
        ],
        [],
    ]
    for limit in (0, 101):
        got = await error_code(client, GROUPS, {"m": message["id"], "l": limit}, alice)
        assert got == "BAD_USER_INPUT", limit

    # removing: only one's own, once; an emptied group disappears
    assert (await client.data(UNREACT, {"m": message["id"], "e": "👍"}, alice.token))[
        "deleteReaction"
    ] is True
    assert (await client.data(UNREACT, {"m": message["id"], "e": "👍"}, alice.token))[
        "deleteReaction"
    ] is False
    assert (await client.data(UNREACT, {"m": message["id"], "e": "🔥"}, owner.token))[
        "deleteReaction"
    ] is False
    # groups follow their earliest remaining reaction: bob's 👍 came after his :tada:
    assert await groups(client, alice, message["id"]) == view(
        (":tada:", 1, False, ["bob"]), ("👍", 1, False, ["bob"])
    )
    await client.data(UNREACT, {"m": message["id"], "e": ":tada:"}, bob.token)
    assert await groups(client, alice, message["id"]) == view(("👍", 1, False, ["bob"]))


async def test_only_members_may_react(scene: Scene) -> None:
    client, alice, bob, eve = scene.client, scene["alice"], scene["bob"], scene["eve"]
    public = await send(client, alice, scene.lobby, "public")
    private = await send(client, alice, scene.secret, "private")
    await client.data(REACT, react_vars(public["id"], "👍"), bob.token)
    await client.data(REACT, react_vars(private["id"], "👍"), bob.token)
    for target in (public, private):
        assert await error_code(client, REACT, react_vars(target["id"], "👍"), eve) == "NOT_FOUND"
        got = await error_code(client, UNREACT, {"m": target["id"], "e": "👍"}, eve)
        assert got == "NOT_FOUND"
        assert (await client.data(GROUPS, {"m": target["id"]}, eve.token))["getMessage"] is None
        got = await error_code(client, REACT, react_vars(target["id"], "👍"), None)
        assert got == "UNAUTHENTICATED"
    # global staff do not react where they are not members either
    assert await error_code(client, REACT, react_vars(private["id"], "👍"), scene["mod"]) == (
        "NOT_FOUND"
    )
    assert await error_code(client, REACT, react_vars(UNKNOWN_ID, "👍"), alice) == "NOT_FOUND"
    assert await error_code(client, REACT, react_vars(MALFORMED_ID, "👍"), alice) == (
        "BAD_USER_INPUT"
    )
    got = await error_code(client, UNREACT, {"m": MALFORMED_ID, "e": "👍"}, alice)
    assert got == "BAD_USER_INPUT"
    # leaving the room ends the right to react
    await client.data("mutation($r: ID!) { leaveRoom(roomId: $r) }", {"r": scene.lobby}, bob.token)
    assert await error_code(client, REACT, react_vars(public["id"], "🎉"), bob) == "NOT_FOUND"
    for target in (public, private):
        assert await groups(client, alice, target["id"]) == [
            {"emoji": "👍", "count": 1, "reactedByMe": False, "users": [{"username": "bob"}]}
        ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reactions_are_delivered_live(any_scene: Scene, protocol: str) -> None:
    scene = any_scene
    client, alice, bob = scene.client, scene["alice"], scene["bob"]
    variables = {"r": scene.lobby}
    added = await live_on(scene.server, protocol, bob, (ON_REACTION_ADDED, variables))
    removed = await live_on(scene.server, protocol, bob, (ON_REACTION_REMOVED, variables))
    message = await send(client, bob, scene.lobby, "react to me")

    made = (await client.data(REACT, react_vars(message["id"], "👍🏽"), alice.token))[
        "createReaction"
    ]
    got = await event(added, "onReactionAdded")
    assert {k: got[k] for k in ("id", "messageId", "chatRoomId", "emoji", "userId", "user")} == {
        k: made[k] for k in ("id", "messageId", "chatRoomId", "emoji", "userId", "user")
    }
    assert got["emoji"] == "👍🏽" and got["user"] == {"username": "alice"}
    await client.data(REACT, react_vars(message["id"], "👍🏽"), alice.token)  # a repeat
    await added.nothing_within(QUIET)
    await removed.nothing_within(0.05)

    assert (await client.data(UNREACT, {"m": message["id"], "e": "👍🏽"}, alice.token))[
        "deleteReaction"
    ]
    gone = await event(removed, "onReactionRemoved")
    assert (gone["id"], gone["messageId"], gone["chatRoomId"], gone["emoji"]) == (
        made["id"],
        message["id"],
        scene.lobby,
        "👍🏽",
    )
    assert gone["userId"] == alice.id and gone["user"] == {"username": "alice"}
    await client.data(UNREACT, {"m": message["id"], "e": "👍🏽"}, alice.token)  # nothing to remove
    await removed.nothing_within(QUIET)
    await added.nothing_within(0.05)

    # a shortcode with ':' inside the key survives the trip as well
    await client.data(REACT, react_vars(message["id"], ":+1:"), scene["owner"].token)
    assert (await event(added, "onReactionAdded"))["emoji"] == ":+1:"
    await client.data(UNREACT, {"m": message["id"], "e": ":+1:"}, scene["owner"].token)
    assert (await event(removed, "onReactionRemoved"))["emoji"] == ":+1:"
    await added.close()
    await removed.close()


# ================================================================ 4. typing
async def typing_flow(scene: Scene, protocol: str) -> None:
    client, alice, bob = scene.client, scene["alice"], scene["bob"]
    variables = {"r": scene.lobby}
    started = await live_on(scene.server, protocol, bob, (ON_TYPING_STARTED, variables))
    ended = await live_on(scene.server, protocol, bob, (ON_TYPING_ENDED, variables))

    assert (await client.data(START_TYPING, variables, alice.token))["startTyping"] is True
    first = await event(started, "onTypingStarted")
    assert {k: first[k] for k in ("userId", "userName", "chatRoomId")} == {
        "userId": alice.id,
        "userName": "alice",
        "chatRoomId": scene.lobby,
    }
    assert ts(first["timestamp"]).tzinfo is not None
    await client.data(START_TYPING, variables, alice.token)  # a refresh
    await started.nothing_within(QUIET)
    await ended.nothing_within(0.05)

    assert (await client.data(STOP_TYPING, variables, alice.token))["stopTyping"] is True
    stop = await event(ended, "onTypingEnded")
    assert (stop["userId"], stop["userName"], stop["chatRoomId"]) == (
        alice.id,
        "alice",
        scene.lobby,
    )
    assert ts(stop["timestamp"]) >= ts(first["timestamp"])
    await client.data(STOP_TYPING, variables, alice.token)  # not typing: nothing to end
    await ended.nothing_within(QUIET)

    # sending a message ends it too; someone else typing is a separate indicator
    await client.data(START_TYPING, variables, alice.token)
    await client.data(START_TYPING, variables, scene["owner"].token)
    who = {(await event(started, "onTypingStarted"))["userId"] for _ in range(2)}
    assert who == {alice.id, scene["owner"].id}
    await send(client, alice, scene.lobby, "done typing")
    assert (await event(ended, "onTypingEnded"))["userId"] == alice.id
    await ended.nothing_within(QUIET)  # the owner is still typing
    await client.data(STOP_TYPING, variables, scene["owner"].token)
    assert (await event(ended, "onTypingEnded"))["userId"] == scene["owner"].id
    await started.nothing_within(0.05)
    await started.close()
    await ended.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_typing_starts_refreshes_and_ends(any_scene: Scene, protocol: str) -> None:
    await typing_flow(any_scene, protocol)


def sqlite_row_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        ]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


async def mongo_counts(scene: Scene) -> dict[str, int]:
    db = scene.mongo["chatql_test"]
    names = [n for n in WATCHED_COLLECTIONS if n != "events"] + ["connections", "room_watches"]
    return {n: await db[n].count_documents({}) for n in names}


@pytest.mark.parametrize("kind", ["sqlite", "mongoeco"])
async def test_a_typing_indicator_ends_by_itself_and_is_not_kept(
    settings: Settings, tmp_path: Path, kind: str
) -> None:
    """Regression: typing indicators were stored for good and never ended on their own."""
    quick = replace(settings, typing_timeout=1.0)
    async with staged(quick, kind, tmp_path) as scene:
        client, alice = scene.client, scene["alice"]
        variables = {"r": scene.lobby}
        # one stream on each subprotocol
        bob = scene["bob"]
        started = await live_on(scene.server, TRANSPORT_WS, bob, (ON_TYPING_STARTED, variables))
        ended = await live_on(scene.server, LEGACY_WS, bob, (ON_TYPING_ENDED, variables))
        before = (
            sqlite_row_counts(tmp_path / "chat.db")
            if kind == "sqlite"
            else await mongo_counts(scene)
        )

        began = time.monotonic()
        await client.data(START_TYPING, variables, alice.token)
        assert (await event(started, "onTypingStarted"))["userId"] == alice.id
        await asyncio.sleep(0.5)
        refreshed = time.monotonic()
        await client.data(START_TYPING, variables, alice.token)  # extends the deadline
        stop = await event(ended, "onTypingEnded", timeout=3)
        done = time.monotonic()
        assert stop["userId"] == alice.id and stop["chatRoomId"] == scene.lobby
        assert done - refreshed >= 0.8, "ended before the refreshed deadline"
        assert done - began <= 3.0
        await started.nothing_within(0.1)
        await ended.nothing_within(0.1)

        # and it can start again afterwards
        await client.data(START_TYPING, variables, alice.token)
        assert (await event(started, "onTypingStarted"))["userId"] == alice.id
        assert (await event(ended, "onTypingEnded", timeout=3))["userId"] == alice.id

        if kind == "sqlite":
            assert sqlite_row_counts(tmp_path / "chat.db") == before
            assert not any("typing" in t for t in before)
        else:
            assert await mongo_counts(scene) == before
            # the ephemeral events other processes read expire on their own
            indexes = await scene.mongo["chatql_test"]["events"].index_information()
            ttls = [i.get("expireAfterSeconds") for i in indexes.values()]
            assert any(t is not None and 0 < t <= 60 for t in ttls), indexes
        await started.close()
        await ended.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_typing_is_for_members_and_stays_in_its_room(scene: Scene, protocol: str) -> None:
    client, alice, bob, eve = scene.client, scene["alice"], scene["bob"], scene["eve"]
    for mutation in (START_TYPING, STOP_TYPING):
        assert await error_code(client, mutation, {"r": scene.lobby}, eve) == "FORBIDDEN"
        assert await error_code(client, mutation, {"r": scene.secret}, eve) == "NOT_FOUND"
        assert await error_code(client, mutation, {"r": UNKNOWN_ID}, alice) == "NOT_FOUND"
        assert await error_code(client, mutation, {"r": MALFORMED_ID}, alice) == "BAD_USER_INPUT"
        assert await error_code(client, mutation, {"r": scene.lobby}, None) == "UNAUTHENTICATED"

    yard = {"r": scene.yard}
    lobby = {"r": scene.lobby}
    eves = await live_on(
        scene.server, protocol, eve, (ON_TYPING_STARTED, yard), (ON_TYPING_ENDED, yard)
    )
    bobs = await live_on(
        scene.server, protocol, bob, (ON_TYPING_STARTED, lobby), (ON_TYPING_ENDED, lobby)
    )
    await client.data(START_TYPING, lobby, alice.token)
    await client.data(STOP_TYPING, lobby, alice.token)
    await client.data(START_TYPING, {"r": scene.secret}, alice.token)
    await client.data(STOP_TYPING, {"r": scene.secret}, alice.token)
    got = await take(bobs, 2)
    assert sorted((f, e["userId"], e["chatRoomId"]) for f, e in got) == [
        ("onTypingEnded", alice.id, scene.lobby),
        ("onTypingStarted", alice.id, scene.lobby),
    ]
    await eves.nothing_within(QUIET)

    await client.data(START_TYPING, yard, eve.token)
    await send(client, eve, scene.yard, "anyone?")
    got = await take(eves, 2)
    assert sorted((f, e["userId"], e["chatRoomId"]) for f, e in got) == [
        ("onTypingEnded", eve.id, scene.yard),
        ("onTypingStarted", eve.id, scene.yard),
    ]
    await bobs.nothing_within(QUIET)
    await eves.close()
    await bobs.close()


# ================================================================ 5. private-room leak regression
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_private_rooms_events_reach_its_members_and_nobody_else(
    any_scene: Scene, protocol: str
) -> None:
    """Regression: events of private rooms leaked to users subscribed elsewhere."""
    scene = any_scene
    client, alice, bob, eve = scene.client, scene["alice"], scene["bob"], scene["eve"]
    await client.join(eve, scene.lobby)
    secret, lobby = {"r": scene.secret}, {"r": scene.lobby}
    # eve: everything she is allowed to watch, on one socket, in two public rooms
    eves = await live_on(
        scene.server,
        protocol,
        eve,
        (ON_MY_ROOMS, {}),
        (ON_NOTIFICATION, {}),
        *[(query, lobby) for query in ROOM_STREAMS.values()],
        *[(query, {"r": scene.yard}) for query in ROOM_STREAMS.values()],
    )
    # eve cannot open the private room's streams, and the attempt changes nothing
    probe = await live(scene.server, protocol, eve)
    for field, query in ROOM_STREAMS.items():
        assert await refused(probe, query, secret) == "NOT_FOUND", field
    # bob, a member: every stream of the private room; and the lobby's too, which stay quiet
    bobs = await live_on(
        scene.server, protocol, bob, *[(query, secret) for query in ROOM_STREAMS.values()]
    )
    bobs_lobby = await live_on(
        scene.server, protocol, bob, *[(query, lobby) for query in ROOM_STREAMS.values()]
    )

    m = await send(client, alice, scene.secret, "secret plans, @eve must not know")
    await client.data(UPDATE, edit_vars(m["id"], "edited secret plans @eve"), alice.token)
    await client.data(REACT, react_vars(m["id"], "🤫"), alice.token)
    await client.data(UNREACT, {"m": m["id"], "e": "🤫"}, alice.token)
    await client.data(START_TYPING, secret, alice.token)
    await client.data(STOP_TYPING, secret, alice.token)
    await send(client, alice, scene.secret, "a reply in the secret thread", reply_to=m["id"])
    await client.data(DELETE, {"i": m["id"]}, scene["owner"].token)

    got = await take(bobs, 8)
    assert sorted(field for field, _ in got) == sorted(
        [  # across streams, order may vary
            "onMessageCreated",
            "onMessageUpdated",
            "onReactionAdded",
            "onReactionRemoved",
            "onTypingStarted",
            "onTypingEnded",
            "onMessageCreated",
            "onMessageDeleted",
        ]
    )
    assert all(value["chatRoomId"] == scene.secret for _, value in got)
    await bobs.nothing_within(QUIET)
    await bobs_lobby.nothing_within(0.05)
    await eves.nothing_within(0.05)
    await probe.nothing_within(0.05)

    # eve's socket is alive: a lobby message reaches her, exactly once, and nothing else does
    sent = await send(client, bob, scene.lobby, "hello lobby")
    ((field, value),) = await take(eves, 1)
    assert field == "onMessageCreated" and value["id"] == sent["id"]
    await eves.nothing_within(QUIET)
    notes = await client.data("{ listNotifications { items { chatRoomId } } }", {}, eve.token)
    assert all(n["chatRoomId"] != scene.secret for n in notes["listNotifications"]["items"])
    for sock in (eves, probe, bobs, bobs_lobby):
        await sock.close()
