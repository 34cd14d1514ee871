"""Rooms and memberships over real sockets: ownership, joining and leaving, private rooms that
answer exactly like rooms that do not exist, direct chats, room lists, and message history."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import pytest

from tests.helpers import ON_MESSAGE, PROTOCOLS, Account, Client, Server, Socket

ROOM = (
    "query($r: ID!) { getChatRoom(id: $r) { id name isPrivate isDirect memberCount messageCount "
    "myRole owner { id } createdBy { id } lastMessage { id content } "
    "members(limit: 100) { items { id } } } }"
)
JOIN = "mutation($r: ID!) { joinRoom(roomId: $r) { id memberCount myRole } }"
LEAVE = "mutation($r: ID!) { leaveRoom(roomId: $r) }"
ADD = "mutation($r: ID!, $u: ID!) { addRoomMember(roomId: $r, userId: $u) { id memberCount } }"
DM = "mutation($u: ID!) { startDirectChat(userId: $u) { id isDirect isPrivate memberCount } }"
HISTORY = (
    "query($r: ID!, $l: Int, $t: String, $b: DateTime, $d: ModelSortDirection!) "
    "{ messagesByRoom(chatRoomId: $r, limit: $l, nextToken: $t, before: $b, sortDirection: $d) "
    "{ items { id seq content createdAt } nextToken } }"
)
SEND = (
    "mutation($i: CreateMessageInput!) { createMessage(input: $i) "
    "{ id seq content createdAt chatRoom { id } } }"
)
GET_MESSAGE = "query($m: ID!) { getMessage(id: $m) { id content chatRoom { id name } } }"
MY_ROOMS = (
    "query($l: Int, $t: String) { listChatRooms(limit: $l, nextToken: $t) "
    "{ items { id name lastActivity } nextToken } }"
)
PUBLIC_ROOMS = (
    "query($q: String, $t: String) { listPublicRooms(term: $q, limit: 100, nextToken: $t) "
    "{ items { id name lastMessage { id } } nextToken } }"
)


def code_of(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


def unknown_id() -> str:
    return uuid.uuid4().hex


async def room_as(client: Client, viewer: Account, room_id: str) -> dict[str, Any] | None:
    return (await client.data(ROOM, {"r": room_id}, viewer.token))["getChatRoom"]  # type: ignore[no-any-return]


async def my_room_ids(client: Client, viewer: Account) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = (await client.data(MY_ROOMS, {"l": 100, "t": token}, viewer.token))["listChatRooms"]
        ids += [r["id"] for r in page["items"]]
        token = page["nextToken"]
        if token is None:
            return ids


async def public_room_ids(client: Client, viewer: Account, term: str | None = None) -> list[str]:
    page = (await client.data(PUBLIC_ROOMS, {"q": term}, viewer.token))["listPublicRooms"]
    return [r["id"] for r in page["items"]]


async def history(
    client: Client, viewer: Account, room_id: str, direction: str = "ASC", **extra: Any
) -> list[dict[str, Any]]:
    variables = {"r": room_id, "l": 100, "d": direction, **extra}
    return (await client.data(HISTORY, variables, viewer.token))["messagesByRoom"]["items"]  # type: ignore[no-any-return]


async def dm(client: Client, viewer: Account, other: Account) -> dict[str, Any]:
    return (await client.data(DM, {"u": other.id}, viewer.token))["startDirectChat"]  # type: ignore[no-any-return]


def send_vars(room_id: str, content: str, client_id: str | None = None) -> dict[str, Any]:
    return {"i": {"chatRoomId": room_id, "content": content, "clientId": client_id}}


# ---------------------------------------------------------------- creating and joining


async def test_the_creator_owns_the_room_and_is_its_only_member(client: Client) -> None:
    alice = await client.register("alice")
    room_id = await client.create_room(alice, "lobby")
    room = await room_as(client, alice, room_id)
    assert room is not None
    assert room["owner"]["id"] == room["createdBy"]["id"] == alice.id
    assert room["myRole"] == "OWNER"
    assert room["memberCount"] == 1
    assert [m["id"] for m in room["members"]["items"]] == [alice.id]
    assert room_id in await my_room_ids(client, alice)


async def test_member_ids_become_members_of_the_new_room(client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room_id = await client.create_room(alice, "team", private=True, members=[bob.id, carol.id])
    room = await room_as(client, bob, room_id)
    assert room is not None
    assert room["memberCount"] == 3
    assert {m["id"] for m in room["members"]["items"]} == {alice.id, bob.id, carol.id}
    assert room["myRole"] == "MEMBER"
    assert room["owner"]["id"] == alice.id
    assert room_id in await my_room_ids(client, carol)


async def test_anyone_may_join_a_public_room_and_joining_twice_changes_nothing(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "open")
    first = (await client.data(JOIN, {"r": room_id}, bob.token))["joinRoom"]
    second = (await client.data(JOIN, {"r": room_id}, bob.token))["joinRoom"]
    assert first["memberCount"] == second["memberCount"] == 2
    assert first["myRole"] == second["myRole"] == "MEMBER"
    room = await room_as(client, alice, room_id)
    assert room is not None and room["memberCount"] == 2
    assert room["owner"]["id"] == alice.id
    assert room_id in await my_room_ids(client, bob)


# ---------------------------------------------------------------- private rooms


async def test_a_private_room_answers_a_non_member_exactly_like_a_missing_room(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    secret = await client.create_room(alice, "secret plans", private=True)
    await client.send(alice, secret, "the plan")

    assert await room_as(client, bob, secret) is None
    operations = [
        (JOIN, lambda r: {"r": r}),
        (LEAVE, lambda r: {"r": r}),
        (HISTORY, lambda r: {"r": r, "d": "DESC"}),
        (SEND, lambda r: send_vars(r, "let me in")),
        (ADD, lambda r: {"r": r, "u": bob.id}),
    ]
    missing = unknown_id()
    for query, variables in operations:
        hidden = await client.error(query, variables(secret), bob.token)
        absent = await client.error(query, variables(missing), bob.token)
        assert code_of(hidden) == "NOT_FOUND", (query, hidden)
        assert (hidden["message"], hidden["extensions"]) == (
            absent["message"],
            absent["extensions"],
        ), query
    # and nothing changed: bob is still not in, the message count is still 1
    room = await room_as(client, alice, secret)
    assert room is not None and room["memberCount"] == 1 and room["messageCount"] == 1


async def test_private_rooms_are_never_listed_for_non_members(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    secret = await client.create_room(alice, "secret plans", private=True)
    public = await client.create_room(alice, "public plans")
    await client.send(alice, secret, "hush")
    assert secret not in await public_room_ids(client, bob)
    assert secret not in await public_room_ids(client, bob, "secret")
    assert secret not in await public_room_ids(client, alice)  # not even for its members
    assert public in await public_room_ids(client, bob, "plans")
    assert secret not in await my_room_ids(client, bob)
    assert secret in await my_room_ids(client, alice)


async def test_a_private_message_is_invisible_to_non_members(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    secret = await client.create_room(alice, "secret plans", private=True)
    message = await client.send(alice, secret, "the plan")
    body = await client.post(GET_MESSAGE, {"m": message["id"]}, bob.token)
    assert body == {"data": {"getMessage": None}}
    own = (await client.data(GET_MESSAGE, {"m": message["id"]}, alice.token))["getMessage"]
    assert own["chatRoom"] == {"id": secret, "name": "secret plans"}


async def test_a_member_who_leaves_a_private_room_loses_sight_of_it(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    secret = await client.create_room(alice, "secret", private=True, members=[bob.id])
    message = await client.send(alice, secret, "before bob left")
    assert (await client.data(LEAVE, {"r": secret}, bob.token))["leaveRoom"] is True
    assert await room_as(client, bob, secret) is None
    assert (await client.data(GET_MESSAGE, {"m": message["id"]}, bob.token))["getMessage"] is None
    error = await client.error(HISTORY, {"r": secret, "d": "DESC"}, bob.token)
    assert code_of(error) == "NOT_FOUND"
    assert secret not in await my_room_ids(client, bob)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribing_to_a_private_room_as_a_non_member_is_not_found(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    secret = await client.create_room(alice, "secret", private=True)
    sock = await Socket.connect(server, protocol, bob.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": secret})
    payload = await sock.next_payload()
    assert code_of(payload["errors"][0]) == "NOT_FOUND", payload
    assert payload.get("data") is None
    assert (await sock.recv())["type"] == "complete"
    await client.send(alice, secret, "never delivered to bob")
    await sock.nothing_within(0.3)
    await sock.close()


async def test_last_message_is_hidden_from_non_members_of_a_public_room(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "open")
    await client.send(alice, room_id, "members only")
    as_bob = await room_as(client, bob, room_id)
    assert as_bob is not None and as_bob["lastMessage"] is None and as_bob["myRole"] is None
    listed = (await client.data(PUBLIC_ROOMS, {"q": "open"}, bob.token))["listPublicRooms"]
    assert [r["lastMessage"] for r in listed["items"]] == [None]
    as_alice = await room_as(client, alice, room_id)
    assert as_alice is not None and as_alice["lastMessage"]["content"] == "members only"


async def test_only_the_owner_adds_members_to_a_private_room(client: Client) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    secret = await client.create_room(alice, "secret", private=True, members=[bob.id])
    await client.send(alice, secret, "welcome")
    error = await client.error(ADD, {"r": secret, "u": carol.id}, bob.token)
    assert code_of(error) == "FORBIDDEN", error
    assert await room_as(client, carol, secret) is None

    added = (await client.data(ADD, {"r": secret, "u": carol.id}, alice.token))["addRoomMember"]
    assert added["memberCount"] == 3
    room = await room_as(client, carol, secret)
    assert room is not None and room["myRole"] == "MEMBER"
    assert [m["content"] for m in await history(client, carol, secret)] == ["welcome"]
    await client.send(carol, secret, "thanks")
    assert secret in await my_room_ids(client, carol)


async def test_a_non_member_of_a_public_room_may_look_but_not_read_or_write(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "open")
    await client.send(alice, room_id, "hello")
    room = await room_as(client, bob, room_id)
    assert room is not None and room["messageCount"] == 1
    error = await client.error(HISTORY, {"r": room_id, "d": "DESC"}, bob.token)
    assert code_of(error) == "FORBIDDEN", error
    error = await client.error(SEND, send_vars(room_id, "hi"), bob.token)
    assert code_of(error) == "FORBIDDEN", error
    nested = await client.error(
        "query($r: ID!) { getChatRoom(id: $r) { messages { items { id } } } }",
        {"r": room_id},
        bob.token,
    )
    assert code_of(nested) == "FORBIDDEN", nested
    assert (await room_as(client, alice, room_id) or {})["messageCount"] == 1


# ---------------------------------------------------------------- direct chats


async def test_start_direct_chat_returns_the_same_room_from_either_side(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    first = await dm(client, alice, bob)
    again = await dm(client, alice, bob)
    reverse = await dm(client, bob, alice)
    assert first["id"] == again["id"] == reverse["id"]
    assert first["isDirect"] is True and first["isPrivate"] is True
    assert reverse["memberCount"] == 2


async def test_concurrent_direct_chat_starts_from_both_sides_agree_on_one_room(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    calls = [dm(client, alice, bob) if i % 2 else dm(client, bob, alice) for i in range(10)]
    rooms = await asyncio.gather(*calls)
    assert len({r["id"] for r in rooms}) == 1, rooms
    assert (await my_room_ids(client, alice)) == [rooms[0]["id"]]
    assert (await my_room_ids(client, bob)) == [rooms[0]["id"]]


async def test_a_direct_chat_with_yourself_is_bad_user_input(client: Client) -> None:
    alice = await client.register("alice")
    error = await client.error(DM, {"u": alice.id}, alice.token)
    assert code_of(error) == "BAD_USER_INPUT", error


async def test_a_direct_chat_with_an_unknown_user_is_not_found(client: Client) -> None:
    alice = await client.register("alice")
    error = await client.error(DM, {"u": unknown_id()}, alice.token)
    assert code_of(error) == "NOT_FOUND", error
    assert await my_room_ids(client, alice) == []


async def test_a_third_user_cannot_see_or_enter_a_direct_chat(client: Client) -> None:
    alice, bob, eve = [await client.register(n) for n in ("alice", "bob", "eve")]
    room_id = (await dm(client, alice, bob))["id"]
    message = await client.send(alice, room_id, "just between us")
    assert await room_as(client, eve, room_id) is None
    for query, variables in (
        (JOIN, {"r": room_id}),
        (HISTORY, {"r": room_id, "d": "DESC"}),
        (SEND, send_vars(room_id, "hi")),
    ):
        error = await client.error(query, variables, eve.token)
        assert code_of(error) == "NOT_FOUND", (query, error)
    assert (await client.data(GET_MESSAGE, {"m": message["id"]}, eve.token))["getMessage"] is None
    error = await client.error(ADD, {"r": room_id, "u": eve.id}, alice.token)
    assert code_of(error) == "FORBIDDEN", error
    assert room_id not in await my_room_ids(client, eve)
    assert room_id not in await public_room_ids(client, eve)


# ---------------------------------------------------------------- leaving


async def test_an_owner_who_leaves_hands_the_room_to_the_longest_standing_member(
    client: Client,
) -> None:
    alice = await client.register("alice")
    room_id = await client.create_room(alice, "handover")
    others = [await client.register(n) for n in ("bob", "carol", "dave")]
    # join in descending id order, so that "longest-standing" and "smallest id" differ
    others.sort(key=lambda a: a.id, reverse=True)
    for account in others:
        await client.join(account, room_id)
        await asyncio.sleep(0.01)  # distinct join times
    senior = others[0]

    assert (await client.data(LEAVE, {"r": room_id}, alice.token))["leaveRoom"] is True
    room = await room_as(client, senior, room_id)
    assert room is not None
    assert room["owner"]["id"] == senior.id
    assert room["myRole"] == "OWNER"
    assert room["memberCount"] == 3
    for junior in others[1:]:
        assert (await room_as(client, junior, room_id) or {})["myRole"] == "MEMBER"
    assert (await room_as(client, alice, room_id) or {})["myRole"] is None


async def test_ownership_passes_to_members_added_at_creation(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    secret = await client.create_room(alice, "secret", private=True, members=[bob.id])
    assert (await client.data(LEAVE, {"r": secret}, alice.token))["leaveRoom"] is True
    room = await room_as(client, bob, secret)
    assert room is not None and room["owner"]["id"] == bob.id and room["myRole"] == "OWNER"
    carol = await client.register("carol")
    added = (await client.data(ADD, {"r": secret, "u": carol.id}, bob.token))["addRoomMember"]
    assert added["memberCount"] == 2


async def test_leaving_a_direct_chat_is_allowed_and_hides_it_from_the_leaver(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = (await dm(client, alice, bob))["id"]
    await client.send(alice, room_id, "hi bob")
    assert (await client.data(LEAVE, {"r": room_id}, bob.token))["leaveRoom"] is True
    assert await room_as(client, bob, room_id) is None
    assert room_id not in await my_room_ids(client, bob)
    remaining = await room_as(client, alice, room_id)
    assert remaining is not None and remaining["memberCount"] == 1


async def test_starting_a_direct_chat_again_after_leaving_it_rejoins_the_leaver(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = (await dm(client, alice, bob))["id"]
    assert (await client.data(LEAVE, {"r": room_id}, bob.token))["leaveRoom"] is True
    again = await dm(client, bob, alice)
    assert again["id"] == room_id
    room = await room_as(client, bob, room_id)
    assert room is not None and room["myRole"] == "MEMBER" and room["memberCount"] == 2
    await client.send(bob, room_id, "I'm back")


async def test_leaving_a_public_room_you_are_not_in_returns_false(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "open")
    assert (await client.data(LEAVE, {"r": room_id}, bob.token))["leaveRoom"] is False
    await client.join(bob, room_id)
    assert (await client.data(LEAVE, {"r": room_id}, bob.token))["leaveRoom"] is True
    assert (await client.data(LEAVE, {"r": room_id}, bob.token))["leaveRoom"] is False
    room = await room_as(client, alice, room_id)
    assert room is not None and room["memberCount"] == 1 and room["owner"]["id"] == alice.id


# ---------------------------------------------------------------- room lists


async def test_list_chat_rooms_puts_the_most_recent_activity_first_and_pages(
    client: Client,
) -> None:
    alice = await client.register("alice")
    rooms = []
    for i in range(5):
        rooms.append(await client.create_room(alice, f"room {i}"))
        await asyncio.sleep(0.01)
    for i in (2, 0, 4):
        await client.send(alice, rooms[i], f"activity in {i}")
        await asyncio.sleep(0.01)
    expected = [rooms[4], rooms[0], rooms[2], rooms[3], rooms[1]]

    seen: list[str] = []
    times: list[str] = []
    token = None
    pages = 0
    while True:
        page = (await client.data(MY_ROOMS, {"l": 2, "t": token}, alice.token))["listChatRooms"]
        assert len(page["items"]) <= 2
        seen += [r["id"] for r in page["items"]]
        times += [r["lastActivity"] for r in page["items"]]
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
        assert pages < 10, "pagination does not terminate"
    assert seen == expected
    assert times == sorted(times, reverse=True)
    assert pages == 3


# ---------------------------------------------------------------- messages


async def test_last_message_and_message_count_follow_each_send(client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "chat", members=[bob.id])
    room = await room_as(client, alice, room_id)
    assert room is not None and room["messageCount"] == 0 and room["lastMessage"] is None
    for n, (author, text) in enumerate([(alice, "one"), (bob, "two"), (alice, "three")], 1):
        sent = await client.send(author, room_id, text)
        room = await room_as(client, bob, room_id)
        assert room is not None
        assert room["messageCount"] == n
        assert room["lastMessage"] == {"id": sent["id"], "content": text}


async def test_a_retried_client_id_returns_the_same_message_without_counting_it_twice(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "chat", members=[bob.id])
    other_room = await client.create_room(alice, "other")
    first = await client.send(alice, room_id, "once", client_id="c-1")
    retry = await client.send(alice, room_id, "once", client_id="c-1")
    assert retry["id"] == first["id"] and retry["seq"] == first["seq"]
    room = await room_as(client, alice, room_id)
    assert room is not None and room["messageCount"] == 1
    assert [m["id"] for m in await history(client, alice, room_id)] == [first["id"]]

    # the key is (room, author, clientId): another author or room is another message
    by_bob = await client.send(bob, room_id, "mine", client_id="c-1")
    elsewhere = await client.send(alice, other_room, "there", client_id="c-1")
    assert len({first["id"], by_bob["id"], elsewhere["id"]}) == 3
    room = await room_as(client, alice, room_id)
    assert room is not None and room["messageCount"] == 2


async def test_concurrent_retries_of_one_client_id_store_one_message(client: Client) -> None:
    alice = await client.register("alice")
    room_id = await client.create_room(alice, "chat")
    sent = await asyncio.gather(
        *(client.send(alice, room_id, "tap", client_id="double-tap") for _ in range(8))
    )
    assert len({m["id"] for m in sent}) == 1
    room = await room_as(client, alice, room_id)
    assert room is not None and room["messageCount"] == 1


async def test_messages_before_a_time_are_only_the_older_ones(client: Client) -> None:
    alice = await client.register("alice")
    room_id = await client.create_room(alice, "chat")
    sent = []
    for i in range(4):
        sent.append(await client.send(alice, room_id, f"m{i}"))
        await asyncio.sleep(0.02)
    cutoff = (await history(client, alice, room_id))[2]["createdAt"]
    older = await history(client, alice, room_id, "DESC", b=cutoff)
    assert [m["content"] for m in older] == ["m1", "m0"]
    older_asc = await history(client, alice, room_id, "ASC", b=cutoff)
    assert [m["content"] for m in older_asc] == ["m0", "m1"]
    assert await history(client, alice, room_id, "ASC", b="2000-01-01T00:00:00.000Z") == []
    assert len(await history(client, alice, room_id, "ASC", b="2999-01-01T00:00:00Z")) == 4


async def test_sort_direction_orders_history_both_ways(client: Client) -> None:
    alice = await client.register("alice")
    room_id = await client.create_room(alice, "chat")
    for i in range(5):
        await client.send(alice, room_id, f"m{i}")
    ascending = await history(client, alice, room_id, "ASC")
    descending = await history(client, alice, room_id, "DESC")
    assert [m["content"] for m in ascending] == [f"m{i}" for i in range(5)]
    assert descending == list(reversed(ascending))
    default = await client.data(
        "query($r: ID!) { messagesByRoom(chatRoomId: $r) { items { content } } }",
        {"r": room_id},
        alice.token,
    )
    assert [m["content"] for m in default["messagesByRoom"]["items"]] == [
        f"m{i}" for i in reversed(range(5))
    ]


async def test_message_seq_strictly_increases_even_under_concurrent_sends(
    client: Client,
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room_id = await client.create_room(alice, "busy", members=[bob.id])
    sends = [client.send(alice if i % 2 else bob, room_id, f"m{i}") for i in range(12)]
    sent = await asyncio.gather(*sends)
    assert sorted(m["seq"] for m in sent) == list(range(1, 13))
    seqs = [m["seq"] for m in await history(client, alice, room_id)]
    assert seqs == list(range(1, 13))
    assert all(a < b for a, b in itertools.pairwise(seqs))
    later = await client.send(alice, room_id, "after")
    assert later["seq"] == 13


async def test_content_is_trimmed_and_message_chat_room_is_its_room(client: Client) -> None:
    alice = await client.register("alice")
    room_id = await client.create_room(alice, "chat")
    sent = (await client.data(SEND, send_vars(room_id, "  padded \n"), alice.token))[
        "createMessage"
    ]
    assert sent["content"] == "padded"
    assert sent["chatRoom"] == {"id": room_id}
