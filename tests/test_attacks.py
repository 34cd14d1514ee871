"""graphql-cop's 13 probes, re-implemented: each must be refused by ChatQL in production mode.

The probes mirror what graphql-cop sends; an attacker's tooling does the same. "Refused" means
the request does not execute and the answer carries an error (or a 4xx), never data.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from chatql import webapp
from chatql.config import Settings
from tests.helpers import Server, running_server


@pytest.fixture
async def prod(settings: Settings) -> AsyncIterator[Server]:
    production = replace(settings, env="production", jwt_secret="k" * 40)
    async with running_server(production) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def refused(response: httpx.Response) -> bool:
    """No data came back, and the client was told why."""
    if response.status_code >= 400:
        return True
    body = response.json()
    items = body if isinstance(body, list) else [body]
    return all(item.get("errors") and not item.get("data") for item in items)


def codes(response: httpx.Response) -> set[str]:
    body = response.json()
    items = body if isinstance(body, list) else [body]
    return {e.get("extensions", {}).get("code") for i in items for e in i.get("errors", [])}


async def test_alias_overloading(prod: Server, http: httpx.AsyncClient) -> None:
    query = "query { " + " ".join(f"a{i}: __typename" for i in range(101)) + " }"
    assert refused(await http.post(prod.url, json={"query": query}))


async def test_batch_queries(prod: Server, http: httpx.AsyncClient) -> None:
    batch = [{"query": "query { __typename }"}] * 11
    response = await http.post(prod.url, json=batch)
    assert refused(response)


async def test_directive_overloading(prod: Server, http: httpx.AsyncClient) -> None:
    query = "query { __typename " + "@include(if: true)" * 51 + " }"
    assert refused(await http.post(prod.url, json={"query": query}))


async def test_field_duplication(prod: Server, http: httpx.AsyncClient) -> None:
    query = "query { " + "__typename " * 2001 + "}"
    assert refused(await http.post(prod.url, json={"query": query}))


async def test_introspection(prod: Server, http: httpx.AsyncClient) -> None:
    response = await http.post(prod.url, json={"query": "query { __schema { types { name } } }"})
    assert refused(response)
    assert "__schema" not in json.dumps(response.json().get("data") or {})


async def test_get_based_mutation(prod: Server, http: httpx.AsyncClient) -> None:
    query = 'mutation { register(username: "getmut", password: "password123") { accessToken } }'
    response = await http.get(prod.url, params={"query": query})
    assert refused(response)
    login = 'mutation { login(username: "getmut", password: "password123") { accessToken } }'
    assert refused(await http.post(prod.url, json={"query": login}))  # nothing was created


async def test_get_based_query_csrf(prod: Server, http: httpx.AsyncClient) -> None:
    response = await http.get(prod.url, params={"query": "query { __typename }"})
    assert refused(response)


async def test_post_url_encoded_csrf(prod: Server, http: httpx.AsyncClient) -> None:
    response = await http.post(
        prod.url,
        content="query=query+%7B+__typename+%7D",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert refused(response)


async def test_field_suggestions(prod: Server, http: httpx.AsyncClient) -> None:
    response = await http.post(prod.url, json={"query": "query { __schemaa { types } }"})
    assert "Did you mean" not in response.text


async def test_trace_mode(prod: Server, http: httpx.AsyncClient) -> None:
    response = await http.post(prod.url, json={"query": "query { __typename }"})
    assert "tracing" not in response.text and "extensions" not in response.json()


async def test_unhandled_errors(prod: Server, http: httpx.AsyncClient) -> None:
    for body in ({"query": "qwerty"}, {"query": "query { __typename(x: 1) }"}, {"query": 7}):
        response = await http.post(prod.url, json=body)
        for marker in ("Traceback", 'File "', "Exception", "stacktrace", "exception"):
            assert marker not in response.text


async def test_circular_introspection(prod: Server, http: httpx.AsyncClient) -> None:
    deep = "query { __schema { types { fields { type { fields { type { fields { type { fields {"
    deep += " type { fields { name } } } } } } } } } } } }"
    assert refused(await http.post(prod.url, json={"query": deep}))


@pytest.mark.parametrize("path", ["/graphql", "/graphiql", "/playground", "/console", "/"])
async def test_graphiql_detection(prod: Server, http: httpx.AsyncClient, path: str) -> None:
    base = prod.url.removesuffix("/graphql")
    response = await http.get(base + path, headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower() and "playground" not in response.text.lower()
    if response.status_code < 400:  # the web app's page for its own routes, nothing else
        assert path != "/graphql"
        assert response.text == (webapp.DEFAULT_DIR / "index.html").read_text()


async def test_development_mode_keeps_its_conveniences(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    """The same probes that production refuses are what a developer wants locally."""
    async with running_server(settings) as server:
        introspection = await http.post(
            server.url, json={"query": "{ __schema { queryType { name } } }"}
        )
        assert introspection.json()["data"]["__schema"]["queryType"]["name"] == "Query"
        get = await http.get(server.url, params={"query": "{ __typename }"})
        assert get.json() == {"data": {"__typename": "Query"}}
        assert codes(await http.post(server.url, json={"query": "{ __typenam }"})) == {
            "GRAPHQL_VALIDATION_FAILED"
        }
