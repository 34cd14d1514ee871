"""Plain GraphQL POSTs answered by the server's HTTP protocol without ASGI (`DirectCycle` in
`chatql.fast_path.http_protocol`), over real sockets: the same answers, headers, metrics and log
lines as through ASGI, keep-alive and pipelining kept, and whatever does not qualify handed on."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, NamedTuple

import httpx
import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from chatql.config import Settings
from chatql.fast_path.direct_http import DirectPost
from chatql.fast_path.http_protocol import CoalescingHttpProtocol
from chatql.realtime.transport import trusted_forwarding
from tests.helpers import Account, Client, Server, running_server, until
from tests.test_http_protocol import _open, _post, _response

ME = "{ me { username } }"


class Taken:
    """Counts the requests each path answered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.direct = 0  # by the protocol, without ASGI
        self.asgi = 0  # by DirectPost inside the ASGI application
        direct_answer = CoalescingHttpProtocol._answer
        asgi_call = DirectPost.__call__

        async def answer(protocol: CoalescingHttpProtocol, *args: Any) -> None:
            self.direct += 1
            await direct_answer(protocol, *args)

        async def call(post: DirectPost, *args: Any) -> None:
            self.asgi += 1
            await asgi_call(post, *args)

        monkeypatch.setattr(CoalescingHttpProtocol, "_answer", answer)
        monkeypatch.setattr(DirectPost, "__call__", call)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with running_server(replace(settings, max_body_bytes=300_000)) as server:
        yield server


async def signed_in(server: Server) -> Account:
    client = Client(server)
    account = await client.register("alice")
    await client.data(ME, token=account.token)  # the document is known from now on
    await client.http.aclose()
    return account


class Wire(NamedTuple):
    """A signed-in account, the paths' counts, and a raw connection to the server."""

    account: Account
    taken: Taken
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@pytest.fixture
async def wire(server: Server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Wire]:
    account = await signed_in(server)
    taken = Taken(monkeypatch)
    reader, writer = await _open(server)
    yield Wire(account, taken, reader, writer)
    writer.close()


def me(account: Account, extra: str = "", body: dict[str, Any] | None = None) -> bytes:
    payload = json.dumps(body or {"query": ME}).encode()
    return _post(payload, f"authorization: Bearer {account.token}\r\n{extra}")


async def test_a_known_post_is_answered_without_asgi_as_asgi_answers_it(wire: Wire) -> None:
    account, taken, reader, writer = wire
    writer.write(me(account, "x-request-id: client-id-0001\r\n"))
    status, headers, body = await _response(reader)
    assert (taken.direct, taken.asgi) == (1, 0)
    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(body) == {"data": {"me": {"username": "alice"}}}
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "client-id-0001"
    assert {"server", "date", "content-length"} <= set(headers)

    # The same request through ASGI (a query string keeps it there): the same answer.
    writer.write(me(account).replace(b"POST /graphql ", b"POST /graphql?via=asgi ", 1))
    asgi_status, asgi_headers, asgi_body = await _response(reader)
    assert (taken.direct, taken.asgi) == (1, 1)
    assert (asgi_status, asgi_body) == (status, body)
    assert set(asgi_headers) == set(headers)
    assert asgi_headers["x-request-id"] != headers["x-request-id"]  # a fresh one


async def test_pipelined_requests_are_answered_in_order_on_one_connection(wire: Wire) -> None:
    account, taken, reader, writer = wire
    health = b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-request-id: request-two\r\n\r\n"
    writer.write(
        me(account, "x-request-id: request-one\r\n")
        + health
        + me(account, "x-request-id: request-three\r\n")
        + b"POST /graphql HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"content-length: 5\r\nx-request-id: request-four\r\n\r\n[1,2]"  # not for the fast path
         + me(account, "x-request-id: request-five\r\n")
    )
    ids = []
    for _ in range(5):
        status, headers, _body = await _response(reader)
        ids.append((status.split(b" ")[1], headers["x-request-id"]))
    assert [i for _s, i in ids] == [
        "request-one",
        "request-two",
        "request-three",
        "request-four",
        "request-five",
    ]
    assert [s for s, _i in ids] == [b"200", b"200", b"200", b"400", b"200"]
    assert taken.direct >= 1  # the first; those that came in behind others wait as ASGI cycles


async def test_http_1_0_and_connection_close_end_the_connection(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await signed_in(server)
    taken = Taken(monkeypatch)
    for request in (
        me(account).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        me(account, "connection: close\r\n"),
    ):
        reader, writer = await _open(server)
        writer.write(request)
        _status, headers, body = await _response(reader)
        assert headers["connection"] == "close"
        assert json.loads(body)["data"]["me"]["username"] == "alice"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()
    assert (taken.direct, taken.asgi) == (2, 0)


async def test_a_body_that_does_not_qualify_goes_through_asgi_with_nothing_lost(
    server: Server, wire: Wire
) -> None:
    account, taken, reader, writer = wire
    unknown = {"query": "{ me { id } }"}  # valid, not yet known: the ordinary path knows it
    for body in (b"not json", json.dumps(unknown).encode(), json.dumps([{"query": ME}]).encode()):
        writer.write(_post(body, f"authorization: Bearer {account.token}\r\n"))
        status, _headers, answer = await _response(reader)
        async with httpx.AsyncClient() as http:
            expected = await http.post(
                server.url + "?via=asgi",  # never the fast path
                content=body,
                headers={
                    "authorization": f"Bearer {account.token}",
                    "content-type": "application/json",
                },
            )
        assert (int(status.split(b" ")[1]), json.loads(answer)) == (
            expected.status_code,
            expected.json(),
        )
    assert taken.direct == 0
    writer.write(me(account))  # the connection goes on
    assert json.loads((await _response(reader))[2])["data"]["me"]["username"] == "alice"
    assert taken.direct == 1


async def test_a_body_past_uvicorns_read_pause_is_read_whole(wire: Wire) -> None:
    """uvicorn stops reading a body past 64 KiB until the application asks for more."""
    account, taken, reader, writer = wire
    body = {"query": ME, "variables": {"pad": "x" * 200_000}}
    for _ in range(2):  # known from the second on
        writer.write(me(account, body=body))
        status, _headers, answer = await _response(reader)
        assert status == b"HTTP/1.1 200 OK"
        assert json.loads(answer)["data"]["me"]["username"] == "alice"
    assert taken.direct == 1


async def test_a_failure_answers_500_and_closes(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account = await signed_in(server)

    async def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(DirectPost, "answer", broken)
    reader, writer = await _open(server)
    with caplog.at_level(logging.ERROR, "chatql.fast_path.http_protocol"):
        writer.write(me(account))
        status, headers, body = await _response(reader)
    assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", b"Internal Server Error")
    assert headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert "could not answer a GraphQL request" in caplog.text and "a bug" in caplog.text
    assert "RuntimeError" not in body.decode()  # no trace to the client
    writer.close()


async def test_direct_answers_are_counted_and_logged(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account = await signed_in(server)
    metrics_url = server.url.replace("/graphql", "/metrics")
    pattern = re.compile(
        r'^chatql_http_requests_total\{method="POST",route="/graphql",status="200"\} (\S+)$', re.M
    )

    async def answered() -> float:
        async with httpx.AsyncClient() as http:
            match = pattern.search((await http.get(metrics_url)).text)
        return float(match.group(1)) if match else 0.0

    before = await answered()
    taken = Taken(monkeypatch)
    reader, writer = await _open(server)
    with caplog.at_level(logging.INFO, "chatql.access"):
        for _ in range(3):
            writer.write(me(account))
            await _response(reader)
    writer.close()
    assert taken.direct == 3
    assert await answered() == before + 3
    lines = [r for r in caplog.records if r.getMessage() == "POST /graphql 200"]
    assert len(lines) == 3 and all(getattr(r, "duration_ms", -1) >= 0 for r in lines)


@pytest.mark.parametrize(
    ("peer", "headers"),
    [
        ("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.7, 10.0.0.2")]),
        ("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]),
        ("127.0.0.1", [(b"x-forwarded-proto", b"gopher")]),
        ("127.0.0.1", [(b"x-forwarded-for", b"")]),
        ("198.51.100.9", [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]),
        ("127.0.0.1", []),
    ],
)
async def test_trusted_forwarding_does_what_uvicorns_middleware_does(
    peer: str, headers: list[tuple[bytes, bytes]]
) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        seen.append(dict(scope))

    proxied = ProxyHeadersMiddleware(app, trusted_hosts=["127.0.0.1", "10.0.0.2"])

    def scope() -> dict[str, Any]:
        return {"type": "http", "client": (peer, 5000), "scheme": "http", "headers": headers}

    await proxied(scope(), None, None)  # type: ignore[arg-type]
    ours = scope()
    trusted_forwarding(proxied, ours)
    assert ours == seen[0]
    untouched = scope()
    trusted_forwarding(app, untouched)  # no proxy configured: nothing changes
    assert untouched == scope()


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Token refreshes are limited per client address: the one the proxy forwarded."""
    limited = replace(settings, rate_limit_auth="2/60", trusted_proxies=("127.0.0.1",))
    async with running_server(
        limited, proxy_headers=True, forwarded_allow_ips=["127.0.0.1"]
    ) as server:
        taken = Taken(monkeypatch)
        reader, writer = await _open(server)
        refresh = 'mutation { refreshToken(refreshToken: "not-a-token") { accessToken } }'

        async def code(client: str) -> str:
            body = json.dumps({"query": refresh}).encode()
            writer.write(_post(body, f"x-forwarded-for: {client}\r\n"))
            answer = json.loads((await _response(reader))[2])
            return str(answer["errors"][0]["extensions"]["code"])

        assert await code("203.0.113.7") != "RATE_LIMITED"
        assert await code("203.0.113.7") != "RATE_LIMITED"
        assert await code("203.0.113.7") == "RATE_LIMITED"
        assert await code("198.51.100.1") != "RATE_LIMITED"  # another client
        assert taken.direct >= 3
        writer.close()


async def test_a_client_gone_mid_answer_is_not_written_to_and_its_receive_ends(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account = await signed_in(server)
    original = DirectPost.answer
    receives: list[Any] = []

    async def slow(post: DirectPost, scope: Any, receive: Any, *args: Any) -> Any:
        receives.append(asyncio.ensure_future(receive()))
        await asyncio.sleep(0.3)
        return await original(post, scope, receive, *args)

    monkeypatch.setattr(DirectPost, "answer", slow)
    taken = Taken(monkeypatch)
    _reader, writer = await _open(server)
    writer.write(me(account))
    await writer.drain()
    await until(lambda: receives)
    assert not receives[0].done()  # the request is in flight, the client still there
    writer.close()
    assert await asyncio.wait_for(receives[0], 5) == {"type": "http.disconnect"}
    await asyncio.sleep(0.4)  # the answer is ready now, with nobody to write it to
    reader, writer = await _open(server)
    writer.write(me(account))
    assert json.loads((await _response(reader))[2])["data"]["me"]["username"] == "alice"
    writer.close()
    assert taken.direct == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_protocol_keeps_no_state_of_its_own_per_connection(settings: Settings) -> None:
    """Every WebSocket starts as an HTTP connection whose protocol object lives until a
    garbage collection: an attribute more than uvicorn's takes each past its instance dict's
    shared keys (296 -> 1584 bytes, about 1 KB per idle subscription at 1000)."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from chatql.app import create_app

    class Transport(asyncio.Transport):
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return ("127.0.0.1", 5000) if name in ("peername", "sockname") else default

    config = uvicorn.Config(create_app(settings))
    config.load()
    protocols = []
    for kind in (HttpToolsProtocol, CoalescingHttpProtocol):
        protocol = kind(config, ServerState(), {})
        protocol.connection_made(Transport())
        protocol.data_received(b"POST /graphql HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n")
        protocols.append(protocol)
    plain, ours = protocols
    assert set(vars(ours)) == set(vars(plain))


async def test_answered_requests_leave_nothing_for_the_garbage_collector(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference cycle per request would pile up garbage (the request's scope, headers and
    body) between collections, and make each collection longer."""
    import gc

    from chatql.fast_path.http_protocol import DirectCycle

    account = await signed_in(server)
    taken = Taken(monkeypatch)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        reader, writer = await _open(server)
        for _ in range(3):
            writer.write(me(account))
            await _response(reader)
        writer.close()
        await asyncio.wait_for(reader.read(), 5)
        await asyncio.sleep(0.1)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, DirectCycle)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert taken.direct == 3
    assert left == []
