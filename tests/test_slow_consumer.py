"""A subscriber that stops reading cannot make the server buffer without bound: it is cut off
with close code 4008, and resuming with `after` brings back everything it missed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import urlparse

from chatql.config import Settings
from tests.helpers import ON_MESSAGE, TRANSPORT_WS, Client, Socket, running_server
from tests.raw_ws import StalledClient

BIG = "x" * 4000


async def test_a_reader_that_stalls_is_disconnected_then_resumes(settings: Settings) -> None:
    async with running_server(replace(settings, subscription_queue_size=5)) as server:
        client = Client(server)
        alice, bob = await client.register("alice"), await client.register("bob")
        room = await client.create_room(alice, "r", members=[bob.id])
        first = await client.send(alice, room, "before the stall")

        url = urlparse(server.ws_url)
        stalled = await asyncio.to_thread(
            StalledClient, url.hostname or "", url.port or 0, url.path, TRANSPORT_WS
        )
        stalled.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {bob.token}"}}
        )
        opcode, ack = await asyncio.to_thread(stalled.recv)
        assert opcode == 0x1  # text
        assert json.loads(ack)["type"] == "connection_ack"
        stalled.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": ON_MESSAGE, "variables": {"r": room}},
            }
        )
        await asyncio.sleep(0.2)

        # bob stops reading; the server's buffers fill and then its bounded backlog
        sent = 0
        while sent < 4000:
            await asyncio.gather(*(client.send(alice, room, BIG) for _ in range(50)))
            sent += 50
        code = await asyncio.to_thread(stalled.close_code)
        stalled.close()
        assert code == 4008

        resumed = await Socket.connect(server, TRANSPORT_WS, bob.token)
        await resumed.ack()
        await resumed.subscribe(ON_MESSAGE, {"r": room, "a": first["cursor"]})
        got = await resumed.messages(sent, timeout=30)
        assert [m["seq"] for m in got] == list(range(2, sent + 2))
        await resumed.close()
        await client.close()
