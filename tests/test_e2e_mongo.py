"""ChatQL on MongoDB (mongoeco in process): the production topology of several app processes
sharing one database, each fed by its own change stream."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

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


async def test_change_stream_history_lost_makes_the_feed_resync(tmp_path: Path) -> None:
    """A resume token older than the server's change history raises HistoryLost in the store,
    and the feed then tells every subscriber to resume from its own cursor."""
    from mongoeco import AsyncMongoClient  # type: ignore[import-not-found]

    from chatql.realtime.pubsub import RESYNC_CHANNEL, ChangeFeedBackend, Hub
    from chatql.store.base import HistoryLost
    from chatql.store.ids import new_id
    from chatql.store.mongo import MongoStore
    from chatql.store.records import UserRecord, now_utc

    store = MongoStore(
        "mongodb://localhost/chatql_test", client=AsyncMongoClient(change_stream_history_size=3)
    )
    await store.open()
    try:
        stream = store.watch()

        async def add_user() -> None:
            user_id = new_id()
            await store.create_user(
                UserRecord(user_id, f"u{user_id[:8]}", "U", password_hash="x", created_at=now_utc())
            )

        await add_user()
        old_token = (await asyncio.wait_for(stream.__anext__(), 5)).token
        for _ in range(10):
            await add_user()
        with pytest.raises(HistoryLost):
            resumed = store.watch(old_token)
            await asyncio.wait_for(resumed.__anext__(), 5)

        backend = ChangeFeedBackend(store, retry_delay=0.01)
        backend._token = old_token  # as if this process had fallen that far behind
        hub = Hub(backend)
        seen: list[str] = []
        hub.add_observer(lambda event: seen.append(event.channel))
        subscription = hub.subscribe("room:any", maxsize=10)
        await hub.start()
        try:
            for _ in range(100):
                if RESYNC_CHANNEL in seen:
                    break
                await asyncio.sleep(0.02)
            assert RESYNC_CHANNEL in seen and backend.resyncs == 1
            assert subscription.overflowed  # told to resume from its cursor
            await add_user()  # and the feed carries on from "now"
            for _ in range(100):
                if any(c.startswith("user:") for c in seen):
                    break
                await asyncio.sleep(0.02)
            assert any(c.startswith("user:") for c in seen)
        finally:
            await hub.stop()
    finally:
        await store.close()


async def test_a_restarted_process_resumes_its_change_stream_where_it_stopped(
    tmp_path: Path,
) -> None:
    """The feed position is saved in the store; a process with the same name picks up the
    changes committed while it was down instead of starting from "now"."""
    from broadcaster import Event

    from chatql.realtime.pubsub import ChangeFeedBackend, Hub
    from chatql.store.ids import new_id
    from chatql.store.records import UserRecord, now_utc

    shared = mongoeco_client()
    store = make_store("mongoeco", tmp_path, shared=shared)
    await store.open()
    keep_history = store.watch()  # a replica set keeps its oplog; mongoeco needs a reader

    async def add_user() -> str:
        user_id = new_id()
        await store.create_user(
            UserRecord(user_id, f"u{user_id[:8]}", "U", password_hash="x", created_at=now_utc())
        )
        return user_id

    async def channels_seen(hub: Hub, seen: list[str], wanted: str) -> bool:
        for _ in range(200):
            if wanted in seen:
                return True
            await asyncio.sleep(0.02)
        return False

    try:
        seen: list[str] = []
        first = Hub(ChangeFeedBackend(store, name="worker-1", save_every=0.05))
        first.add_observer(lambda event: seen.append(event.channel))
        await first.start()
        before = await add_user()
        assert await channels_seen(first, seen, f"user:{before}")
        await first.stop()  # saves the position

        while_down = await add_user()
        await asyncio.wait_for(keep_history.__anext__(), 5)

        seen_after: list[str] = []
        second = Hub(ChangeFeedBackend(store, name="worker-1"))

        def record(event: Event) -> None:
            seen_after.append(event.channel)

        second.add_observer(record)
        await second.start()
        try:
            assert await channels_seen(second, seen_after, f"user:{while_down}")
            assert f"user:{before}" not in seen_after  # resumed after it, not replayed
        finally:
            await second.stop()
    finally:
        await store.close()
