"""The shared fan-out writes its frames straight to each socket's transport
(`LeanWebSocketProtocol.write_text`): the bytes are exactly the frames websockets would build,
compressed sockets still get compressed frames, and a socket that goes away is let go."""

from __future__ import annotations

from typing import Any

import pytest
import websockets
from websockets.frames import Frame, Opcode

from chatql.config import Settings
from chatql.realtime.transport import text_frame_header
from tests.helpers import (
    ON_MESSAGE,
    TRANSPORT_WS,
    Client,
    Server,
    Socket,
    room_subscribed,
    running_server,
)


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_the_header_is_the_one_websockets_builds(length: int) -> None:
    payload = b"a" * length
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame_header(length) + payload == expected


async def _socket(server: Server, token: str, compression: str | None) -> Socket:
    ws = await websockets.connect(
        server.ws_url,
        subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
        compression=compression,
    )
    socket = Socket(ws, TRANSPORT_WS)
    await socket.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    await socket.ack()
    return socket


def _members(server: Server, room: str) -> list[Any]:
    groups = [g for g in server.app.view.fanout._groups.values() if g.plan.room_id == room]
    return [member for group in groups for member in group.members]


async def test_plain_and_compressed_sockets_get_every_frame_of_a_shared_group(
    settings: Settings,
) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        alice, bob = await client.register("alice"), await client.register("bob")
        room = await client.create_room(alice, "r", members=[bob.id])
        plain = await _socket(server, bob.token, None)
        packed = await _socket(server, alice.token, "deflate")
        assert not plain.ws.protocol.extensions
        assert packed.ws.protocol.extensions  # permessage-deflate negotiated
        for socket in (plain, packed):
            await socket.subscribe(ON_MESSAGE, {"r": room})
        await room_subscribed(server, room, 2, exactly=True)
        members = _members(server, room)
        assert len(members) == 2  # one shared group, both written through the frame writer
        assert all(member.frames is not None for member in members)

        # short (7-bit length), medium (16-bit) and multi-byte text
        texts = ["hi", "x" * 4000, "é" * 4000, "🙂" * 4000]
        for text in texts:
            await client.send(alice, room, text)
        for socket in (plain, packed):
            got = await socket.messages(len(texts))
            assert [m["content"] for m in got] == texts

        await packed.close()
        await room_subscribed(server, room, 1, exactly=True)
        await client.send(alice, room, "after one left")
        assert [m["content"] for m in await plain.messages(1)] == ["after one left"]
        await plain.close()
        await client.close()


async def test_without_a_frame_writer_the_group_sends_through_asgi(settings: Settings) -> None:
    """uvicorn's own WebSocket protocol offers no frame writer: the group falls back to the
    ASGI `send`, with the same frames."""
    async with running_server(settings, ws="websockets-sansio") as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "r")
        socket = await _socket(server, alice.token, None)
        await socket.subscribe(ON_MESSAGE, {"r": room})
        await room_subscribed(server, room, 1, exactly=True)
        members = _members(server, room)
        assert len(members) == 1 and members[0].frames is None
        texts = ["hi", "x" * 4000]
        for text in texts:
            await client.send(alice, room, text)
        assert [m["content"] for m in await socket.messages(len(texts))] == texts
        await socket.close()
        await room_subscribed(server, room, 0, exactly=True)
        await client.close()
