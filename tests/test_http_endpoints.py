"""What a browser or a load balancer sees besides GraphQL: the IDE, health and readiness."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from chatql import graphiql
from chatql.config import Settings
from tests.helpers import Server, running_server


async def test_graphiql_is_served_with_local_assets_in_development(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        page = await http.get(server.url, headers={"accept": "text/html"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        base = server.url.removesuffix("/graphql")
        if graphiql.assets_available():
            assert "graphiql.min.js" in page.text
            for name in graphiql.ASSET_FILES:
                asset = await http.get(f"{base}/graphiql/static/{name}")
                assert asset.status_code == 200 and len(asset.content) > 1000
        else:  # npm was unavailable at install time: the page explains what to run
            assert "make install" in page.text
        assert "https://" not in page.text.replace("https://github.com", "")


async def test_graphiql_is_off_in_production(settings: Settings) -> None:
    prod = replace(settings, env="production", jwt_secret="p" * 40)
    async with running_server(prod) as server, httpx.AsyncClient() as http:
        page = await http.get(server.url, headers={"accept": "text/html"})
        assert page.status_code == 404
        body = await http.post(server.url, json={"query": "{ __schema { types { name } } }"})
        assert body.json()["errors"]


async def test_health_and_readiness(server: Server) -> None:
    base = server.url.removesuffix("/graphql")
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/healthz")).json() == {"status": "ok"}
        ready = await http.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_typename_preflight_answers_like_any_graphql_server(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(server.url, json={"query": "{ __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_cross_site_websocket_hijacking_is_refused(settings: Settings) -> None:
    """Browsers attach cookies to any WebSocket handshake, so a foreign Origin is refused unless
    CHATQL_ALLOWED_ORIGINS lists it; non-browser clients (no Origin) are unaffected."""
    import websockets
    from websockets.exceptions import InvalidStatus

    allowed = replace(settings, allowed_origins=("https://chat.example.com",))
    async with running_server(allowed) as server:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                server.ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                origin="https://evil.example.net",  # type: ignore[arg-type]
            )
        assert refused.value.response.status_code == 403
        ok = await websockets.connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            origin="https://chat.example.com",  # type: ignore[arg-type]
        )
        await ok.close()
        async with httpx.AsyncClient() as http:
            preflight = await http.options(
                server.url,
                headers={
                    "origin": "https://chat.example.com",
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization, content-type",
                },
            )
            assert preflight.headers["access-control-allow-origin"] == "https://chat.example.com"
            foreign = await http.post(
                server.url,
                json={"query": "{ __typename }"},
                headers={"origin": "https://evil.example.net"},
            )
            assert "access-control-allow-origin" not in foreign.headers
