"""Plain GraphQL POSTs answered straight from the ASGI scope (`chatql.fast_path.direct_http`) answer
byte for byte like Starlette + Strawberry do, and everything unusual still goes that way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from chatql.app import create_app
from chatql.config import Settings
from chatql.fast_path.direct_http import DirectPost

SEND = (
    "mutation Send($r: ID!, $c: String!) { createMessage(input: {chatRoomId: $r, content: $c})"
    " { id content seq author { username } } }"
)
HISTORY = (
    "query($r: ID!) { messagesByRoom(chatRoomId: $r, limit: 5) "
    "{ items { content seq author { username } } nextToken } }"
)
ME = "{ me { username role } }"
GRAPHQL = "application/graphql-response+json"


class Paths:
    """The same app reached two ways: through DirectPost, and straight into Starlette."""

    def __init__(self, app: Starlette) -> None:
        async def framework(scope: Scope, receive: Receive, send: Send) -> None:
            await Starlette.__call__(app, scope, receive, send)

        base = "http://chatql.test"
        self.direct = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base)
        self.framework = httpx.AsyncClient(transport=httpx.ASGITransport(framework), base_url=base)

    async def both(self, body: Any, token: str | None = None, **headers: str) -> list[Any]:
        if token:
            headers["authorization"] = f"Bearer {token}"
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
        answers = []
        for client in (self.direct, self.framework):
            response = await client.post("/graphql", content=content, headers=headers)
            answers.append(
                (response.status_code, response.headers.get("content-type"), response.content)
            )
        return answers


@pytest.fixture
async def paths(settings: Settings) -> AsyncIterator[Paths]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield Paths(app)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries DirectPost answered itself."""
    seen: list[str] = []
    original = DirectPost.answer

    async def spy(self: DirectPost, *args: Any) -> Any:
        seen.append(args[3].data.query)
        return await original(self, *args)

    monkeypatch.setattr(DirectPost, "answer", spy)
    return seen


async def register(paths: Paths, name: str) -> str:
    body = {
        "query": "mutation($u: String!, $p: String!) "
        "{ register(username: $u, password: $p) { accessToken } }",
        "variables": {"u": name, "p": "correct horse battery"},
    }
    response = await paths.framework.post("/graphql", json=body)
    return str(response.json()["data"]["register"]["accessToken"])


async def test_known_documents_are_answered_directly_and_identically(
    paths: Paths, answered: list[str]
) -> None:
    alice = await register(paths, "alice")
    created = await paths.framework.post(
        "/graphql",
        json={"query": 'mutation { createChatRoom(input: {name: "r"}) { id } }'},
        headers={"authorization": f"Bearer {alice}"},
    )
    room = created.json()["data"]["createChatRoom"]["id"]

    # a mutation: the first send validates the document, the next ones skip straight to it
    for text in ("one", "two"):
        (d_status, d_type, d_body), (f_status, f_type, f_body) = await paths.both(
            {"query": SEND, "variables": {"r": room, "c": text}}, alice
        )
        assert (d_status, d_type) == (f_status, f_type) == (200, "application/json")
        direct, framework = json.loads(d_body), json.loads(f_body)
        assert direct["data"]["createMessage"]["content"] == text
        assert (
            direct["data"]["createMessage"]["seq"] + 1 == framework["data"]["createMessage"]["seq"]
        )
    assert answered == [SEND]  # the very first one took the ordinary path

    # reads and every kind of refusal: the same bytes either way
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"query": HISTORY, "variables": {"r": room}}, alice),
        ({"query": ME}, alice),
        ({"query": ME}, None),  # UNAUTHENTICATED
        ({"query": ME}, "not-a-token"),
        ({"query": HISTORY, "variables": {"r": "0" * 32}}, alice),  # NOT_FOUND
        ({"query": HISTORY, "variables": {"r": "bad id"}}, alice),  # BAD_USER_INPUT
        ({"query": HISTORY, "variables": {"r": 5}}, alice),  # variable of the wrong type
        ({"query": HISTORY, "variables": {}}, alice),  # missing variable
        ({"query": "{ me { nope } }"}, alice),  # invalid document
    ]
    for body, token in cases:
        for _ in range(2):  # once to prepare the document, once along the direct path
            for accept in ("application/json", "application/graphql-response+json, */*"):
                direct, framework = await paths.both(body, token, accept=accept)
                assert direct == framework, (body, accept)
    assert answered.count(HISTORY) >= 8 and answered.count(ME) >= 6
    refused = await paths.both({"query": HISTORY, "variables": {}}, alice, accept=GRAPHQL)
    assert refused[0][:2] == (400, GRAPHQL)  # the spec's request error, along the direct path
    assert "{ me { nope } }" not in answered  # documents with errors are never direct


async def test_unusual_requests_take_the_ordinary_path(paths: Paths, answered: list[str]) -> None:
    alice = await register(paths, "alice")
    await paths.both({"query": ME}, alice)  # the document is known from now on
    answered.clear()
    unusual: list[tuple[Any, dict[str, str]]] = [
        ({"query": ME}, {"content-type": "text/plain"}),
        ([{"query": ME}], {}),  # a batch
        (b'{"query": "{ me { username } }"', {}),  # not JSON
        ({"query": ME, "variables": [1]}, {}),
        ({"query": ME, "operationName": 7}, {}),
    ]
    for body, headers in unusual:
        direct, framework = await paths.both(body, alice, **headers)
        assert direct == framework, (body, headers)
    assert answered == []
    big = {"query": ME, "variables": {"pad": "x" * 70_000}}
    direct, framework = await paths.both(big, alice)
    assert direct == framework and direct[0] == 413
    assert answered == []


async def test_browser_origins_get_cors_headers(settings: Settings, answered: list[str]) -> None:
    allowed = "https://chat.example"
    app = create_app(replace(settings, allowed_origins=(allowed,)))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://chatql.test"
        ) as http,
    ):
        for _ in range(2):
            response = await http.post(
                "/graphql", json={"query": "{ __typename }"}, headers={"origin": allowed}
            )
            assert response.json() == {"data": {"__typename": "Query"}}
            assert response.headers["access-control-allow-origin"] == allowed
        await http.post("/graphql", json={"query": "{ __typename }"})
    assert answered == ["{ __typename }"]


async def test_a_direct_request_builds_its_documents_key_once(
    paths: Paths, answered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct path's check, the execution and the operation's metrics share the
    request's lookup (its context carries it)."""
    from chatql.security.validation_memo import PreparedDocuments

    alice = await register(paths, "alice")
    await paths.framework.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {alice}"}
    )
    built: list[Any] = []
    original = PreparedDocuments.key

    def counted(*args: Any) -> Any:
        built.append(args[0])
        return original(*args)

    monkeypatch.setattr(PreparedDocuments, "key", staticmethod(counted))
    for _ in range(3):
        response = await paths.direct.post(
            "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {alice}"}
        )
        assert response.json()["data"]["me"]["username"] == "alice"
    assert answered == [ME] * 3
    assert built == [ME] * 3
