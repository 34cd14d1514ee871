"""Hostile and malformed input over real sockets. Every case must come back as a GraphQL error
with an `extensions.code` (never a 500, never a traceback), and the server must keep serving."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets

from tests.helpers import (
    LEGACY_WS,
    ON_MESSAGE,
    PROTOCOLS,
    TRANSPORT_WS,
    Account,
    Client,
    Server,
    Socket,
    room_subscribed,
)

MALFORMED_IDS = ["abc", "", "x" * 1000, uuid.uuid4().hex.upper(), "g" * 32, uuid.uuid4().hex[:31]]
HISTORY = (
    "query($r: ID!, $l: Int, $t: String, $d: ModelSortDirection!) "
    "{ messagesByRoom(chatRoomId: $r, limit: $l, nextToken: $t, sortDirection: $d) "
    "{ items { id seq } nextToken } }"
)
SEND = "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id content seq } }"
ME = "{ me { id } }"


def code_of(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


async def raw(
    client: Client,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL request; the body, after checking it is a clean 200 JSON answer."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.http.post(
        client.server.url, json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert_no_traceback(response.text)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def expect_code(
    client: Client,
    code: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    body = await raw(client, query, variables, token)
    assert body.get("errors"), body
    for error in body["errors"]:
        assert "code" in error.get("extensions", {}), error
    assert code_of(body["errors"][0]) == code, body
    return body


async def code_for(client: Client, query: str, variables: dict[str, Any] | None, token: str) -> str:
    """The code of the first error, or "no error"; lets a test collect every outcome."""
    body = await raw(client, query, variables, token)
    return code_of(body["errors"][0]) if body.get("errors") else "no error"


@pytest.fixture
async def viewer(client: Client) -> AsyncIterator[Account]:
    """A signed-in user; afterwards, proof that the server still answers a plain query."""
    account = await client.register("viewer")
    yield account
    assert (await client.data(ME, token=account.token))["me"]["id"] == account.id


async def own_room(client: Client, viewer: Account, name: str = "mine") -> str:
    return await client.create_room(viewer, name)


# ---------------------------------------------------------------- ids

Op = tuple[str, Callable[[str, str, str], dict[str, Any]]]
ID_OPERATIONS: dict[str, Op] = {
    "getChatRoom": ("query($x: ID!) { getChatRoom(id: $x) { id } }", lambda x, r, u: {"x": x}),
    "getUser": ("query($x: ID!) { getUser(id: $x) { id } }", lambda x, r, u: {"x": x}),
    "getMessage": ("query($x: ID!) { getMessage(id: $x) { id } }", lambda x, r, u: {"x": x}),
    "messagesByRoom": (
        "query($x: ID!) { messagesByRoom(chatRoomId: $x) { items { id } } }",
        lambda x, r, u: {"x": x},
    ),
    "joinRoom": ("mutation($x: ID!) { joinRoom(roomId: $x) { id } }", lambda x, r, u: {"x": x}),
    "leaveRoom": ("mutation($x: ID!) { leaveRoom(roomId: $x) }", lambda x, r, u: {"x": x}),
    "startDirectChat": (
        "mutation($x: ID!) { startDirectChat(userId: $x) { id } }",
        lambda x, r, u: {"x": x},
    ),
    "addRoomMember.roomId": (
        "mutation($x: ID!, $u: ID!) { addRoomMember(roomId: $x, userId: $u) { id } }",
        lambda x, r, u: {"x": x, "u": u},
    ),
    "addRoomMember.userId": (
        "mutation($r: ID!, $x: ID!) { addRoomMember(roomId: $r, userId: $x) { id } }",
        lambda x, r, u: {"r": r, "x": x},
    ),
    "createMessage": (SEND, lambda x, r, u: {"i": {"chatRoomId": x, "content": "hello"}}),
    "createChatRoom.memberIds": (
        "mutation($i: CreateChatRoomInput!) { createChatRoom(input: $i) { id } }",
        lambda x, r, u: {"i": {"name": "room", "memberIds": [x]}},
    ),
}


async def test_malformed_ids_are_bad_user_input(client: Client, viewer: Account) -> None:
    other = await client.register("other")
    room_id = await own_room(client, viewer)
    for name, (query, variables) in ID_OPERATIONS.items():
        for bad in MALFORMED_IDS:
            body = await raw(client, query, variables(bad, room_id, other.id), viewer.token)
            assert body.get("errors"), (name, bad[:40], body)
            assert code_of(body["errors"][0]) == "BAD_USER_INPUT", (name, bad[:40], body)
    rooms = await raw(client, "{ listChatRooms { items { id } } }", None, viewer.token)
    assert rooms["data"]["listChatRooms"]["items"] == [{"id": room_id}]  # nothing was created


async def test_malformed_ids_as_literals_are_bad_user_input(
    client: Client, viewer: Account
) -> None:
    for literal in ('"abc"', '""', "12345", f'"{uuid.uuid4().hex.upper()}"'):
        await expect_code(
            client,
            "BAD_USER_INPUT",
            f"{{ getChatRoom(id: {literal}) {{ id }} }}",
            None,
            viewer.token,
        )


async def test_unknown_well_formed_ids_are_null_or_not_found(
    client: Client, viewer: Account
) -> None:
    other = await client.register("other")
    room_id = await own_room(client, viewer)
    unknown = uuid.uuid4().hex
    nullable = {"getChatRoom", "getUser", "getMessage"}
    for name, (query, variables) in ID_OPERATIONS.items():
        body = await raw(client, query, variables(unknown, room_id, other.id), viewer.token)
        if name in nullable:
            assert body == {"data": {name: None}}, (name, body)
        else:
            assert body.get("errors"), (name, body)
            assert code_of(body["errors"][0]) == "NOT_FOUND", (name, body)


# ---------------------------------------------------------------- page tokens


async def test_bad_history_tokens_are_bad_user_input(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer, "first")
    other_room = await own_room(client, viewer, "second")
    for i in range(3):
        await client.send(viewer, room_id, f"m{i}")
        await client.send(viewer, other_room, f"o{i}")

    async def token_of(room: str, direction: str) -> str:
        data = await client.data(HISTORY, {"r": room, "l": 1, "d": direction}, viewer.token)
        token = data["messagesByRoom"]["nextToken"]
        assert token
        return str(token)

    rooms_token = (
        await client.data("{ listChatRooms(limit: 1) { nextToken } }", None, viewer.token)
    )["listChatRooms"]["nextToken"]
    assert rooms_token
    desc_token = await token_of(room_id, "DESC")
    bad_tokens = {
        "garbage": "garbage",
        "empty": "",
        "too long": "A" * 2000,
        "not base64 json": base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        "other json": b64({"a": 1}),
        "bare kind": b64(["h"]),
        "short": b64(["h", room_id, "DESC"]),
        "string seq": b64(["h", room_id, "DESC", "3"]),
        "null": b64(None),
        "another room": await token_of(other_room, "ASC"),
        "another direction": desc_token,  # used with ASC below
        "listChatRooms token": rooms_token,
    }
    for label, token in bad_tokens.items():
        variables = {"r": room_id, "l": 1, "t": token, "d": "ASC"}
        body = await raw(client, HISTORY, variables, viewer.token)
        assert body.get("errors"), (label, body)
        assert code_of(body["errors"][0]) == "BAD_USER_INPUT", (label, body)
    # the genuine token still works where it belongs
    good = await client.data(
        HISTORY, {"r": room_id, "l": 1, "t": desc_token, "d": "DESC"}, viewer.token
    )
    assert [m["seq"] for m in good["messagesByRoom"]["items"]] == [2]


async def test_a_history_token_with_an_out_of_range_seq_is_bad_user_input(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    await client.send(viewer, room_id, "m")
    outcomes = {}
    for seq in (10**30, -(10**30)):
        token = b64(["h", room_id, "DESC", seq])
        variables = {"r": room_id, "l": 1, "t": token, "d": "DESC"}
        outcomes[seq] = await code_for(client, HISTORY, variables, viewer.token)
    assert outcomes == dict.fromkeys(outcomes, "BAD_USER_INPUT")


async def test_bad_tokens_for_the_other_lists_are_bad_user_input(
    client: Client, viewer: Account
) -> None:
    bob = await client.register("bob")
    room_id = await own_room(client, viewer, "first")
    other_room = await own_room(client, viewer, "second")
    for room in (room_id, other_room):
        await client.join(bob, room)
        await client.send(viewer, room, "hi")
        await client.send(viewer, room, "again")
    members = "query($r: ID!, $t: String) { getChatRoom(id: $r) { members(limit: 1, nextToken: $t) { items { id } nextToken } } }"  # noqa: E501
    other_members_token = (await client.data(members, {"r": other_room}, viewer.token))[
        "getChatRoom"
    ]["members"]["nextToken"]
    history_token = (await client.data(HISTORY, {"r": room_id, "l": 1, "d": "DESC"}, viewer.token))[
        "messagesByRoom"
    ]["nextToken"]
    assert other_members_token and history_token

    other_history_token = (
        await client.data(HISTORY, {"r": other_room, "l": 1, "d": "DESC"}, viewer.token)
    )["messagesByRoom"]["nextToken"]
    common = ["garbage", b64({"a": 1}), b64(["r", "not a date", room_id]), b64(["u"])]
    cases = [
        ('query($t: String) { searchUsers(term: "v", nextToken: $t) { items { id } } }', {}),
        ("query($t: String) { listChatRooms(nextToken: $t) { items { id } } }", {}),
        ("query($t: String) { listPublicRooms(nextToken: $t) { items { id } } }", {}),
        (members, {"r": room_id}),
    ]
    for query, variables in cases:
        for token in [*common, history_token]:
            await expect_code(
                client, "BAD_USER_INPUT", query, {**variables, "t": token}, viewer.token
            )
    room_messages = (
        "query($r: ID!, $t: String) { getChatRoom(id: $r) "
        "{ messages(nextToken: $t) { items { id } } } }"
    )
    for token in [*common, other_history_token]:
        await expect_code(
            client, "BAD_USER_INPUT", room_messages, {"r": room_id, "t": token}, viewer.token
        )
    await expect_code(
        client, "BAD_USER_INPUT", members, {"r": room_id, "t": other_members_token}, viewer.token
    )


# ---------------------------------------------------------------- subscription cursors


async def first_result(sock: Socket) -> dict[str, Any]:
    """The first answer to an operation: a `next`/`data` payload or an `error` frame."""
    frame = await sock.recv()
    assert_no_traceback(json.dumps(frame))
    assert frame["type"] in ("next", "data", "error"), frame
    if frame["type"] == "error":
        errors = frame["payload"] if isinstance(frame["payload"], list) else [frame["payload"]]
        return {"errors": errors}
    return frame["payload"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_bad_after_cursors_on_a_subscription_are_bad_user_input(
    server: Server, client: Client, viewer: Account, protocol: str
) -> None:
    room_id = await own_room(client, viewer, "first")
    other_room = await own_room(client, viewer, "second")
    foreign = (await client.send(viewer, other_room, "elsewhere"))["cursor"]
    sock = await Socket.connect(server, protocol, viewer.token)
    await sock.ack()
    for after in ("garbage", foreign, b64({"a": 1}), b64(["m", room_id, -1]), b64(["m", room_id])):
        await sock.subscribe(ON_MESSAGE, {"r": room_id, "a": after})
        result = await first_result(sock)
        assert code_of(result["errors"][0]) == "BAD_USER_INPUT", (after, result)
        assert result.get("data") is None
        frame = await sock.recv()
        assert frame["type"] == "complete", frame
    # the connection still works
    await sock.subscribe(ON_MESSAGE, {"r": room_id})
    await room_subscribed(server, room_id)
    await client.send(viewer, room_id, "still here")
    assert [m["content"] for m in await sock.messages(1)] == ["still here"]
    await sock.close()


async def test_an_after_cursor_with_an_out_of_range_seq_is_bad_user_input(
    server: Server, client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    sock = await Socket.connect(server, TRANSPORT_WS, viewer.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": room_id, "a": b64(["m", room_id, 10**30])})
    result = await first_result(sock)
    await sock.close()
    assert code_of(result["errors"][0]) == "BAD_USER_INPUT", result


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_malformed_room_ids_on_a_subscription_are_bad_user_input(
    server: Server, client: Client, viewer: Account, protocol: str
) -> None:
    sock = await Socket.connect(server, protocol, viewer.token)
    await sock.ack()
    for bad in ("abc", "", uuid.uuid4().hex.upper()):
        await sock.subscribe(ON_MESSAGE, {"r": bad})
        result = await first_result(sock)
        assert code_of(result["errors"][0]) == "BAD_USER_INPUT", (bad, result)
        assert (await sock.recv())["type"] == "complete"
    await sock.subscribe(ON_MESSAGE, {"r": uuid.uuid4().hex})
    assert code_of((await first_result(sock))["errors"][0]) == "NOT_FOUND"
    await sock.close()


# ---------------------------------------------------------------- message content


async def test_empty_blank_and_oversized_content_is_bad_user_input(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    for content in ("", "   ", "\n\t \n", "x" * 4001, "bell\x07", "nul\x00"):
        await expect_code(
            client,
            "BAD_USER_INPUT",
            SEND,
            {"i": {"chatRoomId": room_id, "content": content}},
            viewer.token,
        )
    room = await client.data(
        "query($r: ID!) { getChatRoom(id: $r) { messageCount } }", {"r": room_id}, viewer.token
    )
    assert room["getChatRoom"]["messageCount"] == 0


async def test_content_of_exactly_4000_characters_is_accepted(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    sent = await client.send(viewer, room_id, "y" * 4000)
    assert sent["content"] == "y" * 4000
    padded = await client.send(viewer, room_id, "  " + "z" * 4000 + "\n")
    assert padded["content"] == "z" * 4000


async def test_content_is_trimmed_but_inner_newlines_and_tabs_are_kept(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    sent = await client.send(viewer, room_id, "  \n hello\n\tworld  \n")
    assert sent["content"] == "hello\n\tworld"
    assert [m["content"] for m in await client.history(viewer, room_id)] == ["hello\n\tworld"]


async def test_clients_cannot_send_system_messages(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer)
    await expect_code(
        client,
        "BAD_USER_INPUT",
        SEND,
        {"i": {"chatRoomId": room_id, "content": "I am root", "messageType": "SYSTEM"}},
        viewer.token,
    )
    await expect_code(
        client,
        "BAD_USER_INPUT",
        f'mutation {{ createMessage(input: {{chatRoomId: "{room_id}", content: "x", '
        "messageType: SYSTEM}) { id } }",
        None,
        viewer.token,
    )
    assert await client.history(viewer, room_id) == []
    image = await client.data(
        "mutation($i: CreateMessageInput!) { createMessage(input: $i) { messageType } }",
        {"i": {"chatRoomId": room_id, "content": "https://x/y.png", "messageType": "IMAGE"}},
        viewer.token,
    )
    assert image["createMessage"]["messageType"] == "IMAGE"


async def test_bad_client_ids_are_bad_user_input(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer)
    for client_id in ("", "x" * 129, "line\nbreak"):
        await expect_code(
            client,
            "BAD_USER_INPUT",
            SEND,
            {"i": {"chatRoomId": room_id, "content": "hi", "clientId": client_id}},
            viewer.token,
        )


# ---------------------------------------------------------------- limits

LIMITED = {
    "messagesByRoom": (
        "query($r: ID!, $l: Int) { messagesByRoom(chatRoomId: $r, limit: $l) { items { id } } }",
        "messagesByRoom",
    ),
    "searchUsers": (
        'query($l: Int) { searchUsers(term: "view", limit: $l) { items { id } } }',
        "searchUsers",
    ),
    "listChatRooms": (
        "query($l: Int) { listChatRooms(limit: $l) { items { id } } }",
        "listChatRooms",
    ),
    "listPublicRooms": (
        "query($l: Int) { listPublicRooms(limit: $l) { items { id } } }",
        "listPublicRooms",
    ),
    "members": (
        "query($r: ID!, $l: Int) { getChatRoom(id: $r) { members(limit: $l) { items { id } } } }",
        "getChatRoom",
    ),
    "ChatRoom.messages": (
        "query($r: ID!, $l: Int) { getChatRoom(id: $r) { messages(limit: $l) { items { id } } } }",
        "getChatRoom",
    ),
}


async def test_limits_outside_1_to_100_are_bad_user_input(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer)
    await client.send(viewer, room_id, "hi")
    for name, (query, _) in LIMITED.items():
        for limit in (0, -1, 101, 1000):
            body = await raw(client, query, {"r": room_id, "l": limit}, viewer.token)
            assert body.get("errors"), (name, limit, body)
            assert code_of(body["errors"][0]) == "BAD_USER_INPUT", (name, limit, body)


async def test_limits_of_1_and_100_are_accepted(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer)
    await client.send(viewer, room_id, "hi")
    for name, (query, top) in LIMITED.items():
        for limit in (1, 100):
            body = await raw(client, query, {"r": room_id, "l": limit}, viewer.token)
            assert "errors" not in body, (name, limit, body)
            assert body["data"][top] is not None, (name, body)


# ---------------------------------------------------------------- variables and scalars


async def test_before_that_is_not_a_date_is_bad_user_input(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer)
    query = (
        "query($r: ID!, $b: DateTime) "
        "{ messagesByRoom(chatRoomId: $r, before: $b) { items { id } } }"
    )
    outcomes = {}
    for before in ("yesterday", "2024-13-45T00:00:00Z", "", 5, True):
        variables = {"r": room_id, "b": before}
        outcomes[repr(before)] = await code_for(client, query, variables, viewer.token)
    literal = f'{{ messagesByRoom(chatRoomId: "{room_id}", before: "soon") {{ items {{ id }} }} }}'
    outcomes["literal"] = await code_for(client, literal, None, viewer.token)
    assert outcomes == dict.fromkeys(outcomes, "BAD_USER_INPUT")


LIMIT_QUERY = (
    "query($r: ID!, $l: Int) { messagesByRoom(chatRoomId: $r, limit: $l) { items { id } } }"
)


async def test_wrong_variable_types_are_bad_user_input(client: Client, viewer: Account) -> None:
    room_id = await own_room(client, viewer)
    cases = [
        (LIMIT_QUERY, {"r": room_id, "l": "ten"}),
        (LIMIT_QUERY, {"r": room_id, "l": 1.5}),
        (LIMIT_QUERY, {"r": room_id, "l": 2**40}),
        (LIMIT_QUERY, {"r": room_id, "l": [1]}),
        (LIMIT_QUERY, {"r": {"id": room_id}, "l": 1}),
        (LIMIT_QUERY, {"r": 1.5, "l": 1}),
    ]
    for query, variables in cases:
        await expect_code(client, "BAD_USER_INPUT", query, variables, viewer.token)


async def test_unknown_enum_values_and_nulls_in_variables_are_bad_user_input(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    cases = [
        (
            "query($r: ID!, $d: ModelSortDirection!) "
            "{ messagesByRoom(chatRoomId: $r, sortDirection: $d) { items { id } } }",
            {"r": room_id, "d": "SIDEWAYS"},
        ),
        (
            "mutation($r: ID!, $c: String!) "
            "{ createMessage(input: {chatRoomId: $r, content: $c}) { id } }",
            {"r": room_id, "c": None},
        ),
        (SEND, {"i": {"chatRoomId": room_id, "content": "x", "messageType": "SHOUT"}}),
    ]
    outcomes = [
        await code_for(client, query, variables, viewer.token) for query, variables in cases
    ]
    assert outcomes == ["BAD_USER_INPUT"] * len(cases)


async def test_inline_literals_of_the_wrong_type_are_bad_user_input(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    await expect_code(
        client,
        "BAD_USER_INPUT",
        f'{{ messagesByRoom(chatRoomId: "{room_id}", limit: "ten") {{ items {{ id }} }} }}',
        None,
        viewer.token,
    )


# ---------------------------------------------------------------- documents and bodies


async def test_syntax_errors_are_graphql_parse_failed(client: Client, viewer: Account) -> None:
    for document in ("{ me { id ", "query {", "}}}", "mutation { register(username: ) }", "{ 1 }"):
        await expect_code(client, "GRAPHQL_PARSE_FAILED", document, None, viewer.token)


async def test_unknown_fields_and_arguments_are_graphql_validation_failed(
    client: Client, viewer: Account
) -> None:
    for document in (
        "{ me { id password } }",
        "{ nope }",
        "{ me(extra: 1) { id } }",
        "{ getChatRoom { id } }",
        "{ me }",
        "query A { me { id } } query A { me { id } }",
    ):
        await expect_code(client, "GRAPHQL_VALIDATION_FAILED", document, None, viewer.token)


async def test_a_subscription_over_plain_http_is_refused_as_a_client_error(
    client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    response = await client.http.post(
        client.server.url,
        json={"query": ON_MESSAGE, "variables": {"r": room_id}},
        headers={"authorization": f"Bearer {viewer.token}"},
    )
    assert_no_traceback(response.text)
    error = response.json()["errors"][0]
    assert code_of(error) in ("BAD_REQUEST", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"), error


async def post_body(client: Client, viewer: Account, content: bytes, content_type: str) -> Any:
    response = await client.http.post(
        client.server.url,
        content=content,
        headers={"authorization": f"Bearer {viewer.token}", "content-type": content_type},
    )
    assert_no_traceback(response.text)
    return response


async def test_malformed_http_bodies_get_400_with_a_coded_json_error(
    client: Client, viewer: Account
) -> None:
    bodies = [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b'{"query": "{ me { id } }"', "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"query": 5}', "application/json"),
        (b'{"query": "{ me { id } }", "variables": "x"}', "application/json"),
        (b'{"query": null}', "application/json"),
        (b"query=x", "text/plain"),
    ]
    for content, content_type in bodies:
        response = await post_body(client, viewer, content, content_type)
        assert response.status_code == 400, (content, response.status_code, response.text)
        assert response.json()["errors"][0]["extensions"]["code"], (content, response.text)


async def test_undecodable_or_non_object_json_bodies_get_400_with_a_coded_json_error(
    client: Client, viewer: Account
) -> None:
    outcomes: dict[bytes, tuple[int, str]] = {}
    for content in (
        b"\xc3\x28",
        b'{"query": "\xc3\x28"}',
        b"\xff\xfe\x00",
        b"1",
        b"null",
        b'"{ me { id } }"',
        b"[" * 30_000 + b"]" * 30_000,  # under the body limit, still absurdly deep
    ):
        response = await post_body(client, viewer, content, "application/json")
        try:
            coded = bool(response.json()["errors"][0]["extensions"]["code"])
            outcome = "coded JSON error" if coded else "JSON error without a code"
        except (ValueError, LookupError, TypeError):
            outcome = f"not JSON: {response.text[:30]!r}"
        outcomes[content[:20]] = (response.status_code, outcome)
    assert outcomes == dict.fromkeys(outcomes, (400, "coded JSON error"))


# ---------------------------------------------------------------- WebSocket frames


async def still_subscribes(
    sock: Socket, server: Server, client: Client, viewer: Account, room_id: str
) -> None:
    """The connection takes a subscription that receives the next message (the only live one:
    every earlier socket of the test is closed)."""
    await sock.subscribe(ON_MESSAGE, {"r": room_id})
    await room_subscribed(server, room_id, exactly=True)
    await client.send(viewer, room_id, "still alive")
    assert [m["content"] for m in await sock.messages(1)] == ["still alive"]


async def closed_with(sock: Socket) -> int | None:
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            frame = await sock.recv(timeout=3)
            assert_no_traceback(json.dumps(frame))
    return sock.ws.close_code


async def test_graphql_transport_ws_closes_4400_on_invalid_frames(
    server: Server, client: Client, viewer: Account
) -> None:
    for frame in ("this is not json {", '{"type": "bogus"}', '{"id": "1"}'):
        sock = await Socket.connect(server, TRANSPORT_WS, viewer.token)
        await sock.ack()
        await sock.ws.send(frame)
        assert await closed_with(sock) == 4400, frame


async def test_graphql_ws_ignores_non_json_and_unknown_frames(
    server: Server, client: Client, viewer: Account
) -> None:
    room_id = await own_room(client, viewer)
    sock = await Socket.connect(server, LEGACY_WS, viewer.token)
    await sock.ack()
    await sock.ws.send("this is not json {")
    await sock.ws.send(json.dumps({"type": "bogus", "id": "9"}))
    await still_subscribes(sock, server, client, viewer, room_id)
    await sock.close()


@pytest.mark.parametrize(
    "protocol",
    [
        pytest.param(
            TRANSPORT_WS,
        ),
        pytest.param(
            LEGACY_WS,
        ),
    ],
)
async def test_json_frames_that_are_not_operation_objects_are_handled_per_protocol(
    server: Server, client: Client, viewer: Account, protocol: str
) -> None:
    room_id = await own_room(client, viewer)
    frames = ["[1]", '"x"', "null", "42"] + (["{}"] if protocol == LEGACY_WS else [])
    outcomes: dict[str, str] = {}
    for frame in frames:
        sock = await Socket.connect(server, protocol, viewer.token)
        await sock.ack()
        await sock.ws.send(frame)
        try:
            if protocol == TRANSPORT_WS:
                outcomes[frame] = f"closed {await closed_with(sock)}"
            else:
                await still_subscribes(sock, server, client, viewer, room_id)
                outcomes[frame] = "still works"
        except (websockets.ConnectionClosed, AssertionError, TimeoutError) as exc:
            # outcomes, not exceptions: their deep socket tracebacks are not worth keeping
            outcomes[frame] = f"{type(exc).__name__}: close code {sock.ws.close_code}"
        await sock.close()
    expected = "closed 4400" if protocol == TRANSPORT_WS else "still works"
    assert outcomes == dict.fromkeys(frames, expected)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_invalid_subscription_over_websocket_gets_an_error_frame(
    server: Server, client: Client, viewer: Account, protocol: str
) -> None:
    room_id = await own_room(client, viewer)
    sock = await Socket.connect(server, protocol, viewer.token)
    await sock.ack()
    op_id = await sock.subscribe("subscription { onMessageCreated { nope } }", {})
    frame = await sock.recv()
    assert_no_traceback(json.dumps(frame))
    assert frame["type"] == "error" and frame["id"] == op_id, frame
    errors = frame["payload"] if isinstance(frame["payload"], list) else [frame["payload"]]
    assert code_of(errors[0]) == "GRAPHQL_VALIDATION_FAILED", frame
    await still_subscribes(sock, server, client, viewer, room_id)
    await sock.close()
