"""Social features end to end, over real sockets: presence, notifications, read state, global
roles and room moderation, rate limits, and the membership streams.

Every test talks to a real uvicorn on loopback with httpx and raw WebSockets. Subscriptions are
checked on both subprotocols; the core presence and notification flows also run on MongoDB
(mongoeco in process).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets

from chatql.config import Settings
from chatql.services.pagination import message_cursor
from tests.conftest import make_store, mongoeco_client
from tests.helpers import (
    ON_MESSAGE,
    PROTOCOLS,
    TRANSPORT_WS,
    Account,
    Client,
    Server,
    Socket,
    running_server,
)

SETTLE = 0.2  # lets a subscribe frame reach the server before the event under test
UNKNOWN_ID = "0" * 32

# ---------------------------------------------------------------- operations
ON_PRESENCE = (
    "subscription { onUserPresenceChanged "
    "{ userId status lastSeen currentRoomId user { id username } } }"
)
ON_NOTIFICATION = (
    "subscription { onNotificationReceived "
    "{ id type chatRoomId messageId isRead actor { id username } } }"
)
ON_JOINED = (
    "subscription($r: ID!) { onRoomJoined(roomId: $r) "
    "{ chatRoomId userId role user { id username } } }"
)
ON_LEFT = (
    "subscription($r: ID!) { onRoomLeft(roomId: $r) "
    "{ chatRoomId userId role user { id username } } }"
)
ON_MY_ROOMS = (
    "subscription { onMyRoomsChanged { type chatRoomId room { id name isDirect myRole } } }"
)

GET_USER = "query($u: ID!) { getUser(id: $u) { id status lastSeen role } }"
GET_PRESENCE = (
    "query($u: ID!) { getUserPresence(userId: $u) "
    "{ userId status lastSeen currentRoomId user { username } } }"
)
UPDATE_PRESENCE = (
    "mutation($s: PresenceStatus!, $r: ID) { updatePresence(status: $s, currentRoom: $r) "
    "{ userId status currentRoomId } }"
)
NOTE_FIELDS = (
    "id type chatRoomId messageId createdAt readAt isRead actor { id username } "
    "chatRoom { id name } message { id content }"
)
LIST_NOTES = (
    "query($u: Boolean!, $l: Int, $t: String) "
    "{ listNotifications(unreadOnly: $u, limit: $l, nextToken: $t) "
    f"{{ items {{ {NOTE_FIELDS} }} nextToken }} }}"
)
MARK_NOTE = f"mutation($i: ID!) {{ markNotificationAsRead(id: $i) {{ {NOTE_FIELDS} }} }}"
MARK_ALL = "mutation { markAllNotificationsAsRead }"
DELETE_NOTE = "mutation($i: ID!) { deleteNotification(id: $i) }"
SET_MUTED = "mutation($r: ID!, $m: Boolean!) { setRoomMuted(roomId: $r, muted: $m) { id isMuted } }"
DIRECT = "mutation($u: ID!) { startDirectChat(userId: $u) { id isDirect } }"
ADD_MEMBER = "mutation($r: ID!, $u: ID!) { addRoomMember(roomId: $r, userId: $u) { id } }"
LEAVE = "mutation($r: ID!) { leaveRoom(roomId: $r) }"
JOIN = "mutation($r: ID!) { joinRoom(roomId: $r) { id } }"
ROOM_STATE = "id unreadCount lastReadCursor messageCount"
MARK_ROOM_READ = (
    f"mutation($r: ID!, $c: String!) {{ markRoomRead(chatRoomId: $r, cursor: $c) "
    f"{{ {ROOM_STATE} }} }}"
)
GET_ROOM = (
    "query($r: ID!) { getChatRoom(id: $r) "
    "{ id name description isPrivate myRole unreadCount lastReadCursor } }"
)
LIST_ROOMS = (
    f"query($l: Int, $t: String) {{ listChatRooms(limit: $l, nextToken: $t) "
    f"{{ items {{ {ROOM_STATE} name }} nextToken }} }}"
)
DELETE_MESSAGE = "mutation($i: ID!) { deleteMessage(id: $i) { id isDeleted } }"
SET_ROLE = "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { id role } }"
UPDATE_ROOM = (
    "mutation($i: UpdateChatRoomInput!) { updateChatRoom(input: $i) "
    "{ id name description isPrivate } }"
)
DELETE_ROOM = "mutation($r: ID!) { deleteChatRoom(id: $r) }"
SET_MEMBER_ROLE = (
    "mutation($r: ID!, $u: ID!, $role: RoomRole!) "
    "{ setRoomMemberRole(roomId: $r, userId: $u, role: $role) { id } }"
)
REMOVE = "mutation($r: ID!, $u: ID!) { removeRoomMember(roomId: $r, userId: $u) }"
BAN = "mutation($r: ID!, $u: ID!, $t: DateTime) { banFromRoom(roomId: $r, userId: $u, until: $t) }"
UNBAN = "mutation($r: ID!, $u: ID!) { unbanFromRoom(roomId: $r, userId: $u) }"
MUTE = "mutation($r: ID!, $u: ID!, $t: DateTime) { muteInRoom(roomId: $r, userId: $u, until: $t) }"
UNMUTE = "mutation($r: ID!, $u: ID!) { unmuteInRoom(roomId: $r, userId: $u) }"
SEND = (
    "mutation($r: ID!, $c: String!) "
    "{ createMessage(input: {chatRoomId: $r, content: $c}) { id seq cursor } }"
)
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }"


# ---------------------------------------------------------------- helpers
def code(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


async def error_code(
    client: Client, query: str, variables: dict[str, Any], account: Account | None
) -> str:
    return code(await client.error(query, variables, account.token if account else None))


async def live(server: Server, protocol: str, account: Account) -> Socket:
    sock = await Socket.connect(server, protocol, account.token)
    await sock.ack()
    return sock


async def live_on(
    server: Server,
    protocol: str,
    account: Account,
    query: str,
    variables: dict[str, Any] | None = None,
) -> Socket:
    """A socket of `account` with one subscription, given time to reach the server."""
    sock = await live(server, protocol, account)
    await sock.subscribe(query, variables or {})
    await asyncio.sleep(SETTLE)
    return sock


async def event(sock: Socket, field: str, timeout: float = 5) -> dict[str, Any]:
    payload = await sock.next_payload(timeout)
    assert "errors" not in payload, payload
    return payload["data"][field]  # type: ignore[no-any-return]


async def operation_error(sock: Socket) -> dict[str, Any]:
    """The error a subscription fails with, as an `error` frame or an errored payload."""
    frame = await sock.recv()
    if frame["type"] == "error":
        payload = frame["payload"]
        return payload[0] if isinstance(payload, list) else payload  # type: ignore[no-any-return]
    assert frame["type"] in ("next", "data"), frame
    errors = frame["payload"].get("errors")
    assert errors, frame
    return errors[0]  # type: ignore[no-any-return]


async def ends_forbidden(sock: Socket) -> None:
    """The subscription reports FORBIDDEN once, then completes; nothing follows."""
    error = await operation_error(sock)
    assert code(error) == "FORBIDDEN", error
    assert (await sock.recv())["type"] == "complete"
    await sock.nothing_within(0.2)


async def user_status(client: Client, viewer: Account, user: Account) -> dict[str, Any]:
    data = await client.data(GET_USER, {"u": user.id}, viewer.token)
    return data["getUser"]  # type: ignore[no-any-return]


async def notes(
    client: Client, account: Account, unread_only: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    data = await client.data(LIST_NOTES, {"u": unread_only, "l": limit}, account.token)
    return data["listNotifications"]["items"]  # type: ignore[no-any-return]


async def room_state(client: Client, account: Account, room: str) -> Any:
    """The room as `account` sees it; None when hidden or gone."""
    return (await client.data(GET_ROOM, {"r": room}, account.token))["getChatRoom"]


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


@pytest.fixture(params=["sqlite", "mongoeco"])
async def any_server(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Server]:
    """The same server on SQLite and on MongoDB (mongoeco)."""
    if request.param == "sqlite":
        async with running_server(settings) as server:
            yield server
        return
    mongo = replace(settings, database_url="mongodb://localhost/chatql_test")
    async with running_server(mongo, make_store("mongoeco", tmp_path)) as server:
        yield server


# ================================================================ 1. presence
async def presence_flow(server: Server, protocol: str) -> None:
    client = Client(server)
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    await client.create_room(alice, "shared", members=[bob.id])
    start = await user_status(client, bob, alice)
    assert start["status"] == "OFFLINE" and start["lastSeen"] is None

    watcher = await live_on(server, protocol, bob, ON_PRESENCE)
    first = await live(server, protocol, alice)
    online = await event(watcher, "onUserPresenceChanged")
    assert online["userId"] == alice.id and online["status"] == "ONLINE"
    assert online["user"]["username"] == "alice"
    assert (await user_status(client, bob, alice))["status"] == "ONLINE"

    second = await live(server, protocol, alice)  # two sockets: closing one keeps her ONLINE
    stranger = await live(server, protocol, carol)  # shares no room with bob
    await first.close()
    await stranger.close()
    await asyncio.sleep(0.45)  # more than the grace period
    assert (await user_status(client, bob, alice))["status"] == "ONLINE"
    assert (await user_status(client, carol, carol))["status"] == "OFFLINE"

    await second.close()  # the last socket, then a reconnect within the grace period
    third = await live(server, protocol, alice)
    await asyncio.sleep(0.45)
    assert (await user_status(client, bob, alice))["status"] == "ONLINE"

    away = await client.data(UPDATE_PRESENCE, {"s": "AWAY"}, alice.token)
    assert away["updatePresence"]["status"] == "AWAY"
    # Feed order: had anything been delivered about carol, or an OFFLINE about alice, it
    # would arrive before this.
    changed = await event(watcher, "onUserPresenceChanged")
    assert (changed["userId"], changed["status"]) == (alice.id, "AWAY")

    await third.close()
    offline = await event(watcher, "onUserPresenceChanged")
    assert (offline["userId"], offline["status"]) == (alice.id, "OFFLINE")
    assert offline["lastSeen"] is not None
    after = await user_status(client, bob, alice)
    assert after["status"] == "OFFLINE" and after["lastSeen"] is not None
    await watcher.nothing_within(0.3)
    await watcher.close()
    await client.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_presence_follows_sockets_with_a_grace_period_and_hides_strangers(
    server: Server, protocol: str
) -> None:
    await presence_flow(server, protocol)


async def test_presence_flow_on_both_stores(any_server: Server) -> None:
    await presence_flow(any_server, TRANSPORT_WS)


async def test_update_presence_and_who_may_see_it(server: Server, client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    shared = await client.create_room(alice, "shared", members=[bob.id])
    secret = await client.create_room(alice, "secret", private=True, members=[carol.id])
    public = await client.create_room(carol, "carol's public room")

    for status in ("BUSY", "AWAY", "ONLINE"):
        data = await client.data(UPDATE_PRESENCE, {"s": status, "r": shared}, alice.token)
        assert data["updatePresence"] == {
            "userId": alice.id,
            "status": status,
            "currentRoomId": shared,
        }
    assert await error_code(client, UPDATE_PRESENCE, {"s": "OFFLINE"}, alice) == "BAD_USER_INPUT"
    assert await error_code(client, UPDATE_PRESENCE, {"s": "ASLEEP"}, alice) == "BAD_USER_INPUT"
    # a room you are not in: private ones do not exist for you, public ones need joining
    in_secret = {"s": "AWAY", "r": secret}
    assert await error_code(client, UPDATE_PRESENCE, in_secret, bob) == "NOT_FOUND"
    in_public = {"s": "AWAY", "r": public}
    assert await error_code(client, UPDATE_PRESENCE, in_public, bob) == "FORBIDDEN"
    unknown = {"s": "AWAY", "r": UNKNOWN_ID}
    assert await error_code(client, UPDATE_PRESENCE, unknown, bob) == "NOT_FOUND"
    bad_room = {"s": "AWAY", "r": "nope"}
    assert await error_code(client, UPDATE_PRESENCE, bad_room, bob) == "BAD_USER_INPUT"
    assert await error_code(client, UPDATE_PRESENCE, {"s": "AWAY"}, None) == "UNAUTHENTICATED"

    # alice is in `secret`, which bob is not in: bob sees her status but not where she is
    await client.data(UPDATE_PRESENCE, {"s": "BUSY", "r": secret}, alice.token)
    by_bob = (await client.data(GET_PRESENCE, {"u": alice.id}, bob.token))["getUserPresence"]
    assert by_bob["status"] == "BUSY" and by_bob["currentRoomId"] is None
    assert by_bob["user"]["username"] == "alice"
    by_carol = (await client.data(GET_PRESENCE, {"u": alice.id}, carol.token))["getUserPresence"]
    assert by_carol["currentRoomId"] == secret
    by_self = (await client.data(GET_PRESENCE, {"u": alice.id}, alice.token))["getUserPresence"]
    assert by_self["currentRoomId"] == secret

    # strangers see nothing; unknown users are null; malformed ids are bad input
    assert (await client.data(GET_PRESENCE, {"u": carol.id}, bob.token))["getUserPresence"] is None
    assert (await client.data(GET_PRESENCE, {"u": UNKNOWN_ID}, bob.token))[
        "getUserPresence"
    ] is None
    assert await error_code(client, GET_PRESENCE, {"u": "x"}, bob) == "BAD_USER_INPUT"
    # once alice and bob share no room any more, bob loses sight of her too
    await client.data(LEAVE, {"r": shared}, bob.token)
    assert (await client.data(GET_PRESENCE, {"u": alice.id}, bob.token))["getUserPresence"] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_presence_events_hide_the_room_from_viewers_not_in_it(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob, carol, dave = [await client.register(n) for n in ("alice", "bob", "carol", "dave")]
    await client.create_room(alice, "shared", members=[bob.id, carol.id, dave.id])
    secret = await client.create_room(alice, "secret", private=True, members=[carol.id])
    bob_watch = await live_on(server, protocol, bob, ON_PRESENCE)
    carol_watch = await live_on(server, protocol, carol, ON_PRESENCE)
    # dave's own presence change is not echoed to dave, but reaches the others
    dave_watch = await live_on(server, protocol, dave, ON_PRESENCE)
    arrivals = {
        bob_watch: [carol.id, dave.id],  # each sees those who came online after them
        carol_watch: [dave.id],
    }
    for sock, expected in arrivals.items():
        got = [await event(sock, "onUserPresenceChanged") for _ in expected]
        assert [(g["userId"], g["status"]) for g in got] == [(u, "ONLINE") for u in expected]
    await asyncio.sleep(SETTLE)

    await client.data(UPDATE_PRESENCE, {"s": "BUSY", "r": secret}, alice.token)
    to_bob = await event(bob_watch, "onUserPresenceChanged")
    to_carol = await event(carol_watch, "onUserPresenceChanged")
    assert (to_bob["userId"], to_bob["status"], to_bob["currentRoomId"]) == (
        alice.id,
        "BUSY",
        None,
    )
    assert (to_carol["userId"], to_carol["currentRoomId"]) == (alice.id, secret)
    to_dave = await event(dave_watch, "onUserPresenceChanged")
    assert to_dave["userId"] == alice.id  # never dave himself
    for sock in (bob_watch, carol_watch, dave_watch):
        await sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_presence_of_someone_who_left_the_only_shared_room_is_not_delivered(
    server: Server, client: Client, protocol: str
) -> None:
    """REGRESSION: presence of a stranger is never delivered, also after a shared room ends."""
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "together", members=[bob.id, carol.id])
    watcher = await live_on(server, protocol, bob, ON_PRESENCE)
    await client.data(UPDATE_PRESENCE, {"s": "AWAY"}, carol.token)
    assert (await event(watcher, "onUserPresenceChanged"))["userId"] == carol.id
    await client.data(LEAVE, {"r": room}, carol.token)
    await asyncio.sleep(SETTLE)
    await client.data(UPDATE_PRESENCE, {"s": "BUSY"}, carol.token)  # a stranger now
    other = await live(server, protocol, carol)
    await other.close()
    await asyncio.sleep(0.45)  # carol's OFFLINE, after the grace period, is not for bob
    assert (await user_status(client, carol, carol))["status"] == "OFFLINE"
    await client.data(UPDATE_PRESENCE, {"s": "BUSY"}, alice.token)
    got = await event(watcher, "onUserPresenceChanged")
    assert (got["userId"], got["status"]) == (alice.id, "BUSY")
    await watcher.nothing_within(0.3)
    await client.join(carol, room)  # sharing a room again: carol is visible again
    await asyncio.sleep(SETTLE)
    await client.data(UPDATE_PRESENCE, {"s": "AWAY"}, carol.token)
    got = await event(watcher, "onUserPresenceChanged")
    assert (got["userId"], got["status"]) == (carol.id, "AWAY")
    await watcher.close()


async def test_presence_is_shared_by_app_instances_on_one_database(
    settings: Settings, tmp_path: Path
) -> None:
    """Sockets on two processes: closing the one on A keeps the user ONLINE (B still has
    one); closing the last, on B, makes A's subscribers see OFFLINE."""
    shared = mongoeco_client()
    mongo = replace(settings, database_url="mongodb://localhost/chatql_test")
    async with (
        running_server(mongo, make_store("mongoeco", tmp_path, shared=shared)) as a,
        running_server(mongo, make_store("mongoeco", tmp_path, shared=shared)) as b,
    ):
        via_a, via_b = Client(a), Client(b)
        alice, bob = await via_a.register("alice"), await via_b.register("bob")
        await via_a.create_room(alice, "across", members=[bob.id])
        watcher = await live_on(a, TRANSPORT_WS, bob, ON_PRESENCE)
        on_a = await live(a, TRANSPORT_WS, alice)
        assert (await event(watcher, "onUserPresenceChanged"))["status"] == "ONLINE"
        on_b = await live(b, TRANSPORT_WS, alice)
        await on_a.close()
        await asyncio.sleep(0.45)  # past A's grace period
        assert (await user_status(via_b, bob, alice))["status"] == "ONLINE"
        await on_b.close()
        offline = await event(watcher, "onUserPresenceChanged")
        assert (offline["userId"], offline["status"]) == (alice.id, "OFFLINE")
        assert (await user_status(via_a, bob, alice))["status"] == "OFFLINE"
        await watcher.close()
        await via_a.close()
        await via_b.close()


async def test_stopping_within_the_grace_period_still_ends_presence(settings: Settings) -> None:
    async with running_server(replace(settings, presence_grace=30)) as first:
        client = Client(first)
        alice = await client.register("alice")
        sock = await live(first, TRANSPORT_WS, alice)
        assert (await user_status(client, alice, alice))["status"] == "ONLINE"
        await sock.close()
        await asyncio.sleep(SETTLE)  # closed, inside the grace period, when the server stops
        await client.close()
    async with running_server(settings) as second:
        client = Client(second)
        await asyncio.sleep(0.3)
        assert (await user_status(client, alice, alice))["status"] == "OFFLINE"
        await client.close()


async def test_presence_subscription_needs_a_websocket(server: Server, client: Client) -> None:
    alice = await client.register("alice")
    over_http = await client.http.post(
        server.url,
        json={"query": ON_PRESENCE},
        headers={"authorization": f"Bearer {alice.token}"},
    )
    assert over_http.status_code == 400
    assert code(over_http.json()["errors"][0]) == "BAD_REQUEST"
    sock = await Socket.connect(server, TRANSPORT_WS, "not-a-token")
    with pytest.raises(websockets.ConnectionClosed):  # refused: closed with 4403, no ack
        await sock.recv()
    await sock.close()
    assert (await user_status(client, alice, alice))["status"] == "OFFLINE"  # HTTP is no socket


# ================================================================ 2. notifications
async def notification_flow(server: Server, protocol: str) -> None:
    client = Client(server)
    alice, bob, carol, dave, erin = [
        await client.register(n) for n in ("alice", "bob", "carol", "dave", "erin")
    ]
    room = await client.create_room(alice, "notes", members=[bob.id, carol.id, dave.id])
    for invited in (bob, carol, dave):
        (invite,) = await notes(client, invited)
        assert invite["type"] == "ROOM_INVITE" and invite["chatRoomId"] == room
        assert invite["actor"]["id"] == alice.id and invite["messageId"] is None
        assert invite["chatRoom"] == {"id": room, "name": "notes"} and invite["message"] is None
    assert await notes(client, alice) == []

    bob_notes = await live_on(server, protocol, bob, ON_NOTIFICATION)
    carol_reads = await live_on(server, protocol, carol, ON_MESSAGE, {"r": room})
    muted = await client.data(SET_MUTED, {"r": room, "m": True}, dave.token)
    assert muted["setRoomMuted"] == {"id": room, "isMuted": True}

    hello = await client.send(alice, room, "hello all")
    got = await event(bob_notes, "onNotificationReceived")
    assert got["type"] == "MESSAGE" and got["messageId"] == hello["id"]
    assert got["chatRoomId"] == room and got["actor"]["id"] == alice.id and not got["isRead"]
    assert [n["type"] for n in await notes(client, carol)] == ["ROOM_INVITE"]  # watching live
    assert [n["type"] for n in await notes(client, dave)] == ["ROOM_INVITE"]  # muted
    assert await notes(client, alice) == []  # own message
    assert await notes(client, erin) == []  # not a member

    # REGRESSION: a mention replaces MESSAGE, so bob gets exactly one notification for it
    shout = await client.send(alice, room, "@bob @Carol @dave @erin @alice look, @BOB")
    got = await event(bob_notes, "onNotificationReceived")
    assert got["type"] == "MENTION" and got["messageId"] == shout["id"]
    await bob_notes.nothing_within(0.3)
    bob_list = await notes(client, bob)
    assert [n["type"] for n in bob_list] == ["MENTION", "MESSAGE", "ROOM_INVITE"]
    assert bob_list[0]["message"] == {"id": shout["id"], "content": shout["content"]}
    assert bob_list[0]["chatRoom"] == {"id": room, "name": "notes"}
    # mentions reach members who watch the room and members who muted it
    assert [n["type"] for n in await notes(client, carol)] == ["MENTION", "ROOM_INVITE"]
    assert [n["type"] for n in await notes(client, dave)] == ["MENTION", "ROOM_INVITE"]
    assert await notes(client, erin) == []  # mentioned, but not a member
    assert await notes(client, alice) == []  # mentioning yourself is nothing
    assert len(await carol_reads.messages(2)) == 2
    await bob_notes.close()
    await carol_reads.close()
    await client.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_message_mention_and_invite_notifications(server: Server, protocol: str) -> None:
    await notification_flow(server, protocol)


async def test_notification_flow_on_both_stores(any_server: Server) -> None:
    await notification_flow(any_server, TRANSPORT_WS)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_watching_ends_with_the_subscription_and_other_rooms_do_not_count(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "one", members=[bob.id])
    elsewhere = await client.create_room(alice, "two", members=[bob.id])
    sock = await live(server, protocol, bob)
    op = await sock.subscribe(ON_MESSAGE, {"r": elsewhere})  # watching another room only
    await asyncio.sleep(SETTLE)
    first = await client.send(alice, room, "first")
    assert (await notes(client, bob))[0]["messageId"] == first["id"]

    await sock.unsubscribe(op)
    await sock.subscribe(ON_MESSAGE, {"r": room})
    await asyncio.sleep(SETTLE)
    await client.send(alice, room, "seen live")
    assert (await notes(client, bob))[0]["messageId"] == first["id"]  # nothing new
    await sock.close()
    await asyncio.sleep(SETTLE)  # the server notices the socket is gone
    third = await client.send(alice, room, "after closing")
    assert (await notes(client, bob))[0]["messageId"] == third["id"]

    await client.data(SET_MUTED, {"r": room, "m": True}, bob.token)
    await client.send(alice, room, "while muted")
    await client.data(SET_MUTED, {"r": room, "m": False}, bob.token)
    last = await client.send(alice, room, "unmuted again")
    assert [n["messageId"] for n in (await notes(client, bob))[:2]] == [last["id"], third["id"]]


async def test_invites_by_add_member_and_direct_messages(client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "open")
    await client.data(ADD_MEMBER, {"r": room, "u": bob.id}, alice.token)
    (invite,) = await notes(client, bob)
    assert invite["type"] == "ROOM_INVITE" and invite["chatRoom"]["id"] == room
    assert invite["actor"]["username"] == "alice"
    await client.data(ADD_MEMBER, {"r": room, "u": bob.id}, alice.token)  # already in: no-op
    await client.join(carol, room)  # joining yourself is not an invitation
    assert len(await notes(client, bob)) == 1 and await notes(client, carol) == []

    dm = (await client.data(DIRECT, {"u": bob.id}, alice.token))["startDirectChat"]["id"]
    sent = await client.send(alice, dm, "psst")
    newest = (await notes(client, bob))[0]
    assert newest["type"] == "MESSAGE" and newest["chatRoomId"] == dm
    assert newest["message"] == {"id": sent["id"], "content": "psst"}
    assert await notes(client, alice) == []
    await client.send(bob, dm, "hi @alice")
    assert [n["type"] for n in await notes(client, alice)] == ["MENTION"]


async def test_list_page_mark_read_and_delete_notifications(client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "busy", members=[bob.id, carol.id])
    sent = [await client.send(alice, room, f"m{i}") for i in range(5)]
    everything = await notes(client, bob)
    assert [n["messageId"] for n in everything] == [m["id"] for m in reversed(sent)] + [None]
    stamps = [n["createdAt"] for n in everything]
    assert stamps == sorted(stamps, reverse=True)

    pages, token = [], None
    while True:
        page = (await client.data(LIST_NOTES, {"u": False, "l": 2, "t": token}, bob.token))[
            "listNotifications"
        ]
        pages.append([n["id"] for n in page["items"]])
        token = page["nextToken"]
        if token is None:
            break
    assert pages == [[n["id"] for n in everything[i : i + 2]] for i in range(0, 6, 2)]

    newest = everything[0]["id"]
    marked = (await client.data(MARK_NOTE, {"i": newest}, bob.token))["markNotificationAsRead"]
    assert marked["isRead"] is True and marked["readAt"] is not None
    again = (await client.data(MARK_NOTE, {"i": newest}, bob.token))["markNotificationAsRead"]
    assert again["readAt"] == marked["readAt"]  # idempotent, the first time stays
    unread = await notes(client, bob, unread_only=True)
    assert [n["id"] for n in unread] == [n["id"] for n in everything[1:]]

    # someone else's notification is not found, whatever the action
    carols = (await notes(client, carol))[0]["id"]
    assert await error_code(client, MARK_NOTE, {"i": carols}, bob) == "NOT_FOUND"
    assert await error_code(client, DELETE_NOTE, {"i": carols}, bob) == "NOT_FOUND"
    assert await error_code(client, MARK_NOTE, {"i": UNKNOWN_ID}, bob) == "NOT_FOUND"
    assert await error_code(client, MARK_NOTE, {"i": "nope"}, bob) == "BAD_USER_INPUT"
    assert await error_code(client, MARK_NOTE, {"i": newest}, None) == "UNAUTHENTICATED"
    assert not (await notes(client, carol))[0]["isRead"]

    assert (await client.data(MARK_ALL, {}, bob.token))["markAllNotificationsAsRead"] == 5
    assert (await client.data(MARK_ALL, {}, bob.token))["markAllNotificationsAsRead"] == 0
    assert await notes(client, bob, unread_only=True) == []

    assert (await client.data(DELETE_NOTE, {"i": newest}, bob.token))["deleteNotification"]
    assert await error_code(client, DELETE_NOTE, {"i": newest}, bob) == "NOT_FOUND"
    assert [n["id"] for n in await notes(client, bob)] == [n["id"] for n in everything[1:]]
    assert len(await notes(client, carol)) == 6  # carol's untouched

    bad_page = {"u": False, "l": 2, "t": "garbage"}
    assert await error_code(client, LIST_NOTES, bad_page, bob) == "BAD_USER_INPUT"
    assert await error_code(client, LIST_NOTES, {"u": False, "l": 0}, bob) == "BAD_USER_INPUT"
    assert await error_code(client, LIST_NOTES, {"u": False}, None) == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_notification_stream_carries_only_the_subscribers_own(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    bobs_room = await client.create_room(alice, "bob's", members=[bob.id])
    carols_room = await client.create_room(alice, "carol's", members=[carol.id])
    carol_notes = await live_on(server, protocol, carol, ON_NOTIFICATION)
    await client.send(alice, bobs_room, "for bob")
    await client.send(alice, bobs_room, "also @carol, who is not here")
    for_carol = await client.send(alice, carols_room, "for carol")
    got = await event(carol_notes, "onNotificationReceived")
    assert got["messageId"] == for_carol["id"] and got["type"] == "MESSAGE"
    await carol_notes.nothing_within(0.3)
    await carol_notes.close()

    # there is no way to ask for somebody else's stream
    sock = await live(server, protocol, carol)
    await sock.subscribe(
        "subscription($u: ID!) { onNotificationReceived(userId: $u) { id } }", {"u": bob.id}
    )
    assert code(await operation_error(sock)) == "GRAPHQL_VALIDATION_FAILED"
    await sock.close()


async def test_notification_links_disappear_when_the_room_does(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "private", private=True, members=[bob.id])
    await client.send(alice, room, "secret")
    before = await notes(client, bob)
    assert [n["message"] is not None for n in before] == [True, False]
    assert all(n["chatRoom"] == {"id": room, "name": "private"} for n in before)
    await client.data(REMOVE, {"r": room, "u": bob.id}, alice.token)
    after = await notes(client, bob)
    assert [n["id"] for n in after] == [n["id"] for n in before]
    assert all(n["chatRoom"] is None and n["message"] is None for n in after)
    assert all(n["chatRoomId"] == room for n in after)


# ================================================================ 3. read state
async def test_read_marker_moves_forward_and_counts_others_messages(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "reading", members=[bob.id])
    first, second, third = [await client.send(alice, room, f"a{i}") for i in range(3)]
    await client.send(bob, room, "bob's own")  # never unread for bob
    state = await room_state(client, bob, room)
    assert (state["unreadCount"], state["lastReadCursor"]) == (3, None)
    assert (await room_state(client, alice, room))["unreadCount"] == 1

    marked = await client.data(MARK_ROOM_READ, {"r": room, "c": second["cursor"]}, bob.token)
    assert marked["markRoomRead"]["unreadCount"] == 1
    assert marked["markRoomRead"]["lastReadCursor"] == second["cursor"]
    backwards = await client.data(MARK_ROOM_READ, {"r": room, "c": first["cursor"]}, bob.token)
    assert backwards["markRoomRead"]["lastReadCursor"] == second["cursor"]  # never back
    assert backwards["markRoomRead"]["unreadCount"] == 1

    await client.data(DELETE_MESSAGE, {"i": third["id"]}, alice.token)
    assert (await room_state(client, bob, room))["unreadCount"] == 0  # deleted ones don't count
    fourth = await client.send(alice, room, "a3")
    assert (await room_state(client, bob, room))["unreadCount"] == 1
    done = await client.data(MARK_ROOM_READ, {"r": room, "c": fourth["cursor"]}, bob.token)
    assert done["markRoomRead"]["unreadCount"] == 0
    assert done["markRoomRead"]["lastReadCursor"] == fourth["cursor"]
    # alice's marker is her own: bob reading changes nothing for her
    assert (await room_state(client, alice, room))["lastReadCursor"] is None


async def test_unread_counts_across_many_rooms(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    rooms = {}
    for n in range(6):
        room = await client.create_room(alice, f"room{n}", members=[bob.id])
        for i in range(n):
            await client.send(alice, room, f"{n}.{i}")
        await client.send(bob, room, "mine")
        rooms[room] = n
    seen: dict[str, int] = {}
    token = None
    while True:
        page = (await client.data(LIST_ROOMS, {"l": 4, "t": token}, bob.token))["listChatRooms"]
        seen.update({r["id"]: r["unreadCount"] for r in page["items"]})
        assert all(r["lastReadCursor"] is None for r in page["items"])
        token = page["nextToken"]
        if token is None:
            break
    assert seen == rooms
    alices = (await client.data(LIST_ROOMS, {"l": 20}, alice.token))["listChatRooms"]["items"]
    assert {r["id"]: r["unreadCount"] for r in alices} == dict.fromkeys(rooms, 1)


async def test_mark_room_read_refuses_bad_cursors_and_strangers(client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "mine", members=[bob.id])
    other = await client.create_room(alice, "other", members=[bob.id])
    secret = await client.create_room(alice, "secret", private=True)
    sent = await client.send(alice, room, "hello")
    elsewhere = await client.send(alice, other, "there")
    for cursor in ("garbage", "", elsewhere["cursor"], message_cursor(room, 99)):
        assert (
            await error_code(client, MARK_ROOM_READ, {"r": room, "c": cursor}, bob)
            == "BAD_USER_INPUT"
        ), cursor
    assert (await room_state(client, bob, room))["lastReadCursor"] is None
    not_joined = {"r": room, "c": sent["cursor"]}
    assert await error_code(client, MARK_ROOM_READ, not_joined, carol) == "FORBIDDEN"
    secret_cursor = {"r": secret, "c": message_cursor(secret, 0)}
    assert await error_code(client, MARK_ROOM_READ, secret_cursor, bob) == "NOT_FOUND"
    bad_room = {"r": "x", "c": sent["cursor"]}
    assert await error_code(client, MARK_ROOM_READ, bad_room, bob) == "BAD_USER_INPUT"
    anonymous = {"r": room, "c": sent["cursor"]}
    assert await error_code(client, MARK_ROOM_READ, anonymous, None) == "UNAUTHENTICATED"


# ================================================================ 4. roles and moderation
@dataclass
class Staff:
    """A server whose `boss` is a global ADMIN (bootstrap) and `mod` a global MODERATOR, with
    a public room owned by `owner`: room admins `radmin` and `radmin2`, members `member` and
    `member2`, and `banned` banned; `outsider` is in no room."""

    server: Server
    client: Client
    users: dict[str, Account]
    room: str

    def __getitem__(self, name: str) -> Account:
        return self.users[name]


NAMES = ("boss", "mod", "owner", "radmin", "radmin2", "member", "member2", "outsider", "banned")


@pytest.fixture
async def staff(settings: Settings) -> AsyncIterator[Staff]:
    async with running_server(settings) as first:  # users exist before the admin is named
        setup = Client(first)
        users = {name: await setup.register(name) for name in NAMES}
        await setup.close()
    async with running_server(replace(settings, bootstrap_admin="boss")) as server:
        client = Client(server)
        boss, owner = users["boss"], users["owner"]
        promoted = await client.data(SET_ROLE, {"u": users["mod"].id, "r": "MODERATOR"}, boss.token)
        assert promoted["setUserRole"]["role"] == "MODERATOR"
        members = [users[n].id for n in ("radmin", "radmin2", "member", "member2", "banned")]
        room = await client.create_room(owner, "moderated", members=members)
        for name in ("radmin", "radmin2"):
            await client.data(
                SET_MEMBER_ROLE, {"r": room, "u": users[name].id, "role": "ADMIN"}, owner.token
            )
        assert (await client.data(BAN, {"r": room, "u": users["banned"].id}, owner.token))[
            "banFromRoom"
        ]
        yield Staff(server, client, users, room)
        await client.close()


async def my_role(staff: Staff, name: str, room: str | None = None) -> str | None:
    state = await staff.client.data(GET_ROOM, {"r": room or staff.room}, staff[name].token)
    return state["getChatRoom"]["myRole"] if state["getChatRoom"] else None


async def test_global_roles_and_set_user_role(staff: Staff) -> None:
    client = staff.client
    roles = {}
    for name in NAMES:
        me = await client.data("{ me { role } }", {}, staff[name].token)
        roles[name] = me["me"]["role"]
    assert roles == {n: {"boss": "ADMIN", "mod": "MODERATOR"}.get(n, "USER") for n in NAMES}
    assert (await user_status(client, staff["member"], staff["boss"]))["role"] == "ADMIN"

    target = {"u": staff["member"].id, "r": "MODERATOR"}
    for name in ("mod", "owner", "member", "outsider"):
        assert await error_code(client, SET_ROLE, target, staff[name]) == "FORBIDDEN", name
    assert await error_code(client, SET_ROLE, target, None) == "UNAUTHENTICATED"
    boss = staff["boss"]
    self_demote = {"u": boss.id, "r": "USER"}
    assert await error_code(client, SET_ROLE, self_demote, boss) == "BAD_USER_INPUT"
    unknown = {"u": UNKNOWN_ID, "r": "USER"}
    assert await error_code(client, SET_ROLE, unknown, boss) == "NOT_FOUND"
    malformed = {"u": "x", "r": "USER"}
    assert await error_code(client, SET_ROLE, malformed, boss) == "BAD_USER_INPUT"
    bad_role = {"u": staff["member"].id, "r": "KING"}
    assert await error_code(client, SET_ROLE, bad_role, boss) == "BAD_USER_INPUT"

    # a new admin can appoint others at once; a demoted moderator loses their powers at once
    made = await client.data(SET_ROLE, {"u": staff["member"].id, "r": "ADMIN"}, boss.token)
    assert made["setUserRole"] == {"id": staff["member"].id, "role": "ADMIN"}
    await client.data(SET_ROLE, {"u": staff["mod"].id, "r": "USER"}, staff["member"].token)
    demoted = {"r": staff.room, "u": staff["member2"].id}
    assert await error_code(client, MUTE, demoted, staff["mod"]) == "FORBIDDEN"
    assert (await user_status(client, boss, staff["mod"]))["role"] == "USER"


async def test_update_and_delete_room_permissions(staff: Staff) -> None:
    client, owner = staff.client, staff["owner"]
    secret = await client.create_room(owner, "secret", private=True, members=[staff["member"].id])
    expected = {
        "owner": None,
        "boss": None,
        "mod": "FORBIDDEN",
        "radmin": "FORBIDDEN",
        "member": "FORBIDDEN",
        "outsider": "FORBIDDEN",
        "banned": "FORBIDDEN",
    }
    for name, outcome in expected.items():
        change = {"i": {"id": staff.room, "name": f"renamed by {name}"}}
        if outcome is None:
            done = await client.data(UPDATE_ROOM, change, staff[name].token)
            assert done["updateChatRoom"]["name"] == f"renamed by {name}"
        else:
            assert await error_code(client, UPDATE_ROOM, change, staff[name]) == outcome, name
    for name in ("outsider", "radmin"):  # a private room they are not in does not exist
        hidden = {"i": {"id": secret, "name": "x"}}
        assert await error_code(client, UPDATE_ROOM, hidden, staff[name]) == "NOT_FOUND"
        assert await error_code(client, DELETE_ROOM, {"r": secret}, staff[name]) == "NOT_FOUND"
    updated = await client.data(
        UPDATE_ROOM,
        {"i": {"id": secret, "name": "still secret", "description": "d", "isPrivate": False}},
        staff["boss"].token,
    )
    assert updated["updateChatRoom"] == {
        "id": secret,
        "name": "still secret",
        "description": "d",
        "isPrivate": False,
    }
    for bad in ({"id": staff.room}, {"id": staff.room, "name": ""}, {"id": "x", "name": "y"}):
        assert await error_code(client, UPDATE_ROOM, {"i": bad}, owner) == "BAD_USER_INPUT", bad
    gone = {"i": {"id": UNKNOWN_ID, "name": "y"}}
    assert await error_code(client, UPDATE_ROOM, gone, owner) == "NOT_FOUND"
    dm = (await client.data(DIRECT, {"u": staff["member"].id}, owner.token))["startDirectChat"]
    assert await error_code(client, UPDATE_ROOM, {"i": {"id": dm["id"], "name": "y"}}, owner) == (
        "FORBIDDEN"
    )
    assert await error_code(client, DELETE_ROOM, {"r": dm["id"]}, owner) == "FORBIDDEN"

    for name, outcome in expected.items():
        if outcome is not None:
            assert await error_code(client, DELETE_ROOM, {"r": staff.room}, staff[name]) == (
                outcome
            ), name
    assert (await client.data(DELETE_ROOM, {"r": secret}, staff["boss"].token))["deleteChatRoom"]
    assert (await client.data(DELETE_ROOM, {"r": staff.room}, owner.token))["deleteChatRoom"]
    assert await room_state(client, owner, staff.room) is None
    assert await room_state(client, staff["member"], secret) is None
    assert await error_code(client, DELETE_ROOM, {"r": staff.room}, owner) == "NOT_FOUND"
    assert await error_code(client, DELETE_ROOM, {"r": "x"}, owner) == "BAD_USER_INPUT"


async def test_only_the_owner_sets_room_roles(staff: Staff) -> None:
    client, room, owner = staff.client, staff.room, staff["owner"]
    promote = {"r": room, "u": staff["member"].id, "role": "ADMIN"}
    for name in ("radmin", "member", "mod", "outsider", "banned"):
        assert await error_code(client, SET_MEMBER_ROLE, promote, staff[name]) == "FORBIDDEN", name
    await client.data(SET_MEMBER_ROLE, promote, owner.token)
    assert await my_role(staff, "member") == "ADMIN"
    demote = {**promote, "role": "MEMBER"}
    await client.data(SET_MEMBER_ROLE, demote, staff["boss"].token)  # a global admin may too
    assert await my_role(staff, "member") == "MEMBER"

    owner_target = {"r": room, "u": owner.id, "role": "MEMBER"}
    assert await error_code(client, SET_MEMBER_ROLE, owner_target, owner) == "BAD_USER_INPUT"
    crown = {**promote, "role": "OWNER"}
    assert await error_code(client, SET_MEMBER_ROLE, crown, owner) == "BAD_USER_INPUT"
    stranger = {"r": room, "u": staff["outsider"].id, "role": "ADMIN"}
    assert await error_code(client, SET_MEMBER_ROLE, stranger, owner) == "NOT_FOUND"
    bogus = {**promote, "role": "KING"}
    assert await error_code(client, SET_MEMBER_ROLE, bogus, owner) == "BAD_USER_INPUT"


# who may remove, ban or mute whom in the staff room (None: allowed)
MODERATION_MATRIX = [
    ("member", "member2", "FORBIDDEN"),
    ("outsider", "member", "FORBIDDEN"),
    ("banned", "member", "FORBIDDEN"),
    ("radmin", "radmin2", "FORBIDDEN"),
    ("radmin", "owner", "FORBIDDEN"),
    ("mod", "owner", "FORBIDDEN"),
    ("boss", "owner", "FORBIDDEN"),
    ("owner", "owner", "BAD_USER_INPUT"),
    ("radmin", "radmin", "BAD_USER_INPUT"),
    ("radmin", "member", None),
    ("owner", "radmin", None),
    ("mod", "radmin2", None),
    ("boss", "member2", None),
    ("mod", "member", None),
]


async def restore(staff: Staff, action: str, target: str) -> None:
    """Undo a successful moderation so the next row starts from the same room."""
    client, room, owner = staff.client, staff.room, staff["owner"]
    account = staff[target]
    if action == "mute":
        await client.data(UNMUTE, {"r": room, "u": account.id}, owner.token)
        return
    if action == "ban":
        await client.data(UNBAN, {"r": room, "u": account.id}, owner.token)
    await client.join(account, room)
    if target.startswith("radmin"):
        await client.data(
            SET_MEMBER_ROLE, {"r": room, "u": account.id, "role": "ADMIN"}, owner.token
        )


async def check_effect(staff: Staff, action: str, target: str) -> None:
    client, room = staff.client, staff.room
    account = staff[target]
    if action == "mute":
        assert await my_role(staff, target) is not None
        assert await error_code(client, SEND, {"r": room, "c": "hi"}, account) == "FORBIDDEN"
    else:
        assert await my_role(staff, target) is None
        assert await error_code(client, SEND, {"r": room, "c": "hi"}, account) == "FORBIDDEN"
        joined = await client.post(JOIN, {"r": room}, account.token)
        if action == "ban":
            assert code(joined["errors"][0]) == "FORBIDDEN"
        else:
            assert "errors" not in joined
            await client.data(LEAVE, {"r": room}, account.token)


@pytest.mark.parametrize("action", ["remove", "ban", "mute"])
async def test_moderation_permission_matrix(staff: Staff, action: str) -> None:
    query = {"remove": REMOVE, "ban": BAN, "mute": MUTE}[action]
    field = {"remove": "removeRoomMember", "ban": "banFromRoom", "mute": "muteInRoom"}[action]
    client = staff.client
    for actor, target, outcome in MODERATION_MATRIX:
        variables = {"r": staff.room, "u": staff[target].id}
        if outcome is None:
            assert (await client.data(query, variables, staff[actor].token))[field] is True
            await check_effect(staff, action, target)
            await restore(staff, action, target)
        else:
            got = await error_code(client, query, variables, staff[actor])
            assert got == outcome, (actor, target)
            assert await my_role(staff, target) is not None or target == "banned"
    # nobody was left half-moderated: every member can still send
    for name in ("owner", "radmin", "radmin2", "member", "member2"):
        await client.data(SEND, {"r": staff.room, "c": f"{action} ok"}, staff[name].token)
    assert await error_code(client, query, {"r": staff.room, "u": "x"}, staff["owner"]) == (
        "BAD_USER_INPUT"
    )
    unknown_room = {"r": UNKNOWN_ID, "u": staff["member"].id}
    assert await error_code(client, query, unknown_room, staff["mod"]) == "NOT_FOUND"
    assert await error_code(client, query, unknown_room, staff["owner"]) == "NOT_FOUND"
    assert await error_code(client, query, {"r": staff.room, "u": staff["member"].id}, None) == (
        "UNAUTHENTICATED"
    )


async def test_moderating_non_members_and_private_rooms(staff: Staff) -> None:
    client, owner = staff.client, staff["owner"]
    outsider = {"r": staff.room, "u": staff["outsider"].id}
    assert await error_code(client, REMOVE, outsider, owner) == "NOT_FOUND"
    assert await error_code(client, MUTE, outsider, owner) == "NOT_FOUND"
    assert (await client.data(BAN, outsider, owner.token))["banFromRoom"]  # banned in advance
    assert await error_code(client, JOIN, {"r": staff.room}, staff["outsider"]) == "FORBIDDEN"
    add = {"r": staff.room, "u": staff["outsider"].id}
    assert await error_code(client, ADD_MEMBER, add, owner) == "FORBIDDEN"

    secret = await client.create_room(owner, "secret", private=True, members=[staff["member"].id])
    target = {"r": secret, "u": staff["member"].id}
    for name in ("outsider", "radmin"):
        assert await error_code(client, MUTE, target, staff[name]) == "NOT_FOUND", name
    assert (await client.data(MUTE, target, staff["mod"].token))["muteInRoom"]  # not a member
    assert (await client.data(UNMUTE, target, staff["boss"].token))["unmuteInRoom"]
    assert (await client.data(REMOVE, target, staff["mod"].token))["removeRoomMember"]
    assert await room_state(client, staff["member"], secret) is None


async def test_bans_keep_out_until_lifted_or_expired(staff: Staff) -> None:
    client, room, owner = staff.client, staff.room, staff["owner"]
    banned, member = staff["banned"], staff["member"]
    refused = await client.error(JOIN, {"r": room}, banned.token)
    assert code(refused) == "FORBIDDEN"
    assert await error_code(client, ADD_MEMBER, {"r": room, "u": banned.id}, owner) == "FORBIDDEN"
    unban = {"r": room, "u": banned.id}
    for name in ("member", "outsider"):
        assert await error_code(client, UNBAN, unban, staff[name]) == "FORBIDDEN", name
    assert await error_code(client, UNBAN, unban, banned) == "BAD_USER_INPUT"  # not yourself
    assert (await client.data(UNBAN, {"r": room, "u": banned.id}, staff["radmin"].token))[
        "unbanFromRoom"
    ]
    await client.join(banned, room)

    for when in (ago(1), ago(3600)):
        past = {"r": room, "u": member.id, "t": when}
        assert await error_code(client, BAN, past, owner) == "BAD_USER_INPUT"
    assert await error_code(client, BAN, {"r": room, "u": member.id, "t": "soon"}, owner) == (
        "BAD_USER_INPUT"
    )
    assert await my_role(staff, "member") == "MEMBER"  # a refused ban changes nothing

    until = datetime.now(UTC) + timedelta(seconds=0.4)
    ban = {"r": room, "u": member.id, "t": until.isoformat()}
    assert (await client.data(BAN, ban, staff["radmin"].token))["banFromRoom"]
    refused = await client.error(JOIN, {"r": room}, member.token)
    assert code(refused) == "FORBIDDEN" and refused["extensions"].get("until")
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.05)
    await client.join(member, room)  # the ban has run out
    assert await my_role(staff, "member") == "MEMBER"


async def test_mutes_stop_sending_until_lifted_or_expired(staff: Staff) -> None:
    client, room, owner = staff.client, staff.room, staff["owner"]
    member = staff["member"]
    before = len(await client.history(owner, room))
    assert (await client.data(MUTE, {"r": room, "u": member.id}, staff["radmin"].token))[
        "muteInRoom"
    ]
    refused = await client.error(SEND, {"r": room, "c": "let me speak"}, member.token)
    assert code(refused) == "FORBIDDEN"
    assert len(await client.history(owner, room)) == before  # nothing stored
    await client.send(staff["member2"], room, "others still talk")
    assert [m["content"] for m in await client.history(member, room)][-1] == "others still talk"
    for name in ("member2", "outsider"):
        unmute = {"r": room, "u": member.id}
        assert await error_code(client, UNMUTE, unmute, staff[name]) == "FORBIDDEN", name
    assert (await client.data(UNMUTE, {"r": room, "u": member.id}, staff["mod"].token))[
        "unmuteInRoom"
    ]
    await client.send(member, room, "free again")

    past = {"r": room, "u": member.id, "t": ago(1)}
    assert await error_code(client, MUTE, past, owner) == "BAD_USER_INPUT"
    await client.send(member, room, "still free")
    until = datetime.now(UTC) + timedelta(seconds=0.4)
    await client.data(MUTE, {"r": room, "u": member.id, "t": until.isoformat()}, owner.token)
    assert await error_code(client, SEND, {"r": room, "c": "now?"}, member) == "FORBIDDEN"
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.05)
    await client.send(member, room, "the mute ran out")


async def test_delete_message_permission_matrix(staff: Staff) -> None:
    client, room = staff.client, staff.room
    expected = {
        "member": None,  # the author
        "member2": "FORBIDDEN",
        "radmin": None,
        "owner": None,
        "outsider": "NOT_FOUND",
        "banned": "NOT_FOUND",
    }
    for name, outcome in expected.items():
        sent = await client.send(staff["member"], room, f"to be deleted by {name}")
        if outcome is None:
            done = await client.data(DELETE_MESSAGE, {"i": sent["id"]}, staff[name].token)
            assert done["deleteMessage"] == {"id": sent["id"], "isDeleted": True}
        else:
            got = await error_code(client, DELETE_MESSAGE, {"i": sent["id"]}, staff[name])
            assert got == outcome, name


async def test_global_moderators_delete_messages_in_rooms_they_are_not_in(staff: Staff) -> None:
    client, room = staff.client, staff.room
    for name in ("mod", "boss"):
        sent = await client.send(staff["member"], room, f"abuse for {name}")
        done = await client.data(DELETE_MESSAGE, {"i": sent["id"]}, staff[name].token)
        assert done["deleteMessage"]["isDeleted"] is True


async def test_global_staff_who_are_members_outrank_room_admins(staff: Staff) -> None:
    client, room = staff.client, staff.room
    for name in ("mod", "boss"):
        await client.join(staff[name], room)
    # the owner still outranks everyone (controls that pass)
    mute_mod = {"r": staff.room, "u": staff["mod"].id}
    assert (await client.data(MUTE, mute_mod, staff["owner"].token))["muteInRoom"]
    assert (await client.data(UNMUTE, mute_mod, staff["owner"].token))["unmuteInRoom"]
    outcomes = {}
    for actor, target in (("radmin", "mod"), ("radmin", "boss"), ("mod", "boss")):
        variables = {"r": room, "u": staff[target].id}
        for action, query in (("mute", MUTE), ("remove", REMOVE), ("ban", BAN)):
            outcome = await client.post(query, variables, staff[actor].token)
            if "errors" in outcome:
                outcomes[actor, target, action] = code(outcome["errors"][0])
            else:
                outcomes[actor, target, action] = "allowed"
                await restore(staff, action, target)
    assert outcomes == dict.fromkeys(outcomes, "FORBIDDEN")


async def test_leaving_and_rejoining_does_not_lift_a_mute(staff: Staff) -> None:
    client, room, member = staff.client, staff.room, staff["member"]
    await client.data(MUTE, {"r": room, "u": member.id}, staff["owner"].token)
    assert await error_code(client, SEND, {"r": room, "c": "hi"}, member) == "FORBIDDEN"
    await client.data(LEAVE, {"r": room}, member.token)
    await client.join(member, room)
    assert await error_code(client, SEND, {"r": room, "c": "evaded"}, member) == "FORBIDDEN"


@pytest.mark.parametrize("action", ["remove", "ban"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_removed_or_banned_member_stops_receiving_at_once(
    server: Server, client: Client, protocol: str, action: str
) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "room", members=[bob.id, carol.id])
    bobs = await live_on(server, protocol, bob, ON_MESSAGE, {"r": room})
    carols = await live_on(server, protocol, carol, ON_MESSAGE, {"r": room})
    await client.send(alice, room, "before")
    assert [m["content"] for m in await bobs.messages(1)] == ["before"]
    query = REMOVE if action == "remove" else BAN
    assert (await client.post(query, {"r": room, "u": bob.id}, alice.token))["data"]
    await ends_forbidden(bobs)  # at once, without waiting for another message
    await client.send(alice, room, "after")
    assert [m["content"] for m in await carols.messages(2)] == ["before", "after"]
    again = await live(server, protocol, bob)
    await again.subscribe(ON_MESSAGE, {"r": room})
    assert code(await operation_error(again)) == "FORBIDDEN"
    for sock in (bobs, carols, again):
        await sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_deleting_a_room_ends_members_subscriptions(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "doomed", members=[bob.id])
    keep = await client.create_room(alice, "kept", members=[bob.id])
    streams = [await live_on(server, protocol, u, ON_MESSAGE, {"r": room}) for u in (alice, bob)]
    joined = await live_on(server, protocol, bob, ON_JOINED, {"r": room})
    lists = [await live_on(server, protocol, u, ON_MY_ROOMS) for u in (alice, bob)]
    assert (await client.data(DELETE_ROOM, {"r": room}, alice.token))["deleteChatRoom"] is True
    for sock in [*streams, joined]:
        await ends_forbidden(sock)
    for sock in lists:
        change = await event(sock, "onMyRoomsChanged")
        assert change == {"type": "DELETED", "chatRoomId": room, "room": None}
        await sock.nothing_within(0.2)
    assert [
        r["id"] for r in (await client.data(LIST_ROOMS, {}, bob.token))["listChatRooms"]["items"]
    ] == [keep]
    for sock in [*streams, joined, *lists]:
        await sock.close()


# ================================================================ 5. rate limits
async def test_sending_is_rate_limited_and_refused_messages_are_not_stored(
    settings: Settings,
) -> None:
    limited = replace(settings, rate_limit_messages="3/10")
    async with running_server(limited) as server:
        client = Client(server)
        alice, bob = await client.register("alice"), await client.register("bob")
        room = await client.create_room(alice, "fast", members=[bob.id])
        for i in range(3):
            await client.send(alice, room, f"m{i}")
        refused = await client.error(SEND, {"r": room, "c": "one too many"}, alice.token)
        assert code(refused) == "RATE_LIMITED"
        assert refused["extensions"]["retryAfter"] > 0
        history = await client.history(alice, room)
        assert [m["content"] for m in history] == ["m0", "m1", "m2"]
        assert (await client.data(GET_ROOM, {"r": room}, bob.token))["getChatRoom"][
            "unreadCount"
        ] == 3
        assert [n["type"] for n in await notes(client, bob)] == ["MESSAGE"] * 3 + ["ROOM_INVITE"]
        await client.send(bob, room, "bob has his own budget")
        await client.close()


async def test_login_attempts_are_limited_per_client_and_username(settings: Settings) -> None:
    async with running_server(settings) as first:  # accounts made without limits
        setup = Client(first)
        await setup.register("alice")
        await setup.register("bob")
        await setup.close()
    limited = replace(settings, rate_limit_auth="2/60")
    async with running_server(limited) as server:
        client = Client(server)
        wrong = await client.error(LOGIN, {"u": "alice", "p": "wrong password"})
        assert code(wrong) == "UNAUTHENTICATED"  # a failed attempt counts too
        await client.data(LOGIN, {"u": "alice", "p": "correct horse"})
        for name in ("alice", "ALICE "):  # the same username, however it is spelled
            refused = await client.error(LOGIN, {"u": name, "p": "correct horse"})
            assert code(refused) == "RATE_LIMITED"
            assert refused["extensions"]["retryAfter"] > 0
        await client.data(LOGIN, {"u": "bob", "p": "correct horse"})  # bob's own budget
        await client.close()


# ================================================================ 6. membership events
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_room_joined_and_left_reach_members(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob, carol, dave = [await client.register(n) for n in ("alice", "bob", "carol", "dave")]
    room = await client.create_room(alice, "lobby")
    joins = await live_on(server, protocol, alice, ON_JOINED, {"r": room})
    leaves = await live_on(server, protocol, alice, ON_LEFT, {"r": room})

    await client.join(bob, room)
    await client.data(ADD_MEMBER, {"r": room, "u": carol.id}, alice.token)
    await client.join(dave, room)
    for who in (bob, carol, dave):
        got = await event(joins, "onRoomJoined")
        assert got == {
            "chatRoomId": room,
            "userId": who.id,
            "role": "MEMBER",
            "user": {"id": who.id, "username": who.username},
        }
    bobs_leaves = await live_on(server, protocol, bob, ON_LEFT, {"r": room})
    await client.data(LEAVE, {"r": room}, carol.token)
    await client.data(REMOVE, {"r": room, "u": dave.id}, alice.token)
    for sock in (leaves, bobs_leaves):
        for who in (carol, dave):
            got = await event(sock, "onRoomLeft")
            assert (got["chatRoomId"], got["userId"], got["role"]) == (room, who.id, None)
            assert got["user"]["username"] == who.username
    await client.data(BAN, {"r": room, "u": bob.id}, alice.token)
    assert (await event(leaves, "onRoomLeft"))["userId"] == bob.id
    await ends_forbidden(bobs_leaves)  # bob's own stream ends instead
    await joins.nothing_within(0.2)
    for sock in (joins, leaves, bobs_leaves):
        await sock.close()


@pytest.mark.parametrize("query", [ON_JOINED, ON_LEFT])
async def test_membership_streams_are_for_members_only(
    server: Server, client: Client, query: str
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    public = await client.create_room(alice, "public")
    secret = await client.create_room(alice, "secret", private=True)
    for room, expected in ((public, "FORBIDDEN"), (secret, "NOT_FOUND"), ("x", "BAD_USER_INPUT")):
        sock = await live(server, TRANSPORT_WS, bob)
        await sock.subscribe(query, {"r": room})
        assert code(await operation_error(sock)) == expected, room
        await sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_my_rooms_changed_tells_added_removed_and_deleted(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    mine = await live_on(server, protocol, bob, ON_MY_ROOMS)

    async def expect(kind: str, room: str) -> dict[str, Any]:
        got = await event(mine, "onMyRoomsChanged")
        assert (got["type"], got["chatRoomId"]) == (kind, room), got
        if kind == "ADDED":
            assert got["room"]["id"] == room and got["room"]["myRole"] is not None
        else:
            assert got["room"] is None
        return got

    created = await client.create_room(alice, "created with bob", members=[bob.id])
    assert (await expect("ADDED", created))["room"]["name"] == "created with bob"
    await client.create_room(alice, "without bob", members=[carol.id])  # not bob's business
    added = await client.create_room(alice, "bob added later")
    await client.data(ADD_MEMBER, {"r": added, "u": bob.id}, alice.token)
    await expect("ADDED", added)
    dm = (await client.data(DIRECT, {"u": bob.id}, alice.token))["startDirectChat"]["id"]
    assert (await expect("ADDED", dm))["room"]["isDirect"] is True
    public = await client.create_room(alice, "public")
    await client.join(bob, public)
    await expect("ADDED", public)

    await client.data(REMOVE, {"r": created, "u": bob.id}, alice.token)
    await expect("REMOVED", created)
    await client.data(BAN, {"r": added, "u": bob.id}, alice.token)
    await expect("REMOVED", added)
    await client.data(LEAVE, {"r": public}, bob.token)
    await expect("REMOVED", public)
    doomed = await client.create_room(alice, "doomed", members=[bob.id, carol.id])
    await expect("ADDED", doomed)
    await client.data(DELETE_ROOM, {"r": doomed}, alice.token)
    await expect("DELETED", doomed)
    await mine.nothing_within(0.3)
    await mine.close()
