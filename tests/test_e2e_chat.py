"""Two people chatting over real sockets: HTTP mutations, live subscriptions on both
WebSocket subprotocols, resume after a disconnect, and membership changes while live."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql import Client as GqlClient
from gql import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.helpers import (
    LEGACY_WS,
    ON_MESSAGE,
    PROTOCOLS,
    TRANSPORT_WS,
    Client,
    Server,
    Socket,
    room_subscribed,
)

GQL_SUBPROTOCOLS = {
    TRANSPORT_WS: WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL,
    LEGACY_WS: WebsocketsTransport.APOLLO_SUBPROTOCOL,
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_two_users_chat_live_with_the_gql_client(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    bob = await client.register("bob")
    dm = (
        await client.data(
            "mutation($u: ID!) { startDirectChat(userId: $u) { id isDirect } }",
            {"u": bob.id},
            alice.token,
        )
    )["startDirectChat"]
    assert dm["isDirect"] is True

    transport = WebsocketsTransport(
        url=server.ws_url,
        init_payload={"authorization": f"Bearer {bob.token}"},
        subprotocols=[GQL_SUBPROTOCOLS[protocol]],
    )
    received: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async with GqlClient(transport=transport) as session:

        async def listen() -> None:
            request = GraphQLRequest(ON_MESSAGE, variable_values={"r": dm["id"]})
            stream = session.subscribe(request)
            subscribed.set()
            async for result in stream:
                received.append(result["onMessageCreated"])
                if len(received) == 3:
                    return

        task = asyncio.create_task(listen())
        await subscribed.wait()
        await room_subscribed(server, dm["id"])
        sent = [await client.send(alice, dm["id"], f"hello {i}") for i in range(3)]
        await asyncio.wait_for(task, 10)

    assert [m["content"] for m in received] == ["hello 0", "hello 1", "hello 2"]
    assert [m["id"] for m in received] == [m["id"] for m in sent]
    assert all(m["author"]["username"] == "alice" and m["chatRoomId"] == dm["id"] for m in received)
    assert [m["seq"] for m in received] == [1, 2, 3]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_both_directions_and_several_subscribers(
    server: Server, client: Client, protocol: str
) -> None:
    alice, bob, carol = [await client.register(n) for n in ("alice", "bob", "carol")]
    room = await client.create_room(alice, "team", members=[bob.id, carol.id])
    sockets = [await Socket.connect(server, protocol, u.token) for u in (alice, bob, carol)]
    for s in sockets:
        await s.ack()
        await s.subscribe(ON_MESSAGE, {"r": room})
    await room_subscribed(server, room, 3)
    await client.send(alice, room, "from alice")
    await client.send(bob, room, "from bob")
    for s in sockets:
        got = await s.messages(2)
        assert [m["content"] for m in got] == ["from alice", "from bob"]
        await s.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resubscribing_with_after_gets_every_missed_message_exactly_once(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    bob = await client.register("bob")
    room = await client.create_room(alice, "resume", members=[bob.id])
    sock = await Socket.connect(server, protocol, bob.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": room})
    await room_subscribed(server, room)
    await client.send(alice, room, "m1")
    await client.send(alice, room, "m2")
    seen = await sock.messages(2)
    last_cursor = seen[-1]["cursor"]
    await sock.close()

    for i in range(3, 8):  # sent while bob is away
        await client.send(alice, room, f"m{i}")

    sock = await Socket.connect(server, protocol, bob.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": room, "a": last_cursor})

    async def keep_sending() -> None:  # and more arrive while the replay runs
        for i in range(8, 12):
            await client.send(alice, room, f"m{i}")

    sender = asyncio.create_task(keep_sending())
    got = await sock.messages(9)
    await sender
    await sock.nothing_within(0.5)
    assert [m["content"] for m in got] == [f"m{i}" for i in range(3, 12)]
    assert [m["seq"] for m in got] == list(range(3, 12))
    await sock.close()


async def test_a_client_that_found_the_room_empty_resumes_from_its_start_cursor(
    server: Server, client: Client
) -> None:
    """Messages sent between reading an empty history and subscribing are not lost."""
    alice = await client.register("alice")
    bob = await client.register("bob")
    room = await client.create_room(alice, "fresh", members=[bob.id])
    seen = await client.data(
        "query($r: ID!) { getChatRoom(id: $r) { startCursor }"
        " messagesByRoom(chatRoomId: $r) { items { id } } }",
        {"r": room},
        bob.token,
    )
    assert seen["messagesByRoom"]["items"] == []
    for i in (1, 2):  # the gap: after bob's read, before his subscription
        await client.send(alice, room, f"m{i}")
    sock = await Socket.connect(server, TRANSPORT_WS, bob.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": room, "a": seen["getChatRoom"]["startCursor"]})
    await room_subscribed(server, room)
    await client.send(alice, room, "m3")
    got = await sock.messages(3)
    await sock.nothing_within(0.3)
    assert [m["content"] for m in got] == ["m1", "m2", "m3"]
    await sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_member_who_leaves_stops_receiving(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    bob = await client.register("bob")
    room = await client.create_room(alice, "open room")
    await client.join(bob, room)
    sock = await Socket.connect(server, protocol, bob.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": room})
    await room_subscribed(server, room)
    await client.send(alice, room, "before")
    assert [m["content"] for m in await sock.messages(1)] == ["before"]
    await client.data("mutation($r: ID!) { leaveRoom(roomId: $r) }", {"r": room}, bob.token)
    await client.send(alice, room, "after")
    payload = await sock.next_payload()
    assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "data" not in payload or payload["data"] is None
    assert (await sock.recv())["type"] == "complete"
    await sock.nothing_within(0.3)
    await sock.close()


async def test_history_pages_are_stable_while_messages_arrive(client: Client) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice, "busy")
    for i in range(25):
        await client.send(alice, room, f"m{i}")
    query = (
        "query($r: ID!, $t: String) { messagesByRoom(chatRoomId: $r, limit: 10, nextToken: $t) "
        "{ items { seq content } nextToken } }"
    )
    seen: list[int] = []
    token = None
    while True:
        page = (await client.data(query, {"r": room, "t": token}, alice.token))["messagesByRoom"]
        seen += [m["seq"] for m in page["items"]]
        await client.send(alice, room, "new arrival")  # must not shift the next page
        token = page["nextToken"]
        if token is None:
            break
    assert seen == list(range(25, 0, -1))
