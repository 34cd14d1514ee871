"""AWS AppSync compatibility: the real-time protocol on /graphql/realtime and API keys.

The real `aws-amplify` v6 client runs against ChatQL (behind TLS, since Amplify only speaks
wss://); raw WebSockets check the protocol's frames and that every protection of the other
transports holds here too: authentication per connection and per start, limits, production
masking, per-event authorisation, subscription/connection/size limits, malformed input.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chatql.app import create_app
from chatql.appsync.handshake import MAX_ENCODED_HEADER, BadHeader, decode_header
from chatql.config import Settings
from chatql.config_values import ConfigError
from tests.helpers import REGISTER, Account, Client, Server, running_server
from tests.node_clients import require_clients, run_client
from tests.test_direct_http import Paths
from tests.test_limits import COST_LIMIT, LIMITS, assert_refused

API_KEY = "relay-bot-key-0123456789abcdef"
OTHER_KEY = "someone-elses-key-0123456789"
ON_MESSAGE = (
    "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { id content author { username } } }"
)
ME = "{ me { id username } }"
TYPO = "subscription { onMessageCreatd(chatRoomId: 1) { id } }"
ON_TYPING = "subscription($r: ID!) { onTypingStarted(chatRoomId: $r) { chatRoomId } }"


# ---------------------------------------------------------------- a raw AppSync client


def header_protocol(header: dict[str, Any]) -> str:
    """Amplify v6's form: base64url JSON, no padding, in a subprotocol."""
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")
    return f"header-{encoded}"


def header_query(header: dict[str, Any]) -> str:
    """AppSync's documented form: base64 JSON in `header`, and `payload` base64 of `{}`."""
    encoded = base64.b64encode(json.dumps(header).encode()).decode()
    return f"?header={quote(encoded)}&payload=e30="


class Realtime:
    """A raw WebSocket speaking AppSync's real-time protocol."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.kas = 0

    @classmethod
    async def connect(
        cls, server: Server, header: dict[str, Any] | None, *, via: str = "protocol"
    ) -> Realtime:
        url = server.ws_url + "/realtime"
        protocols = ["graphql-ws"]
        if header is not None and via == "protocol":
            protocols.append(header_protocol(header))
        elif header is not None:
            url += header_query(header)
        return cls(await websockets.connect(url, subprotocols=protocols))  # type: ignore[arg-type]

    @classmethod
    async def ready(cls, server: Server, header: dict[str, Any]) -> Realtime:
        sock = await cls.connect(server, header)
        await sock.send({"type": "connection_init"})
        assert (await sock.recv())["type"] == "connection_ack"
        return sock

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        """The next frame that is not a `ka` (those are counted), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), max(0, deadline - time.monotonic()))
            assert isinstance(raw, str), "frames must be text"
            frame: dict[str, Any] = json.loads(raw)
            if frame.get("type") != "ka":
                return frame
            self.kas += 1

    async def start(
        self,
        op_id: str,
        query: str,
        variables: dict[str, Any] | None,
        authorization: dict[str, Any] | None,
    ) -> None:
        payload: dict[str, Any] = {"data": json.dumps({"query": query, "variables": variables})}
        if authorization is not None:
            payload["extensions"] = {"authorization": authorization}
        await self.send({"id": op_id, "type": "start", "payload": payload})

    async def subscribed(
        self, op_id: str, room: str, authorization: dict[str, Any], query: str = ON_MESSAGE
    ) -> None:
        await self.start(op_id, query, {"r": room}, authorization)
        assert await self.recv() == {"type": "start_ack", "id": op_id}

    async def error(self, op_id: str | None = None) -> dict[str, Any]:
        """The first error of the next frame, which must be an `error` (for `op_id`)."""
        frame = await self.recv()
        assert frame["type"] == "error", frame
        assert frame.get("id") == op_id, frame
        assert set(frame["payload"]) == {"errors"}, frame
        return frame["payload"]["errors"][0]  # type: ignore[no-any-return]

    async def data(self, op_id: str) -> dict[str, Any]:
        frame = await self.recv()
        assert frame["type"] == "data" and frame["id"] == op_id, frame
        assert "errors" not in frame["payload"], frame
        return frame["payload"]["data"]  # type: ignore[no-any-return]

    async def nothing_within(self, seconds: float) -> None:
        try:
            frame = await self.recv(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    async def closed_with(self) -> int | None:
        """Read until the server closes the socket; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}", "host": "chat.example.com"}


def bare(account: Account) -> dict[str, str]:
    """What Amplify sends in lambda mode: the token without "Bearer"."""
    return {"Authorization": account.token, "host": "chat.example.com"}


def api_key(key: str = API_KEY) -> dict[str, str]:
    """What Amplify sends in API-key mode."""
    return {"x-api-key": key, "x-amz-date": "20250101T000000Z", "host": "chat.example.com"}


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    """API keys on (one for relay_bot, one for an account nobody registered) and a fast `ka`."""
    return replace(
        settings,
        api_keys=f"relay_bot={API_KEY}, ghost={OTHER_KEY}",
        appsync_keepalive_interval=0.3,
    )


@pytest.fixture
async def server(keyed: Settings) -> AsyncIterator[Server]:
    async with running_server(keyed) as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    client = Client(server)
    yield client
    await client.close()


# ---------------------------------------------------------------- the real aws-amplify v6


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatql test")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_amplify_v6_queries_mutates_and_subscribes_in_lambda_and_api_key_modes(
    keyed: Settings, tmp_path: Path
) -> None:
    require_clients("aws-amplify")
    cert, key = self_signed_certificate(tmp_path)
    async with running_server(keyed, ssl_certfile=str(cert), ssl_keyfile=str(key)) as running:
        endpoint = running.url.replace("http://", "https://")
        client = Client(
            Server(endpoint, keyed),
            http=httpx.AsyncClient(verify=ssl.create_default_context(cafile=cert), timeout=20),
        )
        alice = await client.register("alice")
        bot = await client.register("relay_bot")
        room = await client.create_room(alice, "alice's")
        bot_room = await client.create_room(bot, "the bot's")
        seen = await run_client(
            "amplify.mjs",
            "aws-amplify",
            {
                "CHATQL_ENDPOINT": endpoint,
                "CHATQL_TOKEN": alice.token,
                "CHATQL_ROOM": room,
                "CHATQL_API_KEY": API_KEY,
                "CHATQL_BOT_ROOM": bot_room,
                "NODE_EXTRA_CA_CERTS": str(cert),
            },
            timeout=90,
        )
        await client.close()
    for mode, account, text in (
        ("lambda", alice, "hello from amplify (lambda)"),
        ("apiKey", bot, "hello from amplify (api key)"),
    ):
        run = seen[mode]
        assert run["errors"] == [], run
        assert run["me"] == {"id": account.id, "username": account.username}, run
        assert run["sent"]["content"] == text and run["sent"]["author"]["username"] == (
            account.username
        )
        received = {"id": run["sent"]["id"], "content": text, "author": run["sent"]["author"]}
        assert run["received"] == [received], run
    assert seen["refused"] == [{"message": "Invalid API key", "code": "UNAUTHENTICATED"}]


# ---------------------------------------------------------------- the protocol


async def test_a_subscription_from_handshake_to_complete(server: Server, client: Client) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    sock = await Realtime.connect(server, bare(alice))
    assert sock.ws.subprotocol == "graphql-ws"  # never the header-... one
    await sock.send({"type": "connection_init"})
    assert await sock.recv() == {"type": "connection_ack", "payload": {"connectionTimeoutMs": 1500}}
    assert sock.kas == 0
    await sock.subscribed("sub-1", room, bare(alice))
    assert sock.kas == 1  # one right after the ack
    for text in ("one", "two"):  # sent the moment start_ack arrived: nothing is missed
        sent = await client.send(alice, room, text)
        data = await sock.data("sub-1")
        assert data == {
            "onMessageCreated": {"id": sent["id"], "content": text, "author": {"username": "alice"}}
        }
    await asyncio.sleep(0.7)
    await sock.send({"type": "stop", "id": "sub-1"})
    assert await sock.recv() == {"type": "complete", "id": "sub-1"}
    assert sock.kas >= 2  # and then every 0.3 s
    await client.send(alice, room, "after stop")
    await sock.nothing_within(0.5)
    await sock.close()


async def test_start_ack_comes_only_when_no_event_can_be_missed(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    rooms = [await client.create_room(alice, f"r{i}") for i in range(5)]
    sock = await Realtime.ready(server, bearer(alice))
    for i, room in enumerate(rooms):
        await sock.subscribed(f"s{i}", room, bearer(alice))
        await client.send(alice, room, f"right after start_ack {i}")
        assert (await sock.data(f"s{i}"))["onMessageCreated"]["content"].endswith(str(i))
    await sock.close()


@pytest.mark.parametrize("via", ["protocol", "query"])
@pytest.mark.parametrize("style", ["bearer", "bare", "api_key"])
async def test_both_header_forms_and_every_credential_authenticate(
    server: Server, client: Client, via: str, style: str
) -> None:
    bot = await client.register("relay_bot")
    room = await client.create_room(bot)
    header = {"bearer": bearer(bot), "bare": bare(bot), "api_key": api_key()}[style]
    sock = await Realtime.connect(server, header, via=via)
    await sock.send({"type": "connection_init"})
    assert (await sock.recv())["type"] == "connection_ack"
    await sock.subscribed("1", room, header)
    sent = await client.send(bot, room, "hi")
    assert (await sock.data("1"))["onMessageCreated"]["id"] == sent["id"]
    await sock.close()


async def test_connection_init_is_optional(server: Server, client: Client) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    sock = await Realtime.connect(server, bare(alice))
    await sock.subscribed("1", room, bare(alice))
    assert sock.kas == 1  # keep-alives run all the same
    await client.send(alice, room, "hi")
    assert (await sock.data("1"))["onMessageCreated"]["content"] == "hi"
    await sock.send({"type": "connection_init"})  # late, or repeated: acknowledged again
    assert (await sock.recv())["type"] == "connection_ack"
    await sock.close()


@pytest.mark.parametrize(
    ("header", "error_type", "error_code", "close_code"),
    [
        (None, "UnauthorizedException", 401, 4403),
        ({"host": "x"}, "UnauthorizedException", 401, 4403),
        ({"Authorization": "not-a-jwt"}, "UnauthorizedException", 401, 4403),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "UnauthorizedException", 401, 4403),
        (api_key("x" * 32), "UnauthorizedException", 401, 4403),
        (api_key(OTHER_KEY), "UnauthorizedException", 401, 4403),  # its account does not exist
        ("header-not.base64", "BadRequestException", 400, 4400),
        ("header-WzEsMl0", "BadRequestException", 400, 4400),  # base64 of [1,2]: no object
        ("?header=%21%21not%20base64", "BadRequestException", 400, 4400),
    ],
)
async def test_a_connection_without_valid_credentials_gets_connection_error_and_is_closed(
    server: Server, header: Any, error_type: str, error_code: int, close_code: int
) -> None:
    if isinstance(header, str):  # as sent, undecodable
        query, protocols = (
            (header, ["graphql-ws"]) if header[0] == "?" else ("", ["graphql-ws", header])
        )
        ws = await websockets.connect(
            server.ws_url + "/realtime" + query,
            subprotocols=protocols,  # type: ignore[arg-type]
        )
        sock = Realtime(ws)
    else:
        sock = await Realtime.connect(server, header)
    await sock.send({"type": "connection_init"})
    frame = await sock.recv()
    assert frame["type"] == "connection_error", frame
    [error] = frame["payload"]["errors"]
    assert (error["errorType"], error["errorCode"]) == (error_type, error_code), error
    assert error["message"]
    assert await sock.closed_with() == close_code


async def test_a_handshake_without_the_graphql_ws_subprotocol_is_refused(server: Server) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(server.ws_url + "/realtime", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient() as http:  # and plain HTTP is told to upgrade
        response = await http.get(server.url + "/realtime")
    assert response.status_code == 426
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_every_start_authorises_itself_as_the_connections_user(
    server: Server, client: Client
) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    room = await client.create_room(alice, members=[bob.id])
    sock = await Realtime.ready(server, bare(alice))
    await sock.start("none", ON_MESSAGE, {"r": room}, None)
    error = await sock.error("none")
    assert error["errorType"] == "UnauthorizedException" and error["errorCode"] == 401
    await sock.start("empty", ON_MESSAGE, {"r": room}, {"host": "x"})
    assert (await sock.error("empty"))["errorType"] == "UnauthorizedException"
    await sock.start("forged", ON_MESSAGE, {"r": room}, {"Authorization": "e30.e30.e30"})
    assert (await sock.error("forged"))["message"] == "Invalid access token"
    await sock.start("bob", ON_MESSAGE, {"r": room}, bare(bob))  # a member, but not this socket
    error = await sock.error("bob")
    assert error["errorType"] == "UnauthorizedException"
    assert error["message"] == "The start's authorization is not the connection's user"
    await sock.subscribed("alice", room, bearer(alice))  # the socket is still fine
    await client.send(bob, room, "hi")
    assert (await sock.data("alice"))["onMessageCreated"]["content"] == "hi"
    await sock.close()


@pytest.mark.parametrize(
    ("document", "kind"),
    [(ME, "query"), ('mutation { joinRoom(roomId: "x") { id } }', "mutation")],
)
async def test_queries_and_mutations_are_not_carried_by_the_realtime_channel(
    server: Server, client: Client, document: str, kind: str
) -> None:
    alice = await client.register("alice")
    sock = await Realtime.ready(server, bare(alice))
    await sock.start("1", document, None, bare(alice))
    assert await sock.error("1") == {
        "errorType": "UnsupportedOperation",
        "message": f"{kind} not supported through the realtime channel",
    }
    await sock.close()


async def test_graphql_errors_keep_their_code_as_error_type(server: Server, client: Client) -> None:
    alice = await client.register("alice")
    sock = await Realtime.ready(server, bare(alice))
    await sock.start(
        "1", "subscription { onMessageCreated(chatRoomId: 1 2) { id } }", {}, bare(alice)
    )
    error = await sock.error("1")
    assert error["errorType"] == error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED", error
    await sock.start("2", TYPO, {}, bare(alice))
    error = await sock.error("2")
    assert error["errorType"] == "GRAPHQL_VALIDATION_FAILED" and "Did you mean" in error["message"]
    await sock.start("3", ON_MESSAGE, {"r": 5}, bare(alice))
    assert (await sock.error("3"))["errorType"] == "BAD_USER_INPUT"
    await sock.close()


async def test_persisted_documents_apply_to_every_start(keyed: Settings, tmp_path: Path) -> None:
    """A start may name its document by hash (APQ); with trusted documents, nothing else runs."""

    def persisted(query: str | None, document: str) -> dict[str, Any]:
        digest = hashlib.sha256(document.encode()).hexdigest()
        request: dict[str, Any] = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        }
        if query is not None:
            request["query"] = query
        return request

    async def start(sock: Realtime, op_id: str, request: dict[str, Any], auth: Any) -> None:
        payload = {"data": json.dumps(request), "extensions": {"authorization": auth}}
        await sock.send({"id": op_id, "type": "start", "payload": payload})

    async with running_server(keyed) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        sock = await Realtime.ready(server, bare(alice))
        await start(
            sock, "1", persisted(None, ON_MESSAGE) | {"variables": {"r": room}}, bare(alice)
        )
        assert (await sock.error("1"))["errorType"] == "PERSISTED_QUERY_NOT_FOUND"
        await start(
            sock, "2", persisted(ON_MESSAGE, ON_MESSAGE) | {"variables": {"r": room}}, bare(alice)
        )
        assert await sock.recv() == {"type": "start_ack", "id": "2"}
        await start(
            sock, "3", persisted(None, ON_MESSAGE) | {"variables": {"r": room}}, bare(alice)
        )
        assert await sock.recv() == {"type": "start_ack", "id": "3"}
        sent = await client.send(alice, room, "by hash")
        frames = [await sock.recv(), await sock.recv()]
        assert sorted(f["id"] for f in frames) == ["2", "3"]
        assert all(f["payload"]["data"]["onMessageCreated"]["id"] == sent["id"] for f in frames)
        await sock.close()
        await client.close()

    listed = tmp_path / "persisted-documents.json"
    listed.write_text(
        json.dumps({hashlib.sha256(d.encode()).hexdigest(): d for d in (REGISTER, ON_MESSAGE)})
    )
    async with running_server(replace(keyed, trusted_documents=str(listed))) as server:
        client = Client(server)
        carol = await client.register("carol")
        sock = await Realtime.ready(server, bare(carol))
        await sock.start("1", ON_TYPING, {"r": "x"}, bare(carol))
        assert (await sock.error("1"))["errorType"] == "PERSISTED_QUERY_NOT_IN_LIST"
        await start(
            sock, "2", persisted(None, ON_MESSAGE) | {"variables": {"r": "nowhere"}}, bare(carol)
        )
        assert (await sock.error("2"))["errorType"] == "BAD_USER_INPUT"  # it ran: a malformed id
        await sock.close()
        await client.close()


# ---------------------------------------------------------------- limits and masking


@pytest.mark.parametrize("kind", list(LIMITS))
async def test_static_limits_are_applied_to_every_start(keyed: Settings, kind: str) -> None:
    code, build, limit = LIMITS[kind]
    async with running_server(replace(keyed, max_query_cost=COST_LIMIT)) as running:
        client = Client(running)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        first = await client.send(alice, room, "first")
        sock = await Realtime.ready(running, bare(alice))
        variables = {"r": room, "a": first["cursor"]}
        await sock.start("past", build("ws", limit + 1), variables, bare(alice))
        error = await sock.error("past")
        assert error["errorType"] == code
        assert_refused(error, code, limit)
        await sock.start("at", build("ws", limit), variables, bare(alice))
        assert await sock.recv() == {"type": "start_ack", "id": "at"}
        sent = await client.send(alice, room, "second")
        assert (await sock.data("at"))["onMessageCreated"]["id"] == sent["id"]
        await sock.close()
        await client.close()


async def test_production_masks_unexpected_errors_and_refuses_introspection(
    keyed: Settings,
) -> None:
    production = replace(keyed, env="production", jwt_secret="p" * 40)
    async with running_server(production) as running:
        client = Client(running)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        sock = await Realtime.ready(running, bare(alice))
        await sock.start(
            "typo", "subscription { onMessageCreatd(chatRoomId: 1) { id } }", {}, bare(alice)
        )
        error = await sock.error("typo")
        assert error["errorType"] == "GRAPHQL_VALIDATION_FAILED"
        assert "Did you mean" not in error["message"]

        rooms = running.app.state.services.rooms

        async def broken(*_args: Any) -> Any:
            raise RuntimeError("the database password is hunter2")

        rooms.readable_room = broken  # a bug below the resolver
        await sock.start("bug", ON_MESSAGE, {"r": room}, bare(alice))
        error = await sock.error("bug")
        assert error["message"] == "Internal server error" and "hunter2" not in json.dumps(error)
        assert error["errorType"] == error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["extensions"]["requestId"]
        await sock.close()

        bot = await client.register("relay_bot")  # introspection is refused over HTTP with a key
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                running.url,
                json={"query": "{ __schema { types { name } } }"},
                headers={"x-api-key": API_KEY},
            )
            assert answer.json()["data"] is None and "__schema" in answer.text
            me = await http.post(running.url, json={"query": ME}, headers={"x-api-key": API_KEY})
            assert me.json() == {"data": {"me": {"id": bot.id, "username": "relay_bot"}}}
        await client.close()


# ---------------------------------------------------------------- authorisation per event


async def test_non_members_are_refused_and_a_removed_member_stops_receiving(
    server: Server, client: Client
) -> None:
    alice, bob, eve = [await client.register(n) for n in ("alice", "bob", "eve")]
    room = await client.create_room(alice, "private", private=True, members=[bob.id])
    spy = await Realtime.ready(server, bare(eve))
    await spy.start("spy", ON_MESSAGE, {"r": room}, bare(eve))
    error = await spy.error("spy")  # no start_ack: refused when it opens
    assert error["errorType"] == "NOT_FOUND", error

    member = await Realtime.ready(server, bare(bob))
    await member.subscribed("bob", room, bare(bob))
    await client.send(alice, room, "for members")
    assert (await member.data("bob"))["onMessageCreated"]["content"] == "for members"
    await client.data(
        "mutation($r: ID!, $u: ID!) { removeRoomMember(roomId: $r, userId: $u) }",
        {"r": room, "u": bob.id},
        alice.token,
    )
    error = await member.error("bob")
    assert error["errorType"] == "FORBIDDEN", error
    await client.send(alice, room, "not for bob any more")
    await member.nothing_within(0.5)
    await spy.nothing_within(0.1)
    await spy.close()
    await member.close()


# ---------------------------------------------------------------- per-socket protections


async def test_subscriptions_past_the_limit_are_refused_and_the_socket_stays(
    keyed: Settings,
) -> None:
    async with running_server(replace(keyed, ws_max_subscriptions=2)) as running:
        client = Client(running)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        sock = await Realtime.ready(running, bare(alice))
        await sock.subscribed("1", room, bare(alice))
        await sock.start("1", ON_MESSAGE, {"r": room}, bare(alice))
        assert (await sock.error("1"))["errorType"] == "DuplicatedOperationError"
        await sock.subscribed("2", room, bare(alice))
        await sock.start("3", ON_MESSAGE, {"r": room}, bare(alice))
        error = await sock.error("3")
        assert error["errorType"] == "MaxSubscriptionsReachedError"
        assert error["extensions"] == {
            "code": "TOO_MANY_SUBSCRIPTIONS",
            "limit": 2,
            "measured": 3,
        }
        await sock.send({"type": "stop", "id": "1"})
        assert await sock.recv() == {"type": "complete", "id": "1"}
        await sock.subscribed("3", room, bare(alice))
        await sock.close()
        await client.close()


async def test_malformed_frames_get_error_frames_and_the_socket_survives(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice)
    sock = await Realtime.ready(server, bare(alice))
    for raw in ("not json", "[1, 2]", '{"type": 5}', '"start"', "{}"):
        await sock.ws.send(raw)
        assert (await sock.error())["errorType"] == "BadRequestException"
    await sock.ws.send(b"\x00\x01binary")
    assert (await sock.error())["errorType"] == "BadRequestException"
    await sock.send({"type": "subscribe", "id": "1"})
    assert (await sock.error())["errorType"] == "UnsupportedOperation"
    await sock.send({"type": "stop"})
    assert (await sock.error())["errorType"] == "BadRequestException"
    bad_starts: list[dict[str, Any]] = [
        {"type": "start", "payload": {"data": "{}"}},  # no id
        {"type": "start", "id": 7, "payload": {"data": "{}"}},
        {"type": "start", "id": "x" * 500, "payload": {"data": "{}"}},
    ]
    for frame in bad_starts:
        await sock.send(frame)
        assert (await sock.error())["errorType"] == "BadRequestException"
    for payload in (
        None,
        {"data": {"query": ON_MESSAGE}},  # an object, not a JSON string
        {"data": "not json"},
        {"data": "[1]"},
        {"data": json.dumps({"query": 5})},
        {"data": json.dumps({"query": ON_MESSAGE, "variables": [1]})},
        {"data": json.dumps({"query": ON_MESSAGE, "operationName": 3})},
    ):
        await sock.send({"type": "start", "id": "bad", "payload": payload})
        assert (await sock.error("bad"))["errorType"] == "BadRequestException", payload
    await sock.send({"type": "stop", "id": "never-started"})
    assert await sock.recv() == {"type": "complete", "id": "never-started"}
    await sock.subscribed("good", room, bare(alice))
    await client.send(alice, room, "still here")
    assert (await sock.data("good"))["onMessageCreated"]["content"] == "still here"
    await sock.close()


async def test_a_message_over_the_size_limit_closes_the_socket_with_1009(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    sock = await Realtime.ready(server, bare(alice))
    await sock.start("big", ON_MESSAGE, {"r": "x" * 70_000}, bare(alice))
    assert await sock.closed_with() == 1009


async def test_a_socket_that_never_initialises_is_closed_with_4408(keyed: Settings) -> None:
    async with running_server(replace(keyed, ws_connection_init_timeout=0.3)) as running:
        sock = await Realtime.connect(running, api_key())
        started = time.monotonic()
        assert await sock.closed_with() == 4408
        assert time.monotonic() - started < 3


async def test_sockets_past_the_per_user_limit_get_connection_error_and_4429(
    keyed: Settings,
) -> None:
    async with running_server(replace(keyed, max_connections_per_user=1)) as running:
        client = Client(running)
        alice = await client.register("alice")
        first = await Realtime.ready(running, bare(alice))
        second = await Realtime.connect(running, bare(alice))
        await second.send({"type": "connection_init"})
        frame = await second.recv()
        assert frame["type"] == "connection_error"
        assert frame["payload"]["errors"][0]["errorType"] == "LimitExceededError"
        assert await second.closed_with() == 4429
        await first.close()
        await asyncio.sleep(0.2)  # the first socket's place is given back
        third = await Realtime.ready(running, bare(alice))
        await third.close()
        await client.close()


async def test_revoking_sessions_closes_the_socket_with_4401(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    sock = await Realtime.ready(server, bare(alice))
    await client.data(
        "mutation($t: String!) { logout(refreshToken: $t, allDevices: true) }",
        {"t": alice.refresh_token},
    )
    assert await sock.closed_with() == 4401


async def test_an_open_socket_counts_as_online(server: Server, client: Client) -> None:
    alice, bob = await client.register("alice"), await client.register("bob")
    await client.create_room(alice, members=[bob.id])
    presence = "query($u: ID!) { getUserPresence(userId: $u) { status } }"

    async def status() -> str:
        data = await client.data(presence, {"u": alice.id}, bob.token)
        return str(data["getUserPresence"]["status"])

    assert await status() == "OFFLINE"
    sock = await Realtime.ready(server, bare(alice))
    assert await status() == "ONLINE"
    await sock.close()
    for _ in range(50):  # after the grace period (0.2 s in tests)
        if await status() == "OFFLINE":
            break
        await asyncio.sleep(0.1)
    assert await status() == "OFFLINE"


async def test_a_foreign_origin_is_refused_when_origins_are_configured(keyed: Settings) -> None:
    allowed = replace(keyed, allowed_origins=("https://chat.example.com",))
    async with running_server(allowed) as running:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                running.ws_url + "/realtime",
                subprotocols=["graphql-ws"],  # type: ignore[list-item]
                origin="https://evil.example.net",  # type: ignore[arg-type]
            )
        assert refused.value.response.status_code == 403
        async with httpx.AsyncClient() as http:  # while the browser's preflight may send the key
            preflight = await http.options(
                running.url,
                headers={
                    "origin": "https://chat.example.com",
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "x-api-key, x-amz-user-agent, content-type",
                },
            )
        assert preflight.status_code == 200, preflight.text


# ---------------------------------------------------------------- API keys over HTTP


async def test_api_keys_over_http_on_both_paths(keyed: Settings) -> None:
    app = create_app(keyed)
    async with app.router.lifespan_context(app):
        paths = Paths(app)
        register = (
            'mutation($u: String!) { register(username: $u, password: "correct horse") '
            "{ accessToken user { id } } }"
        )
        bot = (
            await paths.direct.post(
                "/graphql", json={"query": register, "variables": {"u": "relay_bot"}}
            )
        ).json()["data"]["register"]
        for http in (paths.direct, paths.framework, paths.direct):  # direct twice: memoised
            answer = await http.post("/graphql", json={"query": ME}, headers={"x-api-key": API_KEY})
            assert answer.json() == {
                "data": {"me": {"id": bot["user"]["id"], "username": "relay_bot"}}
            }
            bare_jwt = await http.post(
                "/graphql", json={"query": ME}, headers={"authorization": bot["accessToken"]}
            )
            assert bare_jwt.json()["data"]["me"]["username"] == "relay_bot"
            for key, message in (
                ("x" * 30, "Invalid API key"),
                ("short", "Invalid API key"),
                ("", "Invalid API key"),
                (OTHER_KEY, "The API key's account does not exist"),
            ):
                refused = await http.post(
                    "/graphql", json={"query": ME}, headers={"x-api-key": key}
                )
                [error] = refused.json()["errors"]
                assert error["message"] == message
                assert error["extensions"]["code"] == "UNAUTHENTICATED"
        await paths.direct.aclose()
        await paths.framework.aclose()


# ---------------------------------------------------------------- CHATQL_API_KEYS


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("relay_bot", "entry 1 must look like <username>=<key>"),
        (f"={API_KEY}", "entry 1 must look like <username>=<key>"),
        (f"relay_bot={API_KEY},b!={OTHER_KEY}", "entry 2: the username must be"),
        ("relay_bot=tooshort", "entry 1 (for 'relay_bot'): the key must be at least 24"),
        ("relay_bot=" + "k" * 23 + "!", "the key must be at least 24"),
        (f"relay_bot={API_KEY}, other={API_KEY}", "entries 1 and 2 have the same key"),
    ],
)
def test_bad_api_key_settings_refuse_to_start_without_showing_keys(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"CHATQL_API_KEYS": raw})
    message = str(refused.value)
    assert message.startswith("CHATQL_API_KEYS: ") and problem in message, message
    for secret in (API_KEY, OTHER_KEY, "tooshort"):
        assert secret not in message


def test_api_key_settings_allow_several_keys_per_account_and_stay_out_of_repr() -> None:
    settings = Settings.from_env(
        {"CHATQL_API_KEYS": f" Relay_Bot={API_KEY} , relay_bot={OTHER_KEY}, "}
    )
    assert API_KEY in settings.api_keys
    assert API_KEY not in repr(settings) and OTHER_KEY not in repr(settings)
    assert Settings.from_env({}).api_keys == ""


def test_header_objects_decode_from_base64_and_base64url_and_stay_small() -> None:
    header = {"Authorization": "a.b.c", "host": "h?>"}  # ?> encodes to + and / in base64
    standard = base64.b64encode(json.dumps(header).encode()).decode()
    url_safe = standard.replace("+", "-").replace("/", "_").rstrip("=")
    assert decode_header(standard) == decode_header(url_safe) == header
    with pytest.raises(BadHeader):
        decode_header("A" * (MAX_ENCODED_HEADER + 1))


async def test_an_api_key_of_a_deleted_account_stops_working_and_its_socket_closes(
    server: Server, client: Client
) -> None:
    bot = await client.register("relay_bot")
    sock = await Realtime.ready(server, api_key())
    assert (await client.data(ME, token=bot.token))["me"]["username"] == "relay_bot"
    deleted = await client.data(
        "mutation($p: String!) { deleteAccount(password: $p) }", {"p": "correct horse"}, bot.token
    )
    assert deleted["deleteAccount"]
    assert await sock.closed_with() == 4401  # its sessions end, the key's socket too
    async with httpx.AsyncClient() as http:
        answer = await http.post(server.url, json={"query": ME}, headers={"x-api-key": API_KEY})
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    refused = await Realtime.connect(server, api_key())
    await refused.send({"type": "connection_init"})
    frame = await refused.recv()
    assert frame["type"] == "connection_error"
    assert frame["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
