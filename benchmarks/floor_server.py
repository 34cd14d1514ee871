"""The fan-out floor: the least a server can do for the load generator's `fanout` scenario.

Not a chat server and not part of ChatQL: a measuring instrument. It answers exactly the
operations `loadgen.mjs` sends (register, me, createChatRoom, joinRoom, createMessage,
messagesByRoom, `{ __typename }`) from memory, recognising each by a word of its document,
with no GraphQL, no store, no checks, and speaks just enough graphql-transport-ws to
acknowledge a connection and to write one prebuilt `next` frame per subscriber.

The generator's fan-out latency runs from just before its `createMessage` request to its own
reading of each frame, so it includes the generator's work: sending the request and parsing
every frame, in one Node process. What this server gets is that share alone. A server's p99
can come no closer to it than the work it does, and the peer's p99 divided by the floor's is
the largest ratio any server can show against the peer with this generator on this machine.

    python benchmarks/floor_server.py --host 127.0.0.1 --port 4100
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL = "graphql-transport-ws"


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A server's (unmasked, final) WebSocket frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def compact(value: Any) -> bytes:
    """JSON as Node's JSON.stringify writes it: no spaces."""
    return json.dumps(value, separators=(",", ":")).encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Floor:
    """Users, rooms' subscribers and messages, in memory."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.usernames: dict[str, str] = {}
        # room -> (connection, operation id) -> the frame's text before its payload
        self.subscribers: dict[str, dict[tuple[Connection, str], bytes]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}

    def answer(self, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        v = variables
        if query.lstrip().startswith("{ __typename"):
            return {"__typename": "Query"}
        if "register(" in query:
            uid = str(next(self.ids))
            self.usernames[uid] = v["u"]
            expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            user = {"id": uid, "username": v["u"]}
            return {
                "register": {
                    "accessToken": uid,
                    "refreshToken": "-",
                    "expiresAt": expires,
                    "user": user,
                }
            }
        if "createMessage" in query:
            return {"createMessage": self.create_message(v["r"], v["t"], token, query)}
        if "messagesByRoom" in query:
            newest = self.history.get(v["r"], [])[::-1]
            limit = v.get("n") or 50
            token_out = "older" if len(newest) > limit else None
            return {"messagesByRoom": {"items": newest[:limit], "nextToken": token_out}}
        if "createChatRoom" in query:
            return {"createChatRoom": {"id": str(next(self.ids)), "name": v["n"]}}
        if "joinRoom" in query:
            return {"joinRoom": {"id": v["r"]}}
        if "me {" in query:
            return {"me": {"id": token, "username": self.usernames.get(token)}}
        raise ValueError("not an operation of the load generator")

    def create_message(self, room: str, content: str, author: str, query: str) -> dict[str, Any]:
        message = {
            "id": str(next(self.ids)),
            "chatRoomId": room,
            "content": content,
            "createdAt": now_iso(),
            "author": {"id": author, "username": self.usernames.get(author)},
        }
        self.history.setdefault(room, []).append(message)
        body = compact({"data": {"onMessageCreated": message}}) + b"}"
        for (connection, _), prefix in self.subscribers.get(room, {}).items():
            connection.send(prefix + body)
        if "author" in query:
            return message
        return {"id": message["id"], "createdAt": message["createdAt"]}


class Connection(asyncio.Protocol):
    """One TCP connection: HTTP/1.1 requests, until an upgrade makes it a WebSocket."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.websocket = False
        self.operations: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP server's: writable

    def connection_lost(self, exc: Exception | None) -> None:
        for subscribers in self.floor.subscribers.values():
            for operation_id in self.operations:
                subscribers.pop((self, operation_id), None)

    def send(self, text: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ws_frame(text))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            taken = self.websocket_message() if self.websocket else self.http_request()
            if not taken:
                return

    def http_request(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return False
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        if headers.get("upgrade", "").lower() == "websocket":
            self.upgrade(headers)
            return True
        status, answer = b"200 OK", b""
        try:
            request = json.loads(body)
            token = headers.get("authorization", "").removeprefix("Bearer ")
            data = self.floor.answer(request["query"], request.get("variables") or {}, token)
            answer = compact({"data": data})
        except (ValueError, KeyError, TypeError):
            status = b"400 Bad Request"
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, len(answer), answer)
        )
        return True

    def upgrade(self, headers: dict[str, str]) -> None:
        assert self.transport is not None
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        if SUBPROTOCOL not in offered:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()
            return
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            b"sec-websocket-accept: %s\r\nsec-websocket-protocol: %s\r\n\r\n"
            % (accept, SUBPROTOCOL.encode())
        )
        self.websocket = True

    def websocket_message(self) -> bool:
        """One client frame (masked; the generator's messages are single frames)."""
        buf = self.buffer
        if len(buf) < 2:
            return False
        opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
        at = 2
        if n == 126:
            if len(buf) < 4:
                return False
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return False
            n, at = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < at + 4 + n:
            return False
        mask, payload = buf[at : at + 4], buf[at + 4 : at + 4 + n]
        self.buffer = buf[at + 4 + n :]
        text = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        if opcode == 0x8:  # close: answer it and end
            self.transport.write(ws_frame(text[:2], 0x8))
            self.transport.close()
        elif opcode == 0x9:
            self.transport.write(ws_frame(text, 0xA))
        elif opcode == 0x1:
            self.protocol_message(json.loads(text))
        return True

    def protocol_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "connection_init":
            self.send(b'{"type":"connection_ack"}')
        elif kind == "ping":
            self.send(b'{"type":"pong"}')
        elif kind == "subscribe":
            room = str(message["payload"]["variables"]["r"])
            self.operations.add(message["id"])
            prefix = b'{"id":%s,"type":"next","payload":' % compact(message["id"])
            self.floor.subscribers.setdefault(room, {})[(self, message["id"])] = prefix
        elif kind == "complete":
            self.operations.discard(message["id"])
            for subscribers in self.floor.subscribers.values():
                subscribers.pop((self, message["id"]), None)


async def serve(host: str, port: int) -> None:
    floor = Floor()
    server = await asyncio.get_running_loop().create_server(
        lambda: Connection(floor), host, port, backlog=4096
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4100)
    args = parser.parse_args(argv)
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop  # the loop ChatQL runs on, when installed

        loop_factory = uvloop.new_event_loop
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port), loop_factory=loop_factory)


if __name__ == "__main__":
    main()
