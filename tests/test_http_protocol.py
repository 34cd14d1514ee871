"""`CoalescingHttpProtocol` (what `chatql serve` gives uvicorn) writes an answer's headers and
body in one write, so the client receives one TCP segment; what must go out at once still does:
`100 Continue`, a HEAD answer, and the head of a streamed answer."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest

from chatql.config import Settings
from tests.helpers import Client, Server, room_subscribed, running_server

# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, segments that carried data, at byte 152
DATA_SEGS_IN = 152


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with running_server(settings) as server:
        yield server


async def _open(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlparse(server.url)
    return await asyncio.open_connection(url.hostname, url.port)


def _data_segments_in(writer: asyncio.StreamWriter) -> int:
    sock = writer.get_extra_info("socket")
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < DATA_SEGS_IN + 4:
        pytest.skip("this kernel's tcp_info has no data segment count")
    return int(struct.unpack_from("I", info, DATA_SEGS_IN)[0])


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = dict(line.split(": ", 1) for line in lines)
    headers = {k.lower(): v for k, v in headers.items()}
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return status.encode(), headers, body


def _post(body: bytes, extra: str = "") -> bytes:
    return (
        f"POST /graphql HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def test_each_answer_arrives_as_one_segment(server: Server) -> None:
    reader, writer = await _open(server)
    query = json.dumps({"query": "{ __typename }"}).encode()
    for _ in range(3):  # the first takes Strawberry's path, the others the direct one
        before = _data_segments_in(writer)
        writer.write(_post(query))
        status, _, body = await _response(reader)
        assert status == b"HTTP/1.1 200 OK"
        assert json.loads(body) == {"data": {"__typename": "Query"}}
        await asyncio.sleep(0.05)  # nothing else is coming
        assert _data_segments_in(writer) - before == 1
    writer.close()


async def test_100_continue_and_head_answers_are_written_at_once(server: Server) -> None:
    reader, writer = await _open(server)
    query = json.dumps({"query": "{ __typename }"}).encode()
    writer.write(_post(query, "expect: 100-continue\r\n")[: -len(query)])
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100 Continue")  # before the body was sent
    writer.write(query)
    status, _, body = await _response(reader)
    assert status == b"HTTP/1.1 200 OK" and b"Query" in body

    writer.write(b"HEAD /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200") and b"content-length" in head.lower()
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")  # the connection goes on
    status, _, body = await _response(reader)
    assert status == b"HTTP/1.1 200 OK" and body
    writer.close()


async def test_a_streamed_answer_sends_its_head_before_any_event(server: Server) -> None:
    client = Client(server)
    alice = await client.register("alice")
    room = await client.create_room(alice, "r")
    reader, writer = await _open(server)
    payload = json.dumps(
        {
            "query": "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { id } }",
            "variables": {"r": room},
        }
    ).encode()
    try:
        writer.write(
            b"POST /graphql/stream HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n"
            + f"authorization: Bearer {alice.token}\r\n".encode()
            + f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # before any event
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
        await room_subscribed(server, room)
        await client.send(alice, room, "now one")
        await asyncio.wait_for(reader.readuntil(b"event: next"), 5)
    finally:
        writer.close()
    await client.close()
