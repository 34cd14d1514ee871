"""ChatQL on MongoDB (mongoeco in process): the production topology of several app processes
sharing one database, each fed by its own change stream."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from chatql.config import Settings
from tests.conftest import make_store, mongoeco_client
from tests.helpers import ON_MESSAGE, PROTOCOLS, Client, Socket, running_server


async def test_two_app_instances_on_one_database_deliver_across(
    settings: Settings, tmp_path: Path
) -> None:
    shared = mongoeco_client()
    mongo_settings = replace(settings, database_url="mongodb://localhost/chatql_test")
    store_a = make_store("mongoeco", tmp_path, shared=shared)
    store_b = make_store("mongoeco", tmp_path, shared=shared)
    async with (
        running_server(mongo_settings, store_a) as a,
        running_server(mongo_settings, store_b) as b,
    ):
        via_a, via_b = Client(a), Client(b)
        alice = await via_a.register("alice")
        bob = await via_b.register("bob")
        room = await via_a.create_room(alice, "across", members=[bob.id])
        sockets = {}
        for protocol in PROTOCOLS:
            sock = await Socket.connect(b, protocol, bob.token)
            await sock.ack()
            await sock.subscribe(ON_MESSAGE, {"r": room})
            sockets[protocol] = sock
        await asyncio.sleep(0.3)
        sent = await via_a.send(alice, room, "written through A")
        for sock in sockets.values():
            (got,) = await sock.messages(1)
            assert got["id"] == sent["id"] and got["content"] == "written through A"
            await sock.close()
        # and the other way round: history written through B is read through A
        await via_b.send(bob, room, "written through B")
        assert [m["content"] for m in await via_a.history(alice, room)] == [
            "written through A",
            "written through B",
        ]
        await via_a.close()
        await via_b.close()


async def test_resume_after_works_on_mongodb(settings: Settings, tmp_path: Path) -> None:
    mongo_settings = replace(settings, database_url="mongodb://localhost/chatql_test")
    async with running_server(mongo_settings, make_store("mongoeco", tmp_path)) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "resume")
        first = await client.send(alice, room, "m1")
        for i in range(2, 5):
            await client.send(alice, room, f"m{i}")
        sock = await Socket.connect(server, PROTOCOLS[0], alice.token)
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room, "a": first["cursor"]})
        await asyncio.sleep(0.2)
        await client.send(alice, room, "m5")
        got = await sock.messages(4)
        assert [m["content"] for m in got] == ["m2", "m3", "m4", "m5"]
        await sock.nothing_within(0.3)
        await sock.close()
        await client.close()
