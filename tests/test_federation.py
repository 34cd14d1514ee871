"""ChatQL as an Apollo Federation 2 subgraph (CHATQL_FEDERATION): `_service { sdl }` and
`_entities` over real HTTP, with the rights, limits and masking of every other query; then
composed with a second subgraph by @apollo/composition and queried through @apollo/gateway.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import Lexer, Source, TokenKind, parse

from chatql.config import Settings
from chatql.federation import SubgraphSchema
from chatql.schema import build_schema
from chatql.security.cost import query_cost
from chatql.store.records import MessageRecord, RoomRecord, UserRecord
from chatql.store.sqlite import SQLiteStore
from tests import test_attacks as graphql_cop
from tests.helpers import TRANSPORT_WS, Account, Client, Server, Socket, running_server
from tests.node_clients import run_client

ROOT = Path(__file__).resolve().parent.parent
ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) { __typename "
    "... on User { id username } "
    "... on ChatRoom { id name isPrivate } "
    "... on Message { id content author { username } chatRoom { id } } } }"
)
UNKNOWN_ID = "0" * 32


def user(account: Account) -> dict[str, str]:
    return {"__typename": "User", "id": account.id}


def room(room_id: str) -> dict[str, str]:
    return {"__typename": "ChatRoom", "id": room_id}


def message(message_id: str) -> dict[str, str]:
    return {"__typename": "Message", "id": message_id}


def errors_by_index(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """`_entities` errors keyed by the representation they belong to."""
    found = {}
    for error in body.get("errors", []):
        assert error["path"][0] == "_entities" and len(error["path"]) == 2, error
        found[error["path"][1]] = error
    return found


class CountingStore(SQLiteStore):
    """The real SQLite store, counting the batched look-ups `_entities` may make; `broken`
    makes message look-ups fail as a failing disk would (an error nobody expected)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: Counter[str] = Counter()
        self.broken = False

    async def get_messages(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        self.calls["get_messages"] += 1
        if self.broken:
            raise sqlite3.OperationalError("disk I/O error")
        return await super().get_messages(message_ids)

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        self.calls["get_users"] += 1
        return await super().get_users(user_ids)

    async def get_rooms(self, room_ids: Sequence[str]) -> dict[str, RoomRecord]:
        self.calls["get_rooms"] += 1
        return await super().get_rooms(room_ids)


@dataclass
class Chat:
    """alice owns the public lobby, bob joined it; carol alone is in her private room;
    dave is in no room."""

    client: Client
    alice: Account
    bob: Account
    carol: Account
    dave: Account
    lobby: str
    secret: str
    hello: dict[str, Any]
    whisper: dict[str, Any]


async def make_chat(server: Server) -> Chat:
    client = Client(server)
    alice, bob, carol, dave = [await client.register(n) for n in ("alice", "bob", "carol", "dave")]
    lobby = await client.create_room(alice, "lobby")
    await client.join(bob, lobby)
    hello = await client.send(alice, lobby, "hello from alice")
    secret = await client.create_room(carol, "secret", private=True)
    whisper = await client.send(carol, secret, "carol's secret")
    return Chat(client, alice, bob, carol, dave, lobby, secret, hello, whisper)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(f"sqlite:///{tmp_path}/federation.db")


@pytest.fixture
async def subgraph(settings: Settings, store: CountingStore) -> AsyncIterator[Server]:
    async with running_server(replace(settings, federation=True), store) as server:
        yield server


@pytest.fixture
async def chat(subgraph: Server) -> AsyncIterator[Chat]:
    chat = await make_chat(subgraph)
    yield chat
    await chat.client.close()


# ---------------------------------------------------------------- the subgraph's contract


async def test_service_sdl_is_federation_2_with_the_three_entities(chat: Chat) -> None:
    sdl = (await chat.client.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert sdl.startswith(
        'schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])'
    )
    for entity in ("User", "ChatRoom", "Message"):
        assert f'type {entity} @key(fields: "id", resolvable: true) {{' in sdl
    assert sdl.count("@key(fields:") == 3
    assert "union _Entity = ChatRoom | Message | User" in sdl
    parse(sdl)  # well-formed SDL
    subgraph = build_schema(federation=True)
    assert isinstance(subgraph, SubgraphSchema) and sdl == subgraph.subgraph_sdl


def test_the_command_line_prints_the_subgraph_sdl() -> None:
    """What `rover subgraph publish --schema` or a static supergraph build can read."""
    printed = subprocess.run(
        [sys.executable, "-m", "chatql", "print-schema", "--federation"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    subgraph = build_schema(federation=True)
    assert isinstance(subgraph, SubgraphSchema)
    assert printed == subgraph.subgraph_sdl + "\n"


def test_the_plain_schema_never_carries_the_keys() -> None:
    """Building the subgraph (here, and in the server fixtures) leaves schema.graphql as it is."""
    subgraph = build_schema(federation=True)
    assert isinstance(subgraph, SubgraphSchema) and "@key(fields:" in subgraph.subgraph_sdl
    plain = build_schema().as_str()
    assert "@key" not in plain and "_entities" not in plain and "_service" not in plain
    assert plain + "\n" == (ROOT / "schema.graphql").read_text()


async def test_without_federation_the_subgraph_fields_do_not_exist(settings: Settings) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        account = await client.register()
        for query in ("{ _service { sdl } }", "{ _entities(representations: []) { __typename } }"):
            error = await client.error(query, token=account.token)
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        await client.close()


# ---------------------------------------------------------------- entities and their rights


async def test_a_member_resolves_each_entity_type(chat: Chat) -> None:
    representations = [user(chat.bob), room(chat.lobby), message(chat.hello["id"])]
    body = await chat.client.post(ENTITIES, {"r": representations}, chat.alice.token)
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [
        {"__typename": "User", "id": chat.bob.id, "username": "bob"},
        {"__typename": "ChatRoom", "id": chat.lobby, "name": "lobby", "isPrivate": False},
        {
            "__typename": "Message",
            "id": chat.hello["id"],
            "content": "hello from alice",
            "author": {"username": "alice"},
            "chatRoom": {"id": chat.lobby},
        },
    ]


async def test_what_the_viewer_may_not_see_is_refused_like_what_does_not_exist(
    chat: Chat,
) -> None:
    """Each answer is the one `getUser`/`getChatRoom`/`getMessage` gives; a private room and
    its messages are indistinguishable from unknown ids."""
    representations = [
        room(chat.secret),
        room(UNKNOWN_ID),
        message(chat.whisper["id"]),
        message(UNKNOWN_ID),
        user(chat.carol),  # users are visible to anyone signed in, as getUser shows them
        {"__typename": "User", "id": UNKNOWN_ID},
        message(chat.hello["id"]),  # a public room's message, but dave never joined
        room(chat.lobby),  # public rooms are visible to all
    ]
    body = await chat.client.post(ENTITIES, {"r": representations}, chat.dave.token)
    entities = body["data"]["_entities"]
    assert [e and e["__typename"] for e in entities] == [
        None,
        None,
        None,
        None,
        "User",
        None,
        None,
        "ChatRoom",
    ]
    errors = errors_by_index(body)
    assert sorted(errors) == [0, 1, 2, 3, 5, 6]
    assert all(e["extensions"] == {"code": "NOT_FOUND"} for e in errors.values()), errors
    assert errors[0]["message"] == errors[1]["message"] == "Chat room not found"
    assert errors[2]["message"] == errors[3]["message"] == errors[6]["message"]
    assert errors[5]["message"] == "User not found"
    # the ordinary queries agree
    check = await chat.client.data(
        "query($s: ID!, $w: ID!, $h: ID!) { getChatRoom(id: $s) { id } "
        "w: getMessage(id: $w) { id } h: getMessage(id: $h) { id } }",
        {"s": chat.secret, "w": chat.whisper["id"], "h": chat.hello["id"]},
        chat.dave.token,
    )
    assert check == {"getChatRoom": None, "w": None, "h": None}


async def test_the_room_owner_and_a_guest_see_what_they_may(
    settings: Settings, store: CountingStore
) -> None:
    async with running_server(replace(settings, federation=True, guest_access=True), store) as s:
        chat = await make_chat(s)
        own = await chat.client.post(
            ENTITIES, {"r": [room(chat.secret), message(chat.whisper["id"])]}, chat.carol.token
        )
        assert "errors" not in own and [e["id"] for e in own["data"]["_entities"]] == [
            chat.secret,
            chat.whisper["id"],
        ], own
        guest = await chat.client.data("mutation { startGuestSession { accessToken } }")
        token = guest["startGuestSession"]["accessToken"]
        body = await chat.client.post(
            ENTITIES, {"r": [message(chat.hello["id"]), message(chat.whisper["id"])]}, token
        )
        # guests read public rooms' history, never private rooms
        assert body["data"]["_entities"][0]["content"] == "hello from alice"
        assert body["data"]["_entities"][1] is None
        assert errors_by_index(body)[1]["extensions"]["code"] == "NOT_FOUND"
        await chat.client.close()


async def test_unauthenticated_callers_get_no_entity(chat: Chat) -> None:
    representations = [user(chat.alice), room(chat.lobby)]
    for token in (None, "not-a-token"):
        body = await chat.client.post(ENTITIES, {"r": representations}, token)
        assert body["data"] is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_a_removed_member_stops_resolving_the_rooms_messages(chat: Chat) -> None:
    """Rights are checked on every call, as every subscription event is authorised again."""
    client = chat.client
    private = await client.create_room(chat.alice, "staff", private=True, members=[chat.bob.id])
    note = await client.send(chat.alice, private, "staff only")
    ask = {"r": [message(note["id"]), room(private)]}
    before = await client.post(ENTITIES, ask, chat.bob.token)
    assert "errors" not in before and all(before["data"]["_entities"]), before
    await client.data(
        "mutation($r: ID!, $u: ID!) { removeRoomMember(roomId: $r, userId: $u) }",
        {"r": private, "u": chat.bob.id},
        chat.alice.token,
    )
    after = await client.post(ENTITIES, ask, chat.bob.token)
    assert after["data"]["_entities"] == [None, None], after
    assert {e["extensions"]["code"] for e in after["errors"]} == {"NOT_FOUND"}


async def test_many_representations_are_loaded_in_one_batch_per_type(
    chat: Chat, store: CountingStore
) -> None:
    client = chat.client
    other = await client.create_room(chat.bob, "other")
    sent = [await client.send(chat.alice, chat.lobby, f"m{i}") for i in range(15)]
    sent += [await client.send(chat.bob, other, f"o{i}") for i in range(15)]
    await client.join(chat.alice, other)
    people = [chat.alice, chat.bob, chat.carol, chat.dave]
    representations = [message(m["id"]) for m in sent] + [user(p) for p in people]
    representations += [room(chat.lobby), room(other)]
    store.calls.clear()
    body = await client.post(
        "query($r: [_Any!]!) { _entities(representations: $r) { "
        "... on Message { id author { id } } ... on User { id } ... on ChatRoom { id } } }",
        {"r": representations},
        chat.alice.token,
    )
    assert "errors" not in body, body
    assert [e["id"] for e in body["data"]["_entities"]] == [
        *(m["id"] for m in sent),
        *(p.id for p in people),
        chat.lobby,
        other,
    ]
    assert store.calls["get_messages"] == 1, store.calls
    assert store.calls["get_users"] <= 1 and store.calls["get_rooms"] <= 1, store.calls


async def test_bad_representations_are_bad_user_input(chat: Chat) -> None:
    representations: list[Any] = [
        user(chat.bob),
        {"__typename": "User"},  # no id
        {"__typename": "User", "id": 7},  # not a string
        {"__typename": "Reaction", "id": chat.hello["id"]},  # not an entity
        {"id": chat.bob.id},  # no __typename
        "User:" + chat.bob.id,  # not an object
        {"__typename": "Message", "id": "../../etc/passwd"},  # not an id
        [user(chat.bob)],
    ]
    body = await chat.client.post(ENTITIES, {"r": representations}, chat.alice.token)
    entities = body["data"]["_entities"]
    assert entities[0]["username"] == "bob" and entities[1:] == [None] * 7, body
    errors = errors_by_index(body)
    assert sorted(errors) == [1, 2, 3, 4, 5, 6, 7]
    for index, error in errors.items():
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "index": index}, error
        assert error["message"].startswith(f"representations[{index}]"), error


async def test_entities_over_a_websocket_keep_the_rules_and_the_socket(chat: Chat) -> None:
    """graphql-transport-ws also runs queries (graphql-ws refuses them): same rights, same
    refusals, and the socket stays usable."""
    sock = await Socket.connect(chat.client.server, TRANSPORT_WS, chat.dave.token)
    await sock.ack()
    await sock.subscribe(ENTITIES, {"r": [{"__typename": "User"}, message(chat.whisper["id"])]})
    payload = await sock.next_payload()
    assert payload["data"]["_entities"] == [None, None], payload
    codes = [e["extensions"]["code"] for e in payload["errors"]]
    assert codes == ["BAD_USER_INPUT", "NOT_FOUND"], payload
    await sock.subscribe(ENTITIES, {"r": [room(chat.lobby)]})
    while (frame := await sock.recv())["type"] not in ("next", "data"):
        assert frame["type"] == "complete", frame
    assert frame["payload"]["data"]["_entities"][0]["name"] == "lobby", frame
    await sock.close()


async def test_null_and_missing_representations_are_refused_before_running(chat: Chat) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"r": [None]}, "BAD_USER_INPUT"),
        ({"r": None}, "BAD_USER_INPUT"),
        # graphql-core reports a missing variable among validation errors, for every operation
        ({}, "GRAPHQL_VALIDATION_FAILED"),
    ]
    for variables, code in cases:
        body = await chat.client.post(ENTITIES, variables, chat.alice.token)
        assert body["data"] is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], body


async def test_too_many_representations_are_refused_whole(
    settings: Settings, store: CountingStore
) -> None:
    capped = replace(settings, federation=True, max_representations=5)
    async with running_server(capped, store) as server:
        chat = await make_chat(server)
        five = [user(chat.alice)] * 5
        accepted = await chat.client.data(ENTITIES, {"r": five}, chat.alice.token)
        assert len(accepted["_entities"]) == 5
        store.calls.clear()
        body = await chat.client.post(ENTITIES, {"r": [*five, user(chat.bob)]}, chat.alice.token)
        assert body["data"] is None, body
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "limit": 5,
            "measured": 6,
        }
        assert not store.calls  # refused before any look-up
        await chat.client.close()


# ---------------------------------------------------------------- limits


def tokens_of(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def on_message(selection: str) -> str:
    return (
        "query($r: [_Any!]!) "
        f"{{ _entities(representations: $r) {{ ... on Message {{ id {selection} }} }} }}"
    )


def with_depth(depth: int) -> str:
    """`_entities` is level 1, the message's fields level 2 (inline fragments add none)."""
    inner = "id"
    for name in reversed((["chatRoom", "lastMessage"] * depth)[: depth - 2]):
        inner = f"{name} {{ {inner} }}"
    return on_message(inner)


def with_aliases(count: int) -> str:
    return on_message(" ".join(f"a{i}: id" for i in range(count)))


def with_directives(count: int) -> str:
    return on_message(" ".join(["id @include(if: true)"] * count))


def with_tokens(count: int) -> str:
    document = on_message("content")
    return document + "\n#" * (count - tokens_of(document))


COST_LIMIT = 250
COST_PAGE = "chatRoom { members(limit: 100) { items { id username } } }"


def with_cost(total: int) -> str:
    """For one representation: 2 (_entities) + 1 * (1 + 206 (the page) + 1 per `id`)."""
    return on_message(COST_PAGE + " id" * (total - 209))


LIMITS: dict[str, tuple[str, Callable[[int], str], int]] = {
    "depth": ("QUERY_TOO_DEEP", with_depth, 10),
    "aliases": ("TOO_MANY_ALIASES", with_aliases, 15),
    "directives": ("TOO_MANY_DIRECTIVES", with_directives, 50),
    "tokens": ("TOO_MANY_TOKENS", with_tokens, 2000),
    "cost": ("QUERY_TOO_COMPLEX", with_cost, COST_LIMIT),
}


@pytest.fixture
async def limited(settings: Settings, store: CountingStore) -> AsyncIterator[Chat]:
    federated = replace(settings, federation=True, max_query_cost=COST_LIMIT)
    async with running_server(federated, store) as server:
        chat = await make_chat(server)
        yield chat
        await chat.client.close()


@pytest.mark.parametrize("kind", list(LIMITS))
async def test_static_limits_count_through_entities(limited: Chat, kind: str) -> None:
    code, build, limit = LIMITS[kind]
    variables = {"r": [message(limited.hello["id"])]}
    at_limit = await limited.client.post(build(limit), variables, limited.alice.token)
    assert "errors" not in at_limit, at_limit
    assert at_limit["data"]["_entities"][0]["id"] == limited.hello["id"]
    past = await limited.client.post(build(limit + 1), variables, limited.alice.token)
    assert past["data"] is None and len(past["errors"]) == 1, past
    assert past["errors"][0]["extensions"] == {"code": code, "limit": limit, "measured": limit + 1}


async def test_cost_counts_every_representation(limited: Chat) -> None:
    document = with_cost(COST_LIMIT)
    one = [message(limited.hello["id"])]
    schema = build_schema(federation=True)._schema  # type: ignore[attr-defined]
    assert query_cost(schema, parse(document), {"r": one}) == COST_LIMIT
    assert query_cost(schema, parse(document), {"r": one * 3}) == 2 + 3 * (COST_LIMIT - 2)
    literal = document.replace("query($r: [_Any!]!) ", "").replace(
        "$r", json.dumps(one * 2).replace('"__typename"', "__typename").replace('"id"', "id")
    )
    assert query_cost(schema, parse(literal)) == 2 + 2 * (COST_LIMIT - 2)
    # a document validated without its variable (then refused: it is required) is validated
    # again with a lone representation (coerced to a list of one), and refused over the limit
    dear = with_cost(COST_LIMIT + 1)
    missing = await limited.client.post(dear, {}, limited.alice.token)
    assert missing["data"] is None, missing
    lone = await limited.client.post(dear, {"r": one[0]}, limited.alice.token)
    assert lone["data"] is None, lone
    assert lone["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", lone
    # the same document again, now with one representation more: validated again, refused
    accepted = await limited.client.post(document, {"r": one}, limited.alice.token)
    assert "errors" not in accepted, accepted
    past = await limited.client.post(document, {"r": one * 2}, limited.alice.token)
    assert past["data"] is None, past
    assert past["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": COST_LIMIT,
        "measured": 2 + 2 * (COST_LIMIT - 2),
    }


# ---------------------------------------------------------------- production


@pytest.fixture
async def production(settings: Settings, store: CountingStore) -> AsyncIterator[Chat]:
    secured = replace(settings, env="production", jwt_secret="k" * 40, federation=True)
    async with running_server(secured, store) as server:
        chat = await make_chat(server)
        yield chat
        await chat.client.close()


async def test_production_serves_the_sdl_but_no_introspection(production: Chat) -> None:
    client = production.client
    sdl = (await client.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert 'type Message @key(fields: "id"' in sdl
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Message") { name } }'):
        error = await client.error(query, token=production.alice.token)
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
    # no field suggestions either
    body = await client.post("{ _entitie { __typename } }", token=production.alice.token)
    assert "Did you mean" not in json.dumps(body) and body["errors"]


async def test_production_masks_an_unexpected_failure(
    production: Chat, store: CountingStore
) -> None:
    store.broken = True
    body = await production.client.post(
        ENTITIES, {"r": [message(production.hello["id"])]}, production.alice.token
    )
    store.broken = False
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert set(error["extensions"]) == {"code", "requestId"}
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "disk I/O" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    # the server goes on answering
    again = await production.client.post(
        ENTITIES, {"r": [message(production.hello["id"])]}, production.alice.token
    )
    assert again["data"]["_entities"][0]["content"] == "hello from alice"


@pytest.fixture
async def prod(settings: Settings) -> AsyncIterator[Server]:
    """What graphql-cop's probes (tests/test_attacks.py) attack: here, the subgraph."""
    secured = replace(settings, env="production", jwt_secret="k" * 40, federation=True)
    async with running_server(secured) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


# graphql-cop's probes, each refused by the subgraph in production as by the plain server
test_alias_overloading = graphql_cop.test_alias_overloading
test_batch_queries = graphql_cop.test_batch_queries
test_directive_overloading = graphql_cop.test_directive_overloading
test_field_duplication = graphql_cop.test_field_duplication
test_introspection = graphql_cop.test_introspection
test_get_based_mutation = graphql_cop.test_get_based_mutation
test_get_based_query_csrf = graphql_cop.test_get_based_query_csrf
test_post_url_encoded_csrf = graphql_cop.test_post_url_encoded_csrf
test_field_suggestions = graphql_cop.test_field_suggestions
test_trace_mode = graphql_cop.test_trace_mode
test_unhandled_errors = graphql_cop.test_unhandled_errors
test_circular_introspection = graphql_cop.test_circular_introspection
test_graphiql_detection = graphql_cop.test_graphiql_detection


# ---------------------------------------------------------------- Apollo's composition and gateway


async def test_apollo_gateway_queries_across_chatql_and_a_second_subgraph(chat: Chat) -> None:
    """@apollo/composition composes ChatQL's SDL with a `moderation` subgraph (which adds
    `User.trustScore` and returns references to ChatQL messages); @apollo/gateway plans and runs
    queries that cross both, as alice, then as nobody."""
    reply = await chat.client.send(chat.bob, chat.lobby, "hi alice")
    env = {
        "CHATQL_URL": chat.client.server.url,
        "CHATQL_TOKEN": chat.alice.token,
        "ROOM_ID": chat.lobby,
        "TRUST_SCORES": json.dumps({chat.alice.id: 90, chat.bob.id: 40}),
        # bob's message in the lobby (alice reads it); carol's in her private room (she cannot)
        "REPORTED_IDS": json.dumps([reply["id"], chat.whisper["id"]]),
    }
    result = await run_client("federation.mjs", "@apollo/gateway", env)

    assert result["composeErrors"] is None, result
    assert result["keyedBy"] == {
        "ChatRoom": ["CHATQL"],
        "Message": ["CHATQL", "MODERATION"],
        "User": ["CHATQL", "MODERATION"],
    }, result

    # starts in ChatQL, then moderation resolves each author's trustScore through _entities
    history = result["history"]
    assert "errors" not in history, history
    assert history["data"]["messagesByRoom"]["items"] == [
        {"content": "hello from alice", "author": {"username": "alice", "trustScore": 90}},
        {"content": "hi alice", "author": {"username": "bob", "trustScore": 40}},
    ]
    assert {r["id"] for r in result["seenByModeration"]} == {chat.alice.id, chat.bob.id}
    # the same through a gateway that fetched both subgraphs' SDL and composed them itself
    assert result["introspectedHistory"] == history

    # starts in moderation; ChatQL resolves the references with alice's rights
    reported = result["reported"]
    assert reported["data"]["reportedMessages"][0] == {
        "id": reply["id"],
        "content": "hi alice",
        "author": {"username": "bob", "trustScore": 40},
        "chatRoom": {"name": "lobby"},
    }
    assert reported["data"]["reportedMessages"][1] is None  # carol's private room
    [refused] = reported["errors"]
    assert refused["message"] == "Message not found"
    assert refused["extensions"]["code"] == "NOT_FOUND"
    assert refused["extensions"]["serviceName"] == "chatql"
    assert chat.whisper["id"] not in json.dumps(reported["data"])

    # without a token ChatQL gives the gateway nothing
    anonymous = result["anonymous"]
    assert "carol's secret" not in json.dumps(anonymous) and "hi alice" not in json.dumps(anonymous)
    assert {e["extensions"]["code"] for e in anonymous["errors"]} == {"UNAUTHENTICATED"}
