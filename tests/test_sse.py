"""GraphQL over Server-Sent Events (graphql-sse, distinct connections mode), end to end: a real
uvicorn, httpx streaming requests, the raw protocol, and the hardening every path keeps."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatql.config import Settings
from chatql.realtime.pubsub import room_channel
from chatql.services.pagination import message_cursor
from chatql.store.records import MessageRecord
from chatql.store.sqlite import SQLiteStore
from tests.helpers import (
    ON_MESSAGE,
    REGISTER,
    TRANSPORT_WS,
    Account,
    Client,
    Server,
    Socket,
    free_port,
    room_subscribed,
    running_server,
    until,
)
from tests.node_clients import run_client
from tests.test_limits import COST_LIMIT, LIMITS, assert_refused
from tests.test_process import start, wait_ready

ME = "{ me { id username } }"
SEND = "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id content seq cursor } }"
GET_STATUS = "query($u: ID!) { getUser(id: $u) { status } }"


def stream_url(server: Server) -> str:
    return server.url + "/stream"


def bearer(account: Account) -> dict[str, str]:
    return {"authorization": f"Bearer {account.token}"}


class EventStream:
    """One graphql-sse response, read by a background task: events in a queue, comments counted."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.comments = 0
        self.raw = ""
        self._events: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        event: str | None = None
        data: list[str] = []
        try:
            async for line in self.response.aiter_lines():
                self.raw += line + "\n"
                if not line:
                    if event is not None:
                        text = "\n".join(data)
                        self._events.put_nowait((event, json.loads(text) if text else None))
                    event, data = None, []
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
        except httpx.HTTPError:
            pass
        finally:
            self._events.put_nowait(None)  # the stream ended

    async def event(self, timeout: float = 5) -> tuple[str, Any] | None:
        """The next event as (name, data), or None once the server ended the response."""
        return await asyncio.wait_for(self._events.get(), timeout)

    async def payload(self, timeout: float = 5) -> dict[str, Any]:
        received = await self.event(timeout)
        assert received is not None and received[0] == "next", received
        return received[1]  # type: ignore[no-any-return]

    async def messages(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            payload = await self.payload(timeout)
            assert "errors" not in payload, payload
            out.append(payload["data"]["onMessageCreated"])
        return out

    async def error(self, timeout: float = 5) -> dict[str, Any]:
        """The one error of a `next` that ends the stream (then `complete`, then the end)."""
        payload = await self.payload(timeout)
        assert payload.get("errors") and not payload.get("data"), payload
        await self.completes()
        return payload["errors"][0]  # type: ignore[no-any-return]

    async def completes(self, timeout: float = 5) -> None:
        assert await self.event(timeout) == ("complete", None)
        assert await self.event(timeout) is None, "nothing follows `complete`"

    async def nothing_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            received = await self.event(seconds)
            raise AssertionError(f"unexpected {received}")

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient,
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    body = {"query": query, "variables": variables or {}}
    headers = {"accept": "text/event-stream", **(headers or {})}
    async with http.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        stream = EventStream(response)
        try:
            yield stream
        finally:
            await stream.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


# ------------------------------------------------------------- persisted documents


def persisted(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_persisted_queries_resolve_by_hash_over_sse(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice")
    headers = {"accept": "text/event-stream", **bearer(alice)}
    hash_only = {"extensions": persisted(ME)}
    missed = await http.post(stream_url(server), json=hash_only, headers=headers)
    assert missed.status_code == 400
    assert missed.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    wrong = {"query": ME, "extensions": persisted("{ __typename }")}
    refused = await http.post(stream_url(server), json=wrong, headers=headers)
    assert refused.status_code == 400, refused.text
    registered = await http.post(
        stream_url(server), json={"query": ME, "extensions": persisted(ME)}, headers=headers
    )
    assert '"username":"alice"' in registered.text
    async with http.stream("POST", stream_url(server), json=hash_only, headers=headers) as hit:
        assert hit.status_code == 200
        stream = EventStream(hit)
        assert (await stream.payload())["data"]["me"]["username"] == "alice"
        await stream.completes()
        await stream.close()


async def test_trusted_documents_refuse_anything_else_over_sse(
    settings: Settings, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    manifest = tmp_path / "persisted-documents.json"
    listed = {hashlib.sha256(d.encode()).hexdigest(): d for d in (ME, REGISTER)}
    manifest.write_text(json.dumps(listed))
    async with running_server(replace(settings, trusted_documents=str(manifest))) as server:
        client = Client(server)
        alice = await client.register("alice")
        headers = {"accept": "text/event-stream", **bearer(alice)}
        for body in ({"query": ME}, {"extensions": persisted(ME)}):
            async with http.stream("POST", stream_url(server), json=body, headers=headers) as ok:
                assert ok.status_code == 200
                stream = EventStream(ok)
                assert (await stream.payload())["data"]["me"]["id"] == alice.id
                await stream.close()
        for body in (
            {"query": ON_MESSAGE, "variables": {"room": "r"}},
            {"query": "{ __typename }"},
        ):
            refused = await http.post(stream_url(server), json=body, headers=headers)
            assert refused.status_code == 400
            code = refused.json()["errors"][0]["extensions"]["code"]
            assert code == "PERSISTED_QUERY_NOT_IN_LIST"
        await client.close()


# ------------------------------------------------------------------- the protocol


async def test_a_query_and_a_mutation_answer_one_next_then_complete(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    async with open_stream(http, stream_url(server), ME, headers=bearer(alice)) as stream:
        assert await stream.payload() == {"data": {"me": {"id": alice.id, "username": "alice"}}}
        await stream.completes()
    variables = {"i": {"chatRoomId": room, "content": "over SSE"}}
    async with open_stream(http, stream_url(server), SEND, variables, bearer(alice)) as stream:
        sent = (await stream.payload())["data"]["createMessage"]
        await stream.completes()
    assert sent["content"] == "over SSE"
    assert [m["content"] for m in await client.history(alice, room)] == ["over SSE"]


@pytest.mark.parametrize("path", ["/graphql/stream", "/graphql"])
async def test_a_subscription_streams_messages_until_the_client_leaves(
    server: Server, client: Client, http: httpx.AsyncClient, path: str
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, members=[bob.id])
    url = server.url.replace("/graphql", path)
    async with open_stream(http, url, ON_MESSAGE, {"r": room}, bearer(bob)) as stream:
        await room_subscribed(server, room)
        first = await client.send(alice, room, "one")
        second = await client.send(bob, room, "two")
        received = await stream.messages(2)
        assert [(m["id"], m["content"]) for m in received] == [
            (first["id"], "one"),
            (second["id"], "two"),
        ]
        assert received[0]["author"] == {"id": alice.id, "username": "alice"}
    await until(lambda: server.app.state.services.hub.subscriber_count(room_channel(room)) == 0)


async def test_graphql_answers_event_streams_even_for_documents_it_answers_directly(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    """A known plain POST to /graphql is answered before routing (DirectPost); one that accepts
    text/event-stream must still get the event stream."""
    alice = await client.register("alice")
    assert (await client.data(ME, token=alice.token))["me"]["id"] == alice.id  # now known
    async with open_stream(http, server.url, ME, headers=bearer(alice)) as stream:
        assert (await stream.payload())["data"]["me"]["id"] == alice.id
        await stream.completes()


async def test_get_runs_queries_and_subscriptions_but_never_mutations(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    headers = {**bearer(alice), "accept": "text/event-stream"}
    answer = await http.get(stream_url(server), params={"query": ME}, headers=headers)
    assert answer.status_code == 200
    assert answer.text.startswith("event: next\ndata: ")
    assert answer.text.endswith("event: complete\ndata:\n\n")
    params = {"query": ON_MESSAGE, "variables": json.dumps({"r": room})}
    async with http.stream("GET", stream_url(server), params=params, headers=headers) as response:
        stream = EventStream(response)
        await room_subscribed(server, room)
        sent = await client.send(alice, room, "via GET")
        assert (await stream.messages(1))[0]["id"] == sent["id"]
        await stream.close()
    mutation = {"query": SEND, "variables": json.dumps({"i": {"chatRoomId": room, "content": "x"}})}
    refused = await http.get(stream_url(server), params=mutation, headers=headers)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert [m["content"] for m in await client.history(alice, room)] == ["via GET"]


async def test_resume_with_after_replays_exactly_the_missed_messages_then_goes_live(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, members=[bob.id])
    url = stream_url(server)
    async with open_stream(http, url, ON_MESSAGE, {"r": room}, bearer(bob)) as stream:
        await room_subscribed(server, room)
        for text in ("m1", "m2"):
            await client.send(alice, room, text)
        seen = await stream.messages(2)
    await until(lambda: server.app.state.services.hub.subscriber_count(room_channel(room)) == 0)
    for text in ("m3", "m4", "m5"):  # sent while bob is away
        await client.send(alice, room, text)
    variables = {"r": room, "a": seen[-1]["cursor"]}
    async with open_stream(http, url, ON_MESSAGE, variables, bearer(bob)) as stream:
        missed = await stream.messages(3)
        assert [m["content"] for m in missed] == ["m3", "m4", "m5"]
        assert [m["seq"] for m in missed] == [3, 4, 5]
        await room_subscribed(server, room)
        await client.send(alice, room, "m6")
        await client.send(alice, room, "m7")
        assert [m["content"] for m in await stream.messages(2)] == ["m6", "m7"]
        await stream.nothing_within(0.3)  # no duplicate of anything replayed


# ------------------------------------------------------------------- authentication


async def test_requests_without_a_valid_token_are_refused_before_any_stream(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    body = {"query": ON_MESSAGE, "variables": {"r": room}}
    for headers in ({}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic x y"}):
        answer = await http.post(
            stream_url(server), json=body, headers={"accept": "text/event-stream", **headers}
        )
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert server.app.state.services.hub.subscriber_count(room_channel(room)) == 0
    # AppSync-style clients send the token bare: accepted as over /graphql
    async with open_stream(
        http, stream_url(server), ME, headers={"authorization": alice.token}
    ) as s:
        assert (await s.payload())["data"]["me"]["id"] == alice.id


async def test_logging_out_everywhere_ends_the_stream(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    async with open_stream(http, stream_url(server), ON_MESSAGE, {"r": room}, bearer(alice)) as s:
        await room_subscribed(server, room)
        await client.data(
            "mutation($t: String!) { logout(refreshToken: $t, allDevices: true) }",
            {"t": alice.refresh_token},
        )
        error = await s.error()
    assert error == {"message": "Session revoked", "extensions": {"code": "UNAUTHENTICATED"}}
    await until(lambda: server.app.state.services.hub.subscriber_count(room_channel(room)) == 0)
    refused = await http.post(
        stream_url(server),
        json={"query": ME},
        headers=bearer(alice) | {"accept": "text/event-stream"},
    )
    assert refused.status_code == 401


async def test_changing_the_password_ends_the_other_streams(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice", password="old password 1")
    room = await client.create_room(alice)
    async with open_stream(http, stream_url(server), ON_MESSAGE, {"r": room}, bearer(alice)) as s:
        await room_subscribed(server, room)
        await client.data(
            'mutation { changePassword(oldPassword: "old password 1", '
            'newPassword: "new password 2") { accessToken } }',
            token=alice.token,
        )
        assert (await s.error())["extensions"]["code"] == "UNAUTHENTICATED"


# ------------------------------------------------------------------- authorisation


async def test_a_non_member_cannot_subscribe_to_a_private_room(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice, eve = await client.register("alice"), await client.register("eve")
    private = await client.create_room(alice, "secret", private=True)
    async with open_stream(http, stream_url(server), ON_MESSAGE, {"r": private}, bearer(eve)) as s:
        error = await s.error()
    assert error["extensions"]["code"] == "NOT_FOUND", error
    await client.send(alice, private, "for members only")
    assert server.app.state.services.hub.subscriber_count(room_channel(private)) == 0


async def test_a_member_who_leaves_stops_receiving(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, "private", private=True, members=[bob.id])
    async with open_stream(http, stream_url(server), ON_MESSAGE, {"r": room}, bearer(bob)) as s:
        await room_subscribed(server, room)
        await client.send(alice, room, "before")
        assert [m["content"] for m in await s.messages(1)] == ["before"]
        await client.data(
            "mutation($r: ID!) { leaveRoom(roomId: $r) }", {"r": room}, token=bob.token
        )
        await client.send(alice, room, "after bob left")
        error = await s.error()
        assert error["extensions"]["code"] == "FORBIDDEN", error
        assert "after bob left" not in s.raw


async def test_subscriptions_still_need_a_stream_or_a_socket(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    """Marking SSE contexts live must not open subscriptions to other HTTP requests."""
    alice = await client.register("alice")
    room = await client.create_room(alice)
    body = {"query": ON_MESSAGE, "variables": {"r": room}}
    for accept in ("application/json", "multipart/mixed"):
        answer = await http.post(server.url, json=body, headers={**bearer(alice), "accept": accept})
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# ------------------------------------------------------------------- limits


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Server]:
    async with running_server(replace(settings, max_query_cost=COST_LIMIT)) as running:
        yield running


@pytest.mark.parametrize("transport", ["http", "ws"])  # a query, a subscription
@pytest.mark.parametrize("kind", list(LIMITS))
async def test_static_limits_refuse_in_the_stream(
    limited: Server, http: httpx.AsyncClient, kind: str, transport: str
) -> None:
    client = Client(limited)
    alice = await client.register("alice")
    room = await client.create_room(alice)
    first = await client.send(alice, room, "first")
    code, build, limit = LIMITS[kind]
    url = stream_url(limited)
    field = "getMessage" if transport == "http" else "onMessageCreated"
    # resumed from before the first message, the subscription at the limit replays it
    variables = {"m": first["id"]} if transport == "http" else {"r": room, "a": resume_all(room)}
    async with open_stream(http, url, build(transport, limit + 1), variables, bearer(alice)) as s:
        error = await s.error()
    assert_refused(error, code, limit)
    async with open_stream(http, url, build(transport, limit), variables, bearer(alice)) as s:
        payload = await s.payload()
        assert "errors" not in payload and payload["data"][field]["id"] == first["id"], payload
    await client.close()


def resume_all(room: str) -> str:
    """The cursor before a room's first message."""
    return message_cursor(room, 0)


async def test_a_body_over_the_size_limit_is_refused(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    async with running_server(replace(settings, max_body_bytes=1024)) as server:
        client = Client(server)
        alice = await client.register("alice")
        body = json.dumps({"query": "{ me { id } }" + " " * 2000}).encode()
        headers = {
            **bearer(alice),
            "accept": "text/event-stream",
            "content-type": "application/json",
        }
        declared = await http.post(stream_url(server), content=body, headers=headers)

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield body

        streamed = await http.post(stream_url(server), content=chunked(), headers=headers)
        assert "content-length" not in streamed.request.headers
        for answer in (declared, streamed):
            assert answer.status_code == 413, answer.text
            assert answer.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        await client.close()


async def test_subscription_streams_count_against_the_per_user_connection_limit(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    async with running_server(replace(settings, max_connections_per_user=1)) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        url = stream_url(server)
        body = {"query": ON_MESSAGE, "variables": {"r": room}}
        headers = {**bearer(alice), "accept": "text/event-stream"}
        async with open_stream(http, url, ON_MESSAGE, {"r": room}, bearer(alice)) as first:
            await room_subscribed(server, room)
            second = await http.post(url, json=body, headers=headers)
            assert second.status_code == 429, second.text
            error = second.json()["errors"][0]
            assert error["extensions"] == {"code": "TOO_MANY_CONNECTIONS", "limit": 1}
            sock = await Socket.connect(server, TRANSPORT_WS, alice.token)  # one limit for both
            with contextlib.suppress(Exception):
                await sock.recv()
            assert sock.ws.close_code == 4429
            async with open_stream(http, url, ME, headers=bearer(alice)) as query:  # not counted
                assert (await query.payload())["data"]["me"]["id"] == alice.id
            await first.nothing_within(0.1)
        # the stream has ended: once the server has seen it go (its slot is released before
        # presence hears of it), its place is free again
        services = server.app.state.services
        await until(lambda: _no_connections(services, alice.id))
        async with open_stream(http, url, ON_MESSAGE, {"r": room}, bearer(alice)) as again:
            await room_subscribed(server, room)
            await client.send(alice, room, "counted once")
            assert [m["content"] for m in await again.messages(1)] == ["counted once"]
        await client.close()


# ------------------------------------------------------------------- production


class FailingHistoryStore(SQLiteStore):
    """A real store whose message history fails like a broken disk would."""

    async def list_messages(self, *args: Any, **kwargs: Any) -> list[MessageRecord]:
        raise RuntimeError("disk failure at /var/lib/chatql/secret.db")


async def test_production_refuses_introspection_and_masks_unexpected_errors(
    settings: Settings, tmp_path: Any, http: httpx.AsyncClient
) -> None:
    production = replace(settings, env="production", jwt_secret="k" * 40)
    store = FailingHistoryStore(f"sqlite:///{tmp_path}/failing.db")
    async with running_server(production, store=store) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        await client.send(alice, room, "hello")
        url = stream_url(server)
        introspection = "{ __schema { types { name } } }"
        async with open_stream(http, url, introspection, headers=bearer(alice)) as s:
            error = await s.error()
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        assert "__schema" in error["message"], error
        typo = "{ me { usernam } }"
        async with open_stream(http, url, typo, headers=bearer(alice)) as s:
            assert "Did you mean" not in (await s.error())["message"]
        resumed = {"r": room, "a": resume_all(room)}
        async with open_stream(http, url, ON_MESSAGE, resumed, bearer(alice)) as s:
            error = await s.error()
            assert "secret.db" not in s.raw and "Traceback" not in s.raw
        assert error["message"] == "Internal server error"
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["extensions"]["requestId"]
        history = "query($r: ID!) { messagesByRoom(chatRoomId: $r) { items { id } } }"
        async with open_stream(http, url, history, {"r": room}, bearer(alice)) as s:
            payload = await s.payload()
            await s.completes()
        assert payload["errors"][0]["message"] == "Internal server error", payload
        assert "secret.db" not in s.raw
        # GET is off in production, as on /graphql
        get = await http.get(url, params={"query": ME}, headers=bearer(alice))
        assert get.status_code == 405 and get.json()["errors"][0]["extensions"]["code"]
        await client.close()


# ------------------------------------------------------------------- malformed input


async def test_malformed_requests_get_a_clear_error_and_the_server_carries_on(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice = await client.register("alice")
    url = stream_url(server)
    headers = {**bearer(alice), "accept": "text/event-stream", "content-type": "application/json"}
    nested = b"[" * 5000 + b"]" * 5000
    bodies: list[tuple[bytes, int]] = [
        (b"not json", 400),
        (b"\xff\xfe{}", 400),
        (nested, 400),
        (b"[1, 2]", 400),
        (b"{}", 400),
        (b'{"query": 5}', 400),
        (b'{"query": "   "}', 400),
        (b'{"query": "{ me { id } }", "variables": [1]}', 400),
        (b'{"query": "{ me { id } }", "operationName": 7}', 400),
        (b'{"query": "{ me { id } }", "extensions": "x"}', 400),
    ]
    for body, status in bodies:
        answer = await http.post(url, content=body, headers=headers)
        assert answer.status_code == status, (body[:40], answer.text)
        error = answer.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST" and error["message"], error
    text = await http.post(
        url, content=b"{ me { id } }", headers={**headers, "content-type": "text/plain"}
    )
    assert text.status_code == 415 and text.json()["errors"][0]["extensions"]["code"]
    for method in ("PUT", "DELETE", "PATCH"):
        answer = await http.request(method, url, headers=headers)
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, POST", answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    bad_variables = await http.get(url, params={"query": ME, "variables": "{"}, headers=headers)
    assert bad_variables.status_code == 400
    # a document the schema refuses is reported in the stream, as the protocol asks
    for document, code in (
        ("{ me { id ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int!) { me { id } }", "BAD_USER_INPUT"),  # a variable is missing
    ):
        async with open_stream(http, url, document, headers=bearer(alice)) as s:
            assert (await s.error())["extensions"]["code"] == code, document
    async with open_stream(http, url, ME, {"unused": 1}, bearer(alice)) as s:
        assert (await s.payload())["data"]["me"]["id"] == alice.id


# ------------------------------------------------------------------- the connection


async def test_leaving_ends_the_subscription_presence_and_the_count(
    server: Server, client: Client, http: httpx.AsyncClient
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, members=[bob.id])
    services = server.app.state.services

    async def bob_status() -> str:
        data = await client.data(GET_STATUS, {"u": bob.id}, alice.token)
        return str(data["getUser"]["status"])

    assert await bob_status() == "OFFLINE"
    async with open_stream(http, stream_url(server), ON_MESSAGE, {"r": room}, bearer(bob)):
        await room_subscribed(server, room)
        assert await services.store.count_connections(bob.id) == 1
        assert await bob_status() == "ONLINE"
    await until(lambda: services.hub.subscriber_count(room_channel(room)) == 0)
    await until(lambda: _no_connections(services, bob.id))
    await until(lambda: _is(bob_status, "OFFLINE"))


async def _no_connections(services: Any, user_id: str) -> bool:
    return int(await services.store.count_connections(user_id)) == 0


async def _is(read: Callable[[], Any], expected: str) -> bool:
    return bool(await read() == expected)


async def test_idle_streams_get_keep_alive_comments(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    async with running_server(replace(settings, sse_keepalive_interval=0.1)) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        async with open_stream(
            http, stream_url(server), ON_MESSAGE, {"r": room}, bearer(alice)
        ) as s:
            await asyncio.sleep(0.55)
            assert s.comments >= 4, s.raw
            await s.nothing_within(0.05)  # comments are not events
        await client.close()


async def test_cors_is_honoured_when_origins_are_set(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    origin = "https://chat.example"
    async with running_server(replace(settings, allowed_origins=(origin,))) as server:
        client = Client(server)
        alice = await client.register("alice")
        url = stream_url(server)
        preflight = {
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        }
        allowed = await http.options(url, headers={"origin": origin, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == origin
        other = await http.options(url, headers={"origin": "https://evil.example", **preflight})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        async with open_stream(http, url, ME, headers={**bearer(alice), "origin": origin}) as s:
            assert s.response.headers["access-control-allow-origin"] == origin
            assert (await s.payload())["data"]["me"]["id"] == alice.id
        await client.close()


# ------------------------------------------------------------------- the graphql-sse client


async def test_the_graphql_sse_client_queries_mutates_subscribes_and_resumes(
    server: Server, client: Client
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, members=[bob.id])
    env = {
        "CHATQL_SSE_URL": stream_url(server),
        "ALICE_TOKEN": alice.token,
        "BOB_TOKEN": bob.token,
        "ROOM_ID": room,
    }
    result = await run_client("sse.mjs", "graphql-sse", env)
    assert result["me"] == [{"data": {"me": {"username": "bob"}}}]
    assert result["received"]["id"] == result["sent"]["id"]
    assert result["received"]["author"] == {"username": "alice"}
    assert result["replayed"] == ["missed 1", "missed 2"]
    assert result["afterResume"] == "live 2"
    assert result["unauthenticated"] == {"name": "NetworkError", "status": 401}
    stored = [m["content"] for m in await client.history(alice, room)]
    assert stored == ["live 1", "missed 1", "missed 2", "live 2"]
    services = server.app.state.services  # the client's streams have all ended
    await until(lambda: services.hub.subscriber_count(room_channel(room)) == 0)
    await until(lambda: _no_connections(services, bob.id))


async def test_stopping_the_server_ends_streams_at_once_without_complete(
    tmp_path: Any, http: httpx.AsyncClient
) -> None:
    """`chatql serve` ends SSE streams when it stops (uvicorn would wait its 10 s graceful
    timeout for them): no `complete`, so graphql-sse clients reconnect and resume."""
    port = free_port()
    process = start(tmp_path / "chat.db", port, CHATQL_WEB_APP="false")
    try:
        await asyncio.to_thread(wait_ready, port, process)
        server = Server(url=f"http://127.0.0.1:{port}/graphql", settings=None)  # type: ignore[arg-type]
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        async with open_stream(
            http, stream_url(server), ON_MESSAGE, {"r": room}, bearer(alice)
        ) as s:
            await asyncio.sleep(0.3)  # the server opens the room feed
            await client.send(alice, room, "before the stop")
            assert [m["content"] for m in await s.messages(1)] == ["before the stop"]
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert await s.event(timeout=5) is None, s.raw  # ended, and not `complete`
            assert time.monotonic() - started < 5
        await client.close()
        assert await asyncio.to_thread(process.wait, 10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
