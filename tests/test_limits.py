"""Request limits: static operation limits, body and message sizes, and WebSocket connection limits.

Each limit is tried at its boundary (accepted) and one past it (refused, with nothing run), over
real sockets; the cost analyser is also tested on its own with documents built to trip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import websockets
from graphql import Lexer, Source, TokenKind, get_introspection_query, get_operation_ast, parse

from chatql.config import Settings
from chatql.config_values import ConfigError
from chatql.schema import schema as chat_schema
from chatql.security.cost import DEFAULT_LIST_SIZE, SATURATED, CostAnalyser, query_cost
from chatql.security.limits import Shape, count_tokens, operation_shape
from tests.helpers import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, Account, Client, Server, Socket
from tests.helpers import running_server as serve

GRAPHQL_SCHEMA = chat_schema._schema
COST_LIMIT = 250  # lowered so that the boundary document runs with valid page sizes (<= 100)


def cost(document: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    return query_cost(GRAPHQL_SCHEMA, parse(document), variables, name)


def shape(document: str) -> Shape:
    parsed = parse(document)
    operation = get_operation_ast(parsed)
    assert operation is not None
    return operation_shape(parsed, operation)


# ---------------------------------------------------------------- the cost analyser


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ __typename }", 1),
        ("{ me { id username } }", 2 + 2),
        # a connection's `limit` sizes its `items`: 2 + (2 + 50 * (1 + 1 + (2 + 1))) + 1
        (
            '{ messagesByRoom(chatRoomId: "r", limit: 50) '
            "{ items { id content author { username } } nextToken } }",
            255,
        ),
        # no `limit` given: the schema's default (50 for messagesByRoom, 20 for searchUsers)
        ('{ messagesByRoom(chatRoomId: "r") { items { id } } }', 2 + 2 + 50),
        ('{ searchUsers(term: "a") { items { id } } }', 2 + 2 + 20),
        ('{ searchUsers(term: "a", limit: 0) { items { id } } }', 2 + 2 + 0),
        # nested lists multiply: 2 + (2 + 30 * (1 + (2 + (2 + 100 * 1))))
        (
            "{ listChatRooms(limit: 30) { items { id members(limit: 100) { items { id } } } } }",
            2 + 2 + 30 * (1 + 2 + 2 + 100),
        ),
        # inline fragments cost what they contain
        ("{ me { ... on User { id } ... { username } } }", 2 + 2),
        # introspection counts, its lists once: 2 + (2 + 1 + (2 + 1))
        ("{ __schema { types { name fields { name } } } }", 2 + 2 + 1 + 2 + 1),
        ('{ __type(name: "Query") { name } }', 2 + 1),
    ],
)
def test_cost_rules(document: str, expected: int) -> None:
    assert cost(document) == expected


def test_list_sizes_come_from_variables_then_operation_defaults() -> None:
    document = (
        "query($n: Int = 7) { listChatRooms(limit: $n) "
        "{ items { members(limit: $m) { items { id } } } } }"
    )
    # $m is not given and has no default: the field's schema default (20) applies
    assert cost(document) == 2 + 2 + 7 * (2 + 2 + 20)
    assert cost(document, {"n": 3, "m": 5}) == 2 + 2 + 3 * (2 + 2 + 5)
    # an explicit null beats the variable's default, and the field then uses its own
    assert cost(document, {"n": None}) == 2 + 2 + 20 * (2 + 2 + 20)
    assert cost(document, {"n": 0}) == 2 + 2
    many = 'query($l: Int) { messagesByRoom(chatRoomId: "r", limit: $l) { items { id } } }'
    assert (
        cost(many, {"l": None})
        == cost('{ messagesByRoom(chatRoomId: "r", limit: null) { items { id } } }')
        == 2 + 2 + 50
    )
    assert cost(document, {"n": "lots"}) == 2 + 2 + DEFAULT_LIST_SIZE * (2 + 2 + 20)
    # not a GraphQL Int: variable coercion refuses it (BAD_USER_INPUT) before anything runs
    assert cost(many, {"l": 2**40}) == 2 + 2 + DEFAULT_LIST_SIZE


def test_the_operation_that_runs_is_the_one_costed() -> None:
    document = """
        query Cheap { __typename }
        query Dear { searchUsers(term: "a", limit: 100) { items { id } } }
    """
    assert cost(document, name="Cheap") == 1
    assert cost(document, name="Dear") == 2 + 2 + 100
    assert cost(document) == 0  # no name, two operations: graphql-core runs nothing


def test_a_fragment_costs_at_every_use() -> None:
    fragment = "fragment U on User { id username displayName }"
    once = cost("{ me { ...U } } " + fragment)
    assert once == 2 + 3
    assert cost("{ me { ...U ...U ...U } } " + fragment) == 2 + 3 * 3
    assert cost('{ searchUsers(term: "a", limit: 10) { items { ...U } } } ' + fragment) == (
        2 + 2 + 10 * 3
    )
    # a fragment spread straight into a connection still sizes the connection's items
    connection = "fragment C on UserConnection { items { id } }"
    assert cost('{ searchUsers(term: "a", limit: 10) { ...C } } ' + connection) == 2 + 2 + 10


def doubling_chain(levels: int, leaf: str = "__typename") -> str:
    """Fragment i spreads fragment i+1 twice: naive expansion visits 2**levels leaves."""
    fragments = "".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels)
    )
    return "{ ...F0 }\n" + fragments + f"fragment F{levels} on Query {{ {leaf} }}"


def test_a_fragment_chain_is_costed_exactly_and_in_linear_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linear, counted in walks rather than seconds: naive expansion would take 2**200."""
    walks = 0
    walk = CostAnalyser.selection_cost

    def counted(self: CostAnalyser, *args: Any, **kwargs: Any) -> int:
        nonlocal walks
        walks += 1
        return walk(self, *args, **kwargs)

    monkeypatch.setattr(CostAnalyser, "selection_cost", counted)
    assert cost(doubling_chain(10)) == 2**10
    small, walks = walks, 0
    assert cost(doubling_chain(200)) == SATURATED  # 2**200, saturated
    assert walks <= 20 * small  # twenty times the levels, at most twenty times the walks
    assert shape(doubling_chain(200, "a: __typename")).aliases == SATURATED


def test_fragment_cycles_do_not_loop() -> None:
    cyclic = """
        { ...A }
        fragment A on Query { me { id } ...B }
        fragment B on Query { __typename ...A }
        fragment Self on Query { ...Self }
    """
    assert cost(cyclic) == 2 + 1 + 1
    assert shape(cyclic) == Shape(depth=2, aliases=0, directives=0)
    # undefined fragments are skipped (graphql validation reports them)
    assert cost("{ ...Missing me { id } }") == 3


def test_shape_counts_depth_aliases_and_directives_as_executed() -> None:
    document = """
        query Q @skip(if: false) {
          me { a: id b: username @include(if: true) }
          ...R ...R
        }
        fragment R on Query @include(if: true) { r: __typename c: __typename @skip(if: false) }
    """
    # aliases a, b + 2 x (r, c); directives 1 (query) + 1 (b) + 2 x (1 on R + 1 on c)
    assert shape(document) == Shape(depth=2, aliases=6, directives=6)
    chain = "{ getMessage(id: 1) { chatRoom { lastMessage { chatRoom { id } } } } }"
    assert shape(chain).depth == 5
    # introspection is left to MaxIntrospectionDepthRule: GraphiQL's query nests 15 levels
    introspection = get_introspection_query(descriptions=True, input_value_deprecation=True)
    assert shape(introspection).depth == 0


def test_token_counts_include_comments_and_stop_at_the_cap() -> None:
    source = Source("{ a b } # one\n# two\n")
    assert count_tokens(source, 100) == 6  # { a b } and two comments
    assert count_tokens(source, 3) == 3


def test_graphiqls_schema_query_fits_the_default_limits() -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    defaults = Settings()
    assert cost(query) <= defaults.max_query_cost
    assert shape(query).aliases == 0 and shape(query).directives == 0
    assert count_tokens(Source(query), 10_000) <= defaults.max_tokens


# ---------------------------------------------------------------- settings


def test_limit_settings_accept_zero_as_off_and_refuse_negatives() -> None:
    names = [
        "CHATQL_MAX_QUERY_DEPTH",
        "CHATQL_MAX_ALIASES",
        "CHATQL_MAX_TOKENS",
        "CHATQL_MAX_DIRECTIVES",
        "CHATQL_MAX_QUERY_COST",
        "CHATQL_MAX_BODY_BYTES",
        "CHATQL_MAX_WS_MESSAGE_BYTES",
        "CHATQL_MAX_CONNECTIONS_PER_USER",
    ]
    settings = Settings.from_env(dict.fromkeys(names, "0"))
    assert settings.max_query_depth == settings.max_connections_per_user == 0
    defaults = Settings()
    assert (defaults.max_query_depth, defaults.max_aliases, defaults.max_tokens) == (10, 15, 2000)
    assert (defaults.max_directives, defaults.max_query_cost) == (50, 5000)
    assert (defaults.max_body_bytes, defaults.max_ws_message_bytes) == (65536, 65536)
    assert defaults.max_connections_per_user == 20
    for name in names:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: "-1"})


# ---------------------------------------------------------------- static limits over the wire

MESSAGE_FIELD = {"http": "getMessage", "ws": "onMessageCreated"}


def wrap(transport: str, selection: str) -> str:
    """The message's `id` and `selection`, in a query (HTTP) or a subscription (WebSocket)."""
    if transport == "http":
        return f"query($m: ID!) {{ getMessage(id: $m) {{ id {selection} }} }}"
    return (
        "subscription($r: ID!, $a: String) "
        f"{{ onMessageCreated(chatRoomId: $r, after: $a) {{ id {selection} }} }}"
    )


def lexical_tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def with_depth(transport: str, depth: int) -> str:
    """The message field is level 1; then chatRoom, lastMessage, chatRoom, ... and `id`."""
    chain = ["chatRoom", "lastMessage"] * depth
    inner = "id"
    for name in reversed(chain[: depth - 2]):
        inner = f"{name} {{ {inner} }}"
    return wrap(transport, inner)


def with_aliases(transport: str, count: int) -> str:
    return wrap(transport, " ".join(f"a{i}: id" for i in range(count)))


def with_directives(transport: str, count: int) -> str:
    return wrap(transport, " ".join(["id @include(if: true)"] * count))


def with_tokens(transport: str, count: int) -> str:
    """Padded with comments, which count as tokens, so cost and shape stay small."""
    document = wrap(transport, "content")
    return document + "\n#" * (count - lexical_tokens(document))


def with_cost(transport: str, total: int) -> str:
    """2 (message) + 1 (id) + 2 (chatRoom) + 2 (members) + 2 + 100 * 2 (items) = 209, then
    more `id`s at 1 each."""
    page = "chatRoom { members(limit: 100) { items { id username } } }"
    return wrap(transport, page + " id" * (total - 209))


LIMITS: dict[str, tuple[str, Callable[[str, int], str], int]] = {
    "depth": ("QUERY_TOO_DEEP", with_depth, 10),
    "aliases": ("TOO_MANY_ALIASES", with_aliases, 15),
    "directives": ("TOO_MANY_DIRECTIVES", with_directives, 50),
    "tokens": ("TOO_MANY_TOKENS", with_tokens, 2000),
    "cost": ("QUERY_TOO_COMPLEX", with_cost, COST_LIMIT),
}


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Server]:
    """Default limits, but for a cost limit low enough to reach with valid page sizes."""
    async with serve(replace(settings, max_query_cost=COST_LIMIT)) as running:
        yield running


@pytest.fixture
async def chat(limited: Server) -> AsyncIterator[tuple[Client, Account, str, dict[str, Any]]]:
    """A client, a user, their room and a first message in it."""
    client = Client(limited)
    account = await client.register()
    room = await client.create_room(account)
    first = await client.send(account, room, "first")
    yield client, account, room, first
    await client.close()


def assert_refused(error: dict[str, Any], code: str, limit: int) -> None:
    assert error["extensions"] == {"code": code, "limit": limit, "measured": limit + 1}, error


@pytest.mark.parametrize("kind", list(LIMITS))
async def test_static_limits_over_http(
    chat: tuple[Client, Account, str, dict[str, Any]], kind: str
) -> None:
    client, account, _room, first = chat
    code, build, limit = LIMITS[kind]
    at_limit = await client.post(build("http", limit), {"m": first["id"]}, account.token)
    assert "errors" not in at_limit and at_limit["data"]["getMessage"]["id"] == first["id"], (
        at_limit
    )
    past = await client.post(build("http", limit + 1), {"m": first["id"]}, account.token)
    assert past["data"] is None and len(past["errors"]) == 1, past
    assert_refused(past["errors"][0], code, limit)


async def first_frame(sock: Socket, timeout: float = 5) -> dict[str, Any]:
    """The next `next`/`data`/`error` frame of a subscription."""
    frame = await sock.recv(timeout)
    assert frame["type"] in ("next", "data", "error"), frame
    return frame


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", list(LIMITS))
async def test_static_limits_over_websocket_subscribe(
    limited: Server, chat: tuple[Client, Account, str, dict[str, Any]], kind: str, protocol: str
) -> None:
    client, account, room, first = chat
    code, build, limit = LIMITS[kind]
    sock = await Socket.connect(limited, protocol, account.token)
    await sock.ack()
    variables = {"r": room, "a": first["cursor"]}
    refused_id = await sock.subscribe(build("ws", limit + 1), variables)
    frame = await first_frame(sock)
    assert frame["type"] == "error" and frame["id"] == refused_id, frame
    errors = frame["payload"] if isinstance(frame["payload"], list) else [frame["payload"]]
    assert_refused(errors[0], code, limit)
    # the socket stays usable, and the document at the limit runs
    await sock.subscribe(build("ws", limit), variables)
    sent = await client.send(account, room, "second")
    frame = await first_frame(sock)
    assert frame["type"] in ("next", "data") and "errors" not in frame["payload"], frame
    assert frame["payload"]["data"]["onMessageCreated"]["id"] == sent["id"]
    await sock.close()


async def test_a_mutation_over_a_limit_does_not_run(
    chat: tuple[Client, Account, str, dict[str, Any]],
) -> None:
    client, account, room, first = chat
    aliases = " ".join(f"a{i}: id" for i in range(16))
    error = await client.error(
        "mutation($i: CreateMessageInput!) { createMessage(input: $i) { " + aliases + " } }",
        {"i": {"chatRoomId": room, "content": "must not be stored"}},
        account.token,
    )
    assert error["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert [m["id"] for m in await client.history(account, room, limit=10)] == [first["id"]]


async def test_limits_set_to_zero_are_off(settings: Settings) -> None:
    off = replace(
        settings, max_query_depth=0, max_aliases=0, max_tokens=0, max_directives=0, max_query_cost=0
    )
    async with serve(off) as server:
        client = Client(server)
        account = await client.register()
        first = await client.send(account, await client.create_room(account), "hi")
        for kind, (_code, build, limit) in LIMITS.items():
            body = await client.post(build("http", limit + 5), {"m": first["id"]}, account.token)
            assert "errors" not in body, (kind, body)
        await client.close()


async def test_introspection_for_graphiql_passes_and_nested_introspection_is_refused(
    client: Client,
) -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    assert (await client.data(query))["__schema"]["queryType"]["name"] == "Query"
    nested = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    error = await client.error(nested)
    assert error["message"] == "Maximum introspection depth exceeded", error


async def test_an_exponential_fragment_chain_is_refused_quickly(
    server: Server, client: Client
) -> None:
    error = await client.error(doubling_chain(60))  # 2**60 leaves: only a memoised walk ends
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": 5000,
        "measured": SATURATED,
    }
    assert await client.data("{ __typename }") == {"__typename": "Query"}


async def test_a_cyclic_fragment_document_is_refused_not_hung(client: Client) -> None:
    error = await client.error("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "cycle" in error["message"] or "itself" in error["message"], error


# ---------------------------------------------------------------- HTTP bodies


def body_of_size(size: int) -> bytes:
    """A valid GraphQL request of exactly `size` bytes (padded with an unused extension)."""
    empty = json.dumps({"query": "{ __typename }", "extensions": {"pad": ""}}).encode()
    padded = json.dumps(
        {"query": "{ __typename }", "extensions": {"pad": "x" * (size - len(empty))}}
    )
    assert len(padded.encode()) == size
    return padded.encode()


async def chunks(body: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_too_large(response: httpx.Response, measured: int | None = None) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert error["extensions"]["limit"] == 65536
    if measured is not None:
        assert error["extensions"]["measured"] == measured
    else:
        assert error["extensions"]["measured"] > 65536


async def test_request_bodies_over_64_kib_get_413(server: Server) -> None:
    json_headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as http:
        at_limit = await http.post(server.url, content=body_of_size(65536), headers=json_headers)
        assert at_limit.json() == {"data": {"__typename": "Query"}}
        assert_too_large(
            await http.post(server.url, content=body_of_size(65537), headers=json_headers), 65537
        )
        big = body_of_size(70 * 1024)
        assert_too_large(await http.post(server.url, content=big, headers=json_headers), len(big))
    async with httpx.AsyncClient(timeout=10) as http:  # chunked: no Content-Length
        chunked = await http.post(server.url, content=chunks(big), headers=json_headers)
        assert "content-length" not in chunked.request.headers
        assert_too_large(chunked)
    async with httpx.AsyncClient(timeout=10) as http:
        small = await http.post(
            server.url, content=chunks(body_of_size(65536)), headers=json_headers
        )
        assert small.json() == {"data": {"__typename": "Query"}}
        assert (await http.post(server.url, json={"query": "{ __typename }"})).status_code == 200


async def test_batched_requests_get_a_clear_400(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(server.url, json=[{"query": "{ __typename }"}] * 2)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Batching is not enabled", "extensions": {"code": "BAD_REQUEST"}}]
    }


async def test_mutations_never_run_over_get(server: Server, client: Client) -> None:
    mutation = (
        'mutation { register(username: "viaget", password: "correct horse") { accessToken } }'
    )
    response = await client.http.get(server.url, params={"query": mutation})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "GET" in response.json()["errors"][0]["message"]
    await client.register("viaget")  # the name is still free: nothing ran
    query = await client.http.get(server.url, params={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}


# ---------------------------------------------------------------- WebSockets


async def close_code(sock: Socket, timeout: float = 5) -> int | None:
    """Read until the server closes the socket; its close code."""
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(sock.ws.recv(), timeout)
    return sock.ws.close_code  # type: ignore[no-any-return]


def padded_subscribe(protocol: str, op_id: str, room: str, cursor: str, size: int, pad: str) -> str:
    """A valid subscribe frame of exactly `size` bytes, padded with an unused variable."""
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    query = (
        "subscription($r: ID!, $a: String) { onMessageCreated(chatRoomId: $r, after: $a) { id } }"
    )

    def frame(padding: str) -> str:
        variables = {"r": room, "a": cursor, "pad": padding}
        payload = {"query": query, "variables": variables}
        return json.dumps({"id": op_id, "type": kind, "payload": payload}, ensure_ascii=False)

    room_left = size - len(frame("").encode())
    text = frame(pad * (room_left // len(pad.encode())) + "x" * (room_left % len(pad.encode())))
    assert len(text.encode()) == size
    return text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_messages_over_64_kib_close_the_socket_with_1009(
    server: Server, client: Client, protocol: str
) -> None:
    account = await client.register()
    room = await client.create_room(account)
    first = await client.send(account, room, "first")
    sock = await Socket.connect(server, protocol, account.token)
    await sock.ack()
    await sock.ws.send(padded_subscribe(protocol, "1", room, first["cursor"], 65536, "x"))
    sent = await client.send(account, room, "second")
    assert (await sock.next_payload())["data"]["onMessageCreated"]["id"] == sent["id"]
    await sock.ws.send(padded_subscribe(protocol, "2", room, first["cursor"], 65537, "x"))
    assert await close_code(sock) == 1009
    # bytes are counted, not characters: 40 000 "é" are 80 000 bytes
    sock = await Socket.connect(server, protocol, account.token)
    await sock.ack()
    await sock.ws.send(padded_subscribe(protocol, "1", room, first["cursor"], 80_000, "é"))
    assert await close_code(sock) == 1009
    assert await client.data("{ __typename }") == {"__typename": "Query"}


async def subscribe_many(sock: Socket, room: str, cursor: str, count: int) -> list[str]:
    query = (
        "subscription($r: ID!, $a: String) { onMessageCreated(chatRoomId: $r, after: $a) { id } }"
    )
    return [await sock.subscribe(query, {"r": room, "a": cursor}) for _ in range(count)]


@pytest.mark.parametrize(("protocol", "limit"), [(TRANSPORT_WS, 100), (LEGACY_WS, 3)])
async def test_one_subscription_past_the_limit_gets_an_error_and_the_socket_stays(
    settings: Settings, protocol: str, limit: int
) -> None:
    async with serve(replace(settings, ws_max_subscriptions=limit)) as server:
        client = Client(server)
        account = await client.register()
        room = await client.create_room(account)
        first = await client.send(account, room, "first")
        sock = await Socket.connect(server, protocol, account.token)
        await sock.ack()
        ids = await subscribe_many(sock, room, first["cursor"], limit + 1)
        frame = await first_frame(sock)
        assert frame["type"] == "error" and frame["id"] == ids[-1], frame
        error = frame["payload"][0] if protocol == TRANSPORT_WS else frame["payload"]
        assert error == {
            "message": "Subscription limit reached",
            "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": limit, "measured": limit + 1},
        }
        sent = await client.send(account, room, "to all")
        frames = [await first_frame(sock) for _ in range(limit)]
        assert {f["id"] for f in frames} == set(ids[:-1])
        assert all(f["payload"]["data"]["onMessageCreated"]["id"] == sent["id"] for f in frames)
        await sock.unsubscribe(ids[0])  # a freed slot can be used again
        if protocol == TRANSPORT_WS:
            again = await subscribe_many(sock, room, sent["cursor"], 1)
        else:  # graphql-ws answers `stop` with `complete`
            assert (await sock.recv())["type"] == "complete"
            again = await subscribe_many(sock, room, sent["cursor"], 1)
        latest = await client.send(account, room, "again")
        frames = [await first_frame(sock) for _ in range(limit)]
        assert again[0] in {f["id"] for f in frames}
        assert all(f["payload"]["data"]["onMessageCreated"]["id"] == latest["id"] for f in frames)
        await sock.close()
        await client.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_without_connection_init_is_closed_with_4408(
    settings: Settings, protocol: str
) -> None:
    async with serve(replace(settings, ws_connection_init_timeout=0.3)) as server:
        client = Client(server)
        account = await client.register()
        room = await client.create_room(account)
        first = await client.send(account, room, "first")
        silent = await Socket.connect(server, protocol, None, init=False)
        started = time.perf_counter()
        assert await close_code(silent) == 4408
        assert 0.2 < time.perf_counter() - started < 3
        prompt = await Socket.connect(server, protocol, account.token)
        await prompt.ack()
        await asyncio.sleep(0.6)  # past the timeout: an initialised socket stays open
        await subscribe_many(prompt, room, first["cursor"], 1)
        sent = await client.send(account, room, "second")
        assert (await prompt.next_payload())["data"]["onMessageCreated"]["id"] == sent["id"]
        await prompt.close()
        await client.close()


async def connect_or_close_code(server: Server, protocol: str, token: str) -> Socket | int | None:
    """An acknowledged socket, or the code it was closed with."""
    sock = await Socket.connect(server, protocol, token)
    try:
        frame = await sock.recv()
    except websockets.ConnectionClosed:
        return sock.ws.close_code  # type: ignore[no-any-return]
    if frame["type"] == "connection_ack":
        return sock
    assert frame == {"type": "connection_error", "payload": {"message": "Too many connections"}}
    code = await close_code(sock)
    assert sock.ws.close_reason == "Too many connections"
    return code


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_connections_past_the_per_user_limit_are_closed_with_4429(
    settings: Settings, protocol: str
) -> None:
    async with serve(replace(settings, max_connections_per_user=2)) as server:
        client = Client(server)
        alice, bob = await client.register(), await client.register()
        first = await connect_or_close_code(server, protocol, alice.token)
        second = await connect_or_close_code(server, protocol, alice.token)
        assert isinstance(first, Socket) and isinstance(second, Socket)
        assert await connect_or_close_code(server, protocol, alice.token) == 4429
        assert first.ws.close_code is None and second.ws.close_code is None
        others = await connect_or_close_code(server, protocol, bob.token)
        assert isinstance(others, Socket)  # the limit is per user
        await first.close()  # a closed socket frees its place
        deadline = time.monotonic() + 5
        while not isinstance(
            third := await connect_or_close_code(server, protocol, alice.token), Socket
        ):
            assert third == 4429 and time.monotonic() < deadline
            await asyncio.sleep(0.05)
        room = await client.create_room(alice)
        assert (await client.send(alice, room, "still serving"))["content"] == "still serving"
        for sock in (second, others, third):
            await sock.close()
        await client.close()


@pytest.mark.parametrize(("limit", "expected"), [(65536, 65536), (0, 16 * 1024 * 1024)])
def test_serve_passes_the_message_limit_to_uvicorn(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, limit: int, expected: int
) -> None:
    from chatql import cli

    seen: list[int] = []
    monkeypatch.setattr(
        cli.GracefulServer, "run", lambda self: seen.append(self.config.ws_max_size)
    )
    cli.serve(replace(settings, max_ws_message_bytes=limit))
    assert seen == [expected]


async def test_the_21st_socket_of_a_user_is_refused_by_default(
    server: Server, client: Client
) -> None:
    account = await client.register()
    assert server.settings.max_connections_per_user == 20
    opened = [await connect_or_close_code(server, TRANSPORT_WS, account.token) for _ in range(20)]
    assert all(isinstance(sock, Socket) for sock in opened)
    assert await connect_or_close_code(server, TRANSPORT_WS, account.token) == 4429
    for sock in opened:
        assert isinstance(sock, Socket)
        await sock.close()


async def test_a_body_a_little_over_the_limit_gets_413_even_while_it_is_still_arriving(
    server: Server,
) -> None:
    """The answer comes after the rest of the body is read: a server that answered at once
    and closed would reset the connection under a client still writing (nginx in front
    then says 502 instead of passing on the 413)."""
    host, port = httpx.URL(server.url).host, httpx.URL(server.url).port
    body = body_of_size(70 * 1024)
    for chunked in (False, True):
        reader, writer = await asyncio.open_connection(host, port)
        framing = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % len(body)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nhost: chatql\r\ncontent-type: application/json\r\n"
            + framing
            + b"\r\n\r\n"
        )
        for start in range(0, len(body), 10_000):  # at the pace of a slow link
            part = body[start : start + 10_000]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
            await asyncio.sleep(0.05)
        if chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), answer[:200]
        error = json.loads(payload)["errors"][0]
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_client_that_waits_for_100_continue_gets_413_without_sending_the_body(
    server: Server,
) -> None:
    """Nothing is read of a body declared over the limit when the client waits for `100
    Continue`: asking for it would only make the client send what is refused anyway."""
    host, port = httpx.URL(server.url).host, httpx.URL(server.url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\nhost: chatql\r\ncontent-type: application/json\r\n"
        b"expect: 100-continue\r\ncontent-length: 70000\r\n\r\n"
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 413 "), status
