"""benchmarks/floor_server.py, the benchmark's fan-out floor: a real process answering what
the load generator relies on, over real HTTP and a real graphql-transport-ws socket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.helpers import free_port

FLOOR = Path(__file__).resolve().parent.parent / "benchmarks" / "floor_server.py"
# the generator's own documents (peer-bench's operations.mjs): the floor matches on their words
REGISTER = (
    "mutation($u: String!, $p: String!) { register(username: $u, password: $p) "
    "{ accessToken refreshToken expiresAt user { id username } } }"
)
CREATE_ROOM = "mutation($n: String!) { createChatRoom(input: { name: $n }) { id name } }"
JOIN = "mutation($r: ID!) { joinRoom(roomId: $r) { id } }"
SEND = (
    "mutation($r: ID!, $t: String!) { createMessage(input: { chatRoomId: $r, content: $t }) "
    "{ id createdAt } }"
)
SEND_FULL = (
    "mutation($r: ID!, $t: String!) { createMessage(input: { chatRoomId: $r, content: $t }) "
    "{ id chatRoomId content createdAt author { id username } } }"
)
HISTORY = (
    "query($r: ID!, $n: Int) { messagesByRoom(chatRoomId: $r, limit: $n) { items { id "
    "chatRoomId content createdAt author { id username } } nextToken } }"
)
SUBSCRIBE = (
    "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { id chatRoomId content "
    "createdAt author { id username } } }"
)


@pytest.fixture(scope="module")
def floor_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(FLOOR), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.communicate()[0].decode()
            try:
                httpx.post(url, json={"query": "{ __typename }"}, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the floor server did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def post(
    http: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any], token: str = ""
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(url, json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"data"}, answer
    return dict(answer["data"])


async def test_floor_serves_the_generators_fanout(floor_url: str) -> None:
    async with httpx.AsyncClient() as http:
        typename = await post(http, floor_url, "{ __typename }", {})
        assert typename == {"__typename": "Query"}
        alice = (await post(http, floor_url, REGISTER, {"u": "alice", "p": "pw"}))["register"]
        bob = (await post(http, floor_url, REGISTER, {"u": "bob", "p": "pw"}))["register"]
        assert alice["user"] == {"id": alice["accessToken"], "username": "alice"}
        assert alice["expiresAt"] > time.strftime("%Y-%m-%dT%H:%M:%S")
        room = (await post(http, floor_url, CREATE_ROOM, {"n": "r"}, alice["accessToken"]))[
            "createChatRoom"
        ]
        joined = await post(http, floor_url, JOIN, {"r": room["id"]}, bob["accessToken"])
        assert joined == {"joinRoom": {"id": room["id"]}}

        ws_url = floor_url.replace("http://", "ws://")
        sockets = [
            await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
            for _ in range(3)
        ]
        try:
            for i, ws in enumerate(sockets):
                assert ws.subprotocol == "graphql-transport-ws"
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                assert json.loads(await ws.recv()) == {"type": "connection_ack"}
                subscribe = {"query": SUBSCRIBE, "variables": {"r": room["id"]}}
                await ws.send(
                    json.dumps({"id": f"op-{i}", "type": "subscribe", "payload": subscribe})
                )
            await sockets[0].send(json.dumps({"id": "op-0", "type": "complete"}))
            await asyncio.sleep(0.2)  # the server reads the `complete` before the next send

            sent = await post(
                http, floor_url, SEND, {"r": room["id"], "t": "M|1"}, bob["accessToken"]
            )
            assert set(sent["createMessage"]) == {"id", "createdAt"}
            for i, ws in enumerate(sockets[1:], start=1):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert frame["id"] == f"op-{i}" and frame["type"] == "next"
                message = frame["payload"]["data"]["onMessageCreated"]
                assert message["id"] == sent["createMessage"]["id"]
                assert message["chatRoomId"] == room["id"] and message["content"] == "M|1"
                assert message["author"] == bob["user"]
            with pytest.raises(TimeoutError):  # completed: nothing for op-0
                await asyncio.wait_for(sockets[0].recv(), 0.3)
        finally:
            for ws in sockets:
                await ws.close()

        full = await post(
            http, floor_url, SEND_FULL, {"r": room["id"], "t": "M|2"}, bob["accessToken"]
        )
        assert full["createMessage"]["content"] == "M|2"
        page = (await post(http, floor_url, HISTORY, {"r": room["id"], "n": 1}))["messagesByRoom"]
        assert [m["content"] for m in page["items"]] == ["M|2"]  # newest first
        assert page["nextToken"]


async def test_floor_refuses_what_the_generator_never_sends(floor_url: str) -> None:
    async with httpx.AsyncClient() as http:
        bad = await http.post(floor_url, json={"query": "{ users { id } }"})
        assert bad.status_code == 400
        not_json = await http.post(floor_url, content=b"{")
        assert not_json.status_code == 400
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(floor_url.replace("http://", "ws://"))  # no subprotocol
