"""Persisted documents: Apollo's automatic persisted queries and trusted documents, over every
path (POST, the direct POST path, GET, graphql-transport-ws, graphql-ws), with the limits,
production masking and authorisation of ordinary documents."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from chatql.config import Settings
from chatql.config_values import ConfigError
from chatql.fast_path.direct_http import DirectPost
from chatql.persisted_documents import PersistedQueryCache, TrustedDocuments
from chatql.realtime.fanout import Fanout
from tests.helpers import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, Account, Client, Server, Socket
from tests.helpers import running_server as serve
from tests.node_clients import run_client

ME = "query Me { me { id username } }"
ROOMS = "query Rooms { listChatRooms { items { id name } } }"
SEND = (
    "mutation Send($r: ID!, $c: String!) "
    "{ createMessage(input: {chatRoomId: $r, content: $c}) { id content } }"
)
ON_MESSAGE = "subscription OnMessage($r: ID!) { onMessageCreated(chatRoomId: $r) { id content } }"
SEARCH = 'query Search { searchUsers(term: "a") { items { id } } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha(text)}}


DEEP = "query Deep { listChatRooms { items { members { items { id } } } } }"  # 5 levels


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


class APQ:
    """A client speaking Apollo's protocol by hand."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.AsyncClient(timeout=20)

    async def post(
        self, body: dict[str, Any], token: str | None = None, accept: str = "application/json"
    ) -> httpx.Response:
        headers = {"accept": accept}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return await self.http.post(self.server.url, json=body, headers=headers)

    async def hash_only(
        self, text: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        return await self.post({"variables": variables or {}, "extensions": persisted(text)}, token)

    async def with_text(
        self, text: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        body = {"query": text, "variables": variables or {}, "extensions": persisted(text)}
        return await self.post(body, token)

    async def get(self, params: dict[str, str], token: str | None = None) -> httpx.Response:
        headers = {"accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return await self.http.get(self.server.url, params=params, headers=headers)


@pytest.fixture
async def apq(server: Server) -> AsyncIterator[APQ]:
    client = APQ(server)
    yield client
    await client.http.aclose()


@pytest.fixture
async def alice(client: Client) -> Account:
    return await client.register("alice")


# ---------------------------------------------------------------- automatic persisted queries


async def test_a_hash_alone_is_not_found_then_registered_with_its_text_then_runs_alone(
    apq: APQ, alice: Account
) -> None:
    miss = await apq.hash_only(ME, token=alice.token)
    assert miss.status_code == 200
    assert miss.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    registered = await apq.with_text(ME, token=alice.token)
    assert registered.json()["data"]["me"]["username"] == "alice"
    for _ in range(3):  # the first takes the ordinary path; then the direct one
        hit = await apq.hash_only(ME, token=alice.token)
        assert hit.json()["data"]["me"]["username"] == "alice"


async def test_a_miss_is_a_400_request_error_for_graphql_response_clients(
    apq: APQ, alice: Account
) -> None:
    miss = await apq.post({"extensions": persisted(ROOMS)}, alice.token, GRAPHQL_RESPONSE)
    assert miss.status_code == 400
    assert miss.headers["content-type"] == GRAPHQL_RESPONSE
    assert code(miss.json()) == "PERSISTED_QUERY_NOT_FOUND"
    assert "data" not in miss.json()


async def test_a_hash_that_does_not_match_its_text_is_refused_and_never_remembered(
    apq: APQ, alice: Account
) -> None:
    lie = {"query": "{ me { id } }", "extensions": persisted(ME)}
    refused = await apq.post(lie, alice.token)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == "provided sha does not match query"
    assert code(refused.json()) == "BAD_REQUEST"
    assert code((await apq.hash_only(ME, token=alice.token)).json()) == (
        "PERSISTED_QUERY_NOT_FOUND"
    )


async def test_only_documents_that_parse_and_validate_are_remembered(
    apq: APQ, alice: Account
) -> None:
    for junk in ("{ me { nope } }", "{ me { ", "not graphql at all"):
        answer = await apq.with_text(junk, token=alice.token)
        assert answer.status_code in (200, 400)
        assert code(answer.json()) in ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED")
        again = await apq.hash_only(junk, token=alice.token)
        assert code(again.json()) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": "abc"},
        {"persistedQuery": []},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": {"version": 1, "sha256Hash": 42}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
        {"persistedQuery": {"version": 1, "sha256Hash": "z" * 64}},
        {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}},
        {"persistedQuery": {"sha256Hash": "a" * 64}},
    ],
)
async def test_malformed_persisted_query_extensions_are_a_coded_400(
    apq: APQ, server: Server, extensions: dict[str, Any]
) -> None:
    answer = await apq.post({"query": ME, "extensions": extensions})
    assert answer.status_code == 400
    assert code(answer.json()) == "BAD_REQUEST"
    via_get = await apq.get({"extensions": json.dumps(extensions)})
    assert via_get.status_code == 400 and code(via_get.json()) == "BAD_REQUEST"
    assert (await apq.post({"query": "{ __typename }"})).json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "body",
    [
        {"documentId": 5},
        {"documentId": "sha256:nothex"},
        {"documentId": "md5:" + "a" * 32},
        {"documentId": "sha256:" + sha(ME), "extensions": persisted(ROOMS)},
        {"query": ["not", "text"], "extensions": persisted(ME)},
    ],
)
async def test_malformed_document_ids_are_a_coded_400(apq: APQ, body: dict[str, Any]) -> None:
    answer = await apq.post(body)
    assert answer.status_code == 400
    assert code(answer.json()) == "BAD_REQUEST"


async def test_document_id_names_a_persisted_document_too(apq: APQ, alice: Account) -> None:
    await apq.with_text(ME, token=alice.token)
    for document_id in ("sha256:" + sha(ME), sha(ME).upper()):
        answer = await apq.post({"documentId": document_id}, alice.token)
        assert answer.json()["data"]["me"]["username"] == "alice"
        via_get = await apq.get({"documentId": document_id}, alice.token)
        assert via_get.json()["data"]["me"]["username"] == "alice"


async def test_persisted_queries_over_get_and_never_a_mutation(
    apq: APQ, client: Client, alice: Account
) -> None:
    room = await client.create_room(alice)
    params = {"extensions": json.dumps(persisted(ROOMS)), "operationName": "Rooms"}
    miss = await apq.http.get(
        apq.server.url, params=params, headers={"authorization": f"Bearer {alice.token}"}
    )  # httpx's default accept is */*: still an API request, not the GraphiQL page
    assert code(miss.json()) == "PERSISTED_QUERY_NOT_FOUND"
    await apq.with_text(ROOMS, token=alice.token)
    hit = await apq.get(params, alice.token)
    assert hit.status_code == 200
    assert hit.json()["data"]["listChatRooms"]["items"][0]["id"] == room

    await apq.with_text(SEND, {"r": room, "c": "by POST"}, alice.token)
    mutation = {"extensions": json.dumps(persisted(SEND)), "variables": json.dumps({"r": room})}
    refused = await apq.get({**mutation, "variables": json.dumps({"r": room, "c": "GET"})})
    assert refused.status_code == 400
    assert "mutations are not allowed" in refused.text.lower()
    assert [m["content"] for m in await client.history(alice, room)] == ["by POST"]


async def test_hash_only_requests_take_the_direct_path_and_the_history_cache(
    apq: APQ, client: Client, alice: Account, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[str | None] = []
    original = DirectPost.answer

    async def spy(self: DirectPost, *args: Any) -> Any:
        answered.append(args[3].data.query)
        return await original(self, *args)

    monkeypatch.setattr(DirectPost, "answer", spy)
    room = await client.create_room(alice)
    await client.send(alice, room, "hello")
    history = "query H($r: ID!) { messagesByRoom(chatRoomId: $r) { items { id content } } }"
    await apq.with_text(history, {"r": room}, alice.token)
    view = server.app.view
    plans = []
    plan = view.history.plan
    monkeypatch.setattr(view.history, "plan", lambda *a: plans.append(plan(*a)) or plans[-1])
    for _ in range(2):
        hit = await apq.hash_only(history, {"r": room}, alice.token)
        assert hit.json()["data"]["messagesByRoom"]["items"][0]["content"] == "hello"
    assert answered.count(history) == 2  # known to the validation memo: straight through
    assert len(plans) == 2 and all(p is not None for p in plans)  # and shared history answers


async def test_the_cache_is_bounded_by_entries_and_by_bytes() -> None:
    cache = PersistedQueryCache(max_entries=3, max_bytes=100)
    for i in range(5):
        cache.put(f"h{i}", f"{{ a{i} }}")
    assert len(cache) == 3 and cache.get("h0") is None and cache.get("h4") is not None
    cache.get("h2")  # used: kept over h3
    cache.put("big", "x" * 90)
    assert cache.get("h2") is None or cache.size_bytes <= 100
    assert cache.size_bytes <= 100 and cache.get("big") is not None
    cache.put("huge", "x" * 101)  # bigger than the whole cache: never kept
    assert cache.get("huge") is None and cache.get("big") is not None


async def test_a_server_remembers_no_more_than_its_setting(settings: Settings) -> None:
    async with serve(replace(settings, apq_cache_entries=2)) as server:
        apq = APQ(server)
        documents = ["{ __typename }", "query A { __typename }", "query B { __typename }"]
        for document in documents:
            assert "data" in (await apq.with_text(document)).json()
        first = await apq.hash_only(documents[0])
        assert code(first.json()) == "PERSISTED_QUERY_NOT_FOUND"  # the oldest went
        assert "data" in (await apq.hash_only(documents[2])).json()
        view = server.app.view
        assert len(view.documents.cache) == 2
        await apq.http.aclose()


async def test_with_apq_off_a_hash_is_not_supported(settings: Settings) -> None:
    async with serve(replace(settings, apq=False)) as server:
        apq = APQ(server)
        answer = await apq.with_text("{ __typename }")
        assert code(answer.json()) == "PERSISTED_QUERY_NOT_SUPPORTED"
        assert "data" in (await apq.post({"query": "{ __typename }"})).json()
        await apq.http.aclose()


async def test_a_registration_is_bounded_by_the_body_limit(settings: Settings) -> None:
    async with serve(replace(settings, max_body_bytes=512, max_tokens=0)) as server:
        apq = APQ(server)
        big = "query Big { " + " ".join(f"a{i}: __typename" for i in range(60)) + " }"
        too_big = await apq.with_text(big)
        assert too_big.status_code == 413
        assert code((await apq.hash_only(big)).json()) == "PERSISTED_QUERY_NOT_FOUND"
        await apq.http.aclose()


# ---------------------------------------------------------------- over WebSockets


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_persisted_subscriptions_over_both_websocket_protocols(
    apq: APQ, client: Client, server: Server, alice: Account, protocol: str
) -> None:
    room = await client.create_room(alice)
    socket = await Socket.connect(server, protocol, alice.token)
    await socket.ack()
    start = "subscribe" if protocol == TRANSPORT_WS else "start"

    # unknown hash: an error for that operation only; the socket stays open
    payload = {"variables": {"r": room}, "extensions": persisted(ON_MESSAGE)}
    await socket.send({"id": "miss", "type": start, "payload": payload})
    frame = await socket.recv()
    assert frame["type"] == "error" and frame["id"] == "miss"
    errors = frame["payload"] if protocol == TRANSPORT_WS else [frame["payload"]]
    assert errors[0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    # text + hash registers it; hash alone then resolves from the cache
    with_text = {**payload, "query": ON_MESSAGE}
    await socket.send({"id": "text", "type": start, "payload": with_text})
    await socket.send({"id": "hash", "type": start, "payload": payload})
    await socket.nothing_within(0.3)
    await client.send(alice, room, "hello")
    got = {}
    for _ in range(2):
        frame = await socket.recv()
        got[frame["id"]] = frame["payload"]["data"]["onMessageCreated"]["content"]
    assert got == {"text": "hello", "hash": "hello"}

    # a lie about the hash is refused, and is not the document the hash names
    lie = {"query": 'subscription { onMessageCreated(chatRoomId: "x") { id } }', **payload}
    lie["query"] = lie["query"]
    await socket.send({"id": "lie", "type": start, "payload": lie})
    frame = await socket.recv()
    assert frame["type"] == "error" and frame["id"] == "lie"
    await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_malformed_persisted_payloads_over_websockets_keep_the_socket(
    server: Server, alice: Account, protocol: str
) -> None:
    socket = await Socket.connect(server, protocol, alice.token)
    await socket.ack()
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    for index, extensions in enumerate(
        [{"persistedQuery": 1}, {"persistedQuery": {"version": 9, "sha256Hash": "a" * 64}}, 7]
    ):
        await socket.send({"id": str(index), "type": start, "payload": {"extensions": extensions}})
        frame = await socket.recv()
        assert frame["type"] == "error", frame
        error = frame["payload"][0] if protocol == TRANSPORT_WS else frame["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
    # still served: an ordinary (invalid) operation gets its own answer
    await socket.send({"id": "alive", "type": start, "payload": {"query": "subscription { x }"}})
    frame = await socket.recv()
    assert frame["id"] == "alive" and "Cannot query field" in json.dumps(frame)
    await socket.close()


async def test_persisted_subscriptions_join_the_shared_fan_out(
    apq: APQ, client: Client, server: Server, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    joined = []
    original = Fanout.join

    def spy(self: Fanout, plan: Any, *args: Any) -> Any:
        joined.append(plan.room_id)
        return original(self, plan, *args)

    monkeypatch.setattr(Fanout, "join", spy)
    room = await client.create_room(alice)
    await apq.with_text(ON_MESSAGE, {"r": room}, alice.token)  # any path registers it
    socket = await Socket.connect(server, TRANSPORT_WS, alice.token)
    await socket.ack()
    payload = {"variables": {"r": room}, "extensions": persisted(ON_MESSAGE)}
    await socket.send({"id": "1", "type": "subscribe", "payload": payload})
    await socket.nothing_within(0.2)
    assert joined == [room]
    await client.send(alice, room, "shared")
    assert (await socket.next_payload())["data"]["onMessageCreated"]["content"] == "shared"
    await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_member_removed_stops_receiving_a_persisted_subscription(
    apq: APQ, client: Client, server: Server, protocol: str
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, members=[bob.id])
    await apq.with_text(ON_MESSAGE, {"r": room}, bob.token)
    socket = await Socket.connect(server, protocol, bob.token)
    await socket.ack()
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    payload = {"variables": {"r": room}, "extensions": persisted(ON_MESSAGE)}
    await socket.send({"id": "1", "type": start, "payload": payload})
    await socket.nothing_within(0.2)
    await client.send(alice, room, "before")
    assert (await socket.next_payload())["data"]["onMessageCreated"]["content"] == "before"
    await client.data("mutation($r: ID!) { leaveRoom(roomId: $r) }", {"r": room}, bob.token)
    await client.send(alice, room, "after")
    frame = await socket.recv()
    assert "after" not in json.dumps(frame)
    if frame["type"] in ("next", "data"):
        assert frame["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await socket.close()


# ---------------------------------------------------------------- limits and production


async def test_limits_apply_to_documents_run_by_hash(settings: Settings) -> None:
    limited = replace(settings, max_query_depth=4, max_aliases=2, max_tokens=60)
    async with serve(limited) as server:
        apq, client = APQ(server), Client(server)
        alice = await client.register("alice")
        aliases = "query Aliases { a: __typename b: __typename c: __typename }"
        for document, expected in ((DEEP, "QUERY_TOO_DEEP"), (aliases, "TOO_MANY_ALIASES")):
            first = await apq.with_text(document, token=alice.token)
            assert code(first.json()) == expected, first.json()
            # it validated, so it was remembered; the limit refuses it every time all the same
            again = await apq.hash_only(document, token=alice.token)
            assert code(again.json()) == expected, again.json()
        tokens = "query Tokens { " + " ".join("__typename" for _ in range(80)) + " }"
        assert code((await apq.with_text(tokens)).json()) == "TOO_MANY_TOKENS"
        assert code((await apq.hash_only(tokens)).json()) == "PERSISTED_QUERY_NOT_FOUND"
        await apq.http.aclose()
        await client.close()


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[Server]:
    prod = replace(settings, env="production", jwt_secret="k" * 40, email_mode="off")
    async with serve(prod) as server:
        yield server


async def test_production_refuses_introspection_and_masks_errors_by_hash(
    production: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    apq, client = APQ(production), Client(production)
    introspection = "query I { __schema { types { name } } }"
    for answer in (await apq.with_text(introspection), await apq.hash_only(introspection)):
        assert answer.json().get("data") is None, answer.text
        assert "introspection" in answer.json()["errors"][0]["message"].lower()

    alice = await client.register("alice")
    assert code((await apq.with_text(ME)).json()) == "UNAUTHENTICATED"
    assert code((await apq.hash_only(ME)).json()) == "UNAUTHENTICATED"

    services = production.app.state.services

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret detail from the database")

    monkeypatch.setattr(services.accounts, "search_users", broken)
    for answer in (
        await apq.with_text(SEARCH, token=alice.token),
        await apq.hash_only(SEARCH, token=alice.token),
    ):
        error = answer.json()["errors"][0]
        assert error["message"] == "Internal server error"
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert "secret" not in answer.text
    await apq.http.aclose()
    await client.close()


# ---------------------------------------------------------------- trusted documents


def apollo_manifest(*documents: str) -> dict[str, Any]:
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha(d), "name": f"Op{i}", "type": "query", "body": d}
            for i, d in enumerate(documents)
        ],
    }


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-query-manifest.json"
    path.write_text(json.dumps(apollo_manifest(ME, SEND, ON_MESSAGE, "{ __typename }")))
    return path


@pytest.fixture
async def trusted(settings: Settings, manifest: Path) -> AsyncIterator[Server]:
    async with serve(replace(settings, trusted_documents=str(manifest))) as server:
        yield server


async def test_trusted_documents_run_by_hash_and_by_text(trusted: Server) -> None:
    apq, client = APQ(trusted), Client(trusted)
    refused = await apq.post(
        {"query": 'mutation { register(username: "x", password: "yyyyyyyyyy") { accessToken } }'}
    )
    assert refused.status_code == 400
    assert code(refused.json()) == "PERSISTED_QUERY_NOT_IN_LIST"
    for answer in (
        await apq.hash_only("{ __typename }"),
        await apq.post({"query": "{ __typename }"}),
        await apq.with_text("{ __typename }"),
        await apq.post({"documentId": "sha256:" + sha("{ __typename }")}),
        await apq.get({"documentId": "sha256:" + sha("{ __typename }")}),
        await apq.get({"extensions": json.dumps(persisted("{ __typename }"))}),
    ):
        assert answer.json() == {"data": {"__typename": "Query"}}, answer.text
    assert code((await apq.hash_only(ME)).json()) == "UNAUTHENTICATED"  # listed, ran, refused
    await apq.http.aclose()
    await client.close()


async def test_anything_not_listed_is_refused_on_every_http_path(trusted: Server) -> None:
    apq = APQ(trusted)
    unlisted = "query Other { __typename }"
    view = trusted.app.view
    # make the document known to the validation memo, as if it had run: the direct path must
    # still refuse it
    await view.schema.execute(unlisted)
    for answer in (
        await apq.post({"query": unlisted}),
        await apq.with_text(unlisted),
        await apq.hash_only(unlisted),
        await apq.post({"documentId": sha(unlisted)}),
        await apq.get({"query": unlisted}),
        await apq.get({"extensions": json.dumps(persisted(unlisted))}),
    ):
        assert answer.status_code == 400, answer.text
        assert code(answer.json()) == "PERSISTED_QUERY_NOT_IN_LIST"
    graphql_response = await apq.post({"query": unlisted}, accept=GRAPHQL_RESPONSE)
    assert graphql_response.status_code == 400
    assert code(graphql_response.json()) == "PERSISTED_QUERY_NOT_IN_LIST"
    # a listed hash with some other text is a lie, not a way in
    lie = {"query": unlisted, "extensions": persisted("{ __typename }")}
    assert code((await apq.post(lie)).json()) == "BAD_REQUEST"
    await apq.http.aclose()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_trusted_documents_over_websockets(
    settings: Settings, manifest: Path, tmp_path: Path, protocol: str
) -> None:
    async with serve(settings) as open_server:  # accounts and a room, made without the list
        client = Client(open_server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        await client.close()
    db_settings = replace(settings, trusted_documents=str(manifest))
    async with serve(db_settings) as server:
        client = Client(server)
        socket = await Socket.connect(server, protocol, alice.token)
        await socket.ack()
        start = "subscribe" if protocol == TRANSPORT_WS else "start"
        unlisted = "subscription U($r: ID!) { onMessageCreated(chatRoomId: $r) { id } }"
        for payload in (
            {"query": unlisted, "variables": {"r": room}},
            {"variables": {"r": room}, "extensions": persisted(unlisted)},
        ):
            await socket.send({"id": "no", "type": start, "payload": payload})
            frame = await socket.recv()
            assert frame["type"] == "error", frame
            error = frame["payload"][0] if protocol == TRANSPORT_WS else frame["payload"]
            assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        await socket.send(
            {
                "id": "yes",
                "type": start,
                "payload": {"variables": {"r": room}, "extensions": persisted(ON_MESSAGE)},
            }
        )
        await socket.send(
            {
                "id": "text",
                "type": start,
                "payload": {"query": ON_MESSAGE, "variables": {"r": room}},
            }
        )
        await socket.nothing_within(0.3)
        apq = APQ(server)
        sent = await apq.hash_only(SEND, {"r": room, "c": "listed"}, alice.token)
        assert sent.json()["data"]["createMessage"]["content"] == "listed"
        ids = set()
        for _ in range(2):
            frame = await socket.recv()
            assert frame["payload"]["data"]["onMessageCreated"]["content"] == "listed"
            ids.add(frame["id"])
        assert ids == {"yes", "text"}
        await socket.close()
        await apq.http.aclose()
        await client.close()


async def test_codegen_persisted_documents_are_a_manifest_too(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha("{ __typename }"): "{ __typename }"}))
    loaded = TrustedDocuments.load(path)
    assert len(loaded) == 1 and loaded.get(sha("{ __typename }")) == "{ __typename }"
    async with serve(replace(settings, trusted_documents=str(path))) as server:
        apq = APQ(server)
        assert (await apq.hash_only("{ __typename }")).json() == {"data": {"__typename": "Query"}}
        assert code((await apq.post({"query": ME})).json()) == "PERSISTED_QUERY_NOT_IN_LIST"
        await apq.http.aclose()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "neither"),
        ("{}", "lists no documents"),
        (json.dumps({"a" * 64: "{ __typename }"}), "sha256"),
        (json.dumps({sha("{ nope"): "{ nope"}), "does not parse"),
        (json.dumps({sha("{ a }"): 5}), "no document text"),
        (json.dumps({"format": "other", "version": 1, "operations": []}), "apollo-persisted"),
        (
            json.dumps(
                {"format": "apollo-persisted-query-manifest", "version": 1, "operations": 3}
            ),
            "must be a list",
        ),
        (
            json.dumps(
                {
                    "format": "apollo-persisted-query-manifest",
                    "version": 1,
                    "operations": [{"id": "x", "name": "Me", "body": ME}],
                }
            ),
            "(Me): the id must be the sha256",
        ),
    ],
)
def test_a_bad_manifest_stops_the_server_at_start_up(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"CHATQL_TRUSTED_DOCUMENTS": str(path), "CHATQL_JWT_SECRET": "s" * 40})
    assert "CHATQL_TRUSTED_DOCUMENTS" in str(refused.value)
    assert problem in str(refused.value)


def test_web_app_names_the_built_apps_own_manifest(tmp_path: Path) -> None:
    environ = {"CHATQL_TRUSTED_DOCUMENTS": "web-app", "CHATQL_WEB_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"persisted-documents\.json"):
        Settings.from_env(environ)
    (tmp_path / "persisted-documents.json").write_text(json.dumps(apollo_manifest(ME)))
    settings = Settings.from_env(environ)
    loaded = settings.load_trusted_documents()
    assert loaded is not None and loaded.get(sha(ME)) == ME


async def test_an_unacknowledged_legacy_socket_still_gets_4401(trusted: Server) -> None:
    socket = await Socket.connect(trusted, LEGACY_WS, None, init=False)
    await socket.send({"id": "1", "type": "start", "payload": {"query": "{ __typename }"}})
    with pytest.raises(websockets.ConnectionClosed):
        await socket.recv(2)
    assert socket.ws.close_code == 4401


# ---------------------------------------------------------------- Apollo Client's own link


async def test_apollo_clients_persisted_queries_link(settings: Settings, tmp_path: Path) -> None:
    async with serve(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        env = {"CHATQL_URL": server.url, "CHATQL_TOKEN": alice.token, "CHATQL_ROOM": room}
        result = await run_client("apollo_apq.mjs", "@apollo/client", {**env, "CHATQL_MODE": "apq"})
        await client.close()
    hashed = {"method": "POST", "operation": "Me", "text": False, "hash": True}
    assert result["me"] == ["alice", "alice"]
    assert result["firstQuery"] == [hashed, {**hashed, "text": True}]  # miss, then the text
    assert result["secondQuery"] == [hashed]  # a hit: the hash alone
    assert result["mutation"] == "by mutation"
    assert result["received"] == "live"  # a subscription over graphql-ws, hash and text
    get = {"method": "GET", "operation": "Rooms", "text": False, "hash": True}
    assert result["get"] == [get, {**get, "method": "POST", "text": True}, get]
    assert result["rooms"] == [1, 1]

    # the same client against trusted documents: the manifest lists what Apollo sends
    printed = await run_client("apollo_apq.mjs", "@apollo/client", {"CHATQL_MODE": "print"})
    manifest = tmp_path / "apollo-manifest.json"
    manifest.write_text(json.dumps(apollo_manifest(*printed["documents"].values())))
    async with serve(replace(settings, trusted_documents=str(manifest))) as server:
        env["CHATQL_URL"] = server.url
        result = await run_client(
            "apollo_apq.mjs", "@apollo/client", {**env, "CHATQL_MODE": "trusted"}
        )
    assert result["me"] == "alice"
    assert result["received"] == "trusted"
    assert result["refused"] == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert result["refusedLive"] == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert all(not r["text"] and r["hash"] for r in result["requests"])  # hashes only
