"""Logs as `chatql serve` writes them (CHATQL_LOG_FORMAT=json): a real process, a real chat
flow, every line parsed; request ids, operations, users, durations and codes are there, and no
password, token or message text is, anywhere."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from chatql.observability.logs import (
    JsonFormatter,
    RequestInfo,
    TextFormatter,
    current_request,
    request_id_from,
)
from tests import helpers
from tests.helpers import TRANSPORT_WS, Server, Socket, free_port

PASSWORD = "hunter2-correct-horse-battery"
MESSAGE_TEXT = "my bank PIN is 7391, do not tell anyone"
REQUEST_ID = "client-chosen-request-0001"


def start(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHATQL_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "CHATQL_FILES_URL": f"file:{tmp_path / 'files'}",
        "CHATQL_PORT": str(port),
        "CHATQL_JWT_SECRET": "log-test-secret-0123456789abcdef0123",
        "CHATQL_ARGON2_TIME_COST": "1",
        "CHATQL_ARGON2_MEMORY_COST": "1024",
        "CHATQL_LOG_FORMAT": "json",
        "CHATQL_LOG_LEVEL": "info",
        "CHATQL_WEB_APP": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "chatql"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


async def post(
    http: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any], **headers: str
) -> httpx.Response:
    response = await http.post(url, json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def chat_flow(port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/graphql"
    async with httpx.AsyncClient(timeout=20) as http:
        registered = await post(
            http,
            url,
            "mutation Register($u: String!, $p: String!) "
            "{ register(username: $u, password: $p) { accessToken user { id } } }",
            {"u": "alice", "p": PASSWORD},
            **{"x-request-id": REQUEST_ID},
        )
        assert registered.headers["x-request-id"] == REQUEST_ID  # echoed
        login = await post(
            http,
            url,
            "mutation Login($u: String!, $p: String!) "
            "{ login(username: $u, password: $p) { accessToken refreshToken user { id } } }",
            {"u": "alice", "p": PASSWORD},
            **{"x-request-id": "bad id with spaces"},
        )
        generated = login.headers["x-request-id"]
        assert generated != "bad id with spaces" and len(generated) == 16
        session = login.json()["data"]["login"]
        token = session["accessToken"]
        auth = {"authorization": f"Bearer {token}"}
        room = await post(
            http,
            url,
            "mutation Room($i: CreateChatRoomInput!) { createChatRoom(input: $i) { id } }",
            {"i": {"name": "secrets", "isPrivate": True, "memberIds": []}},
            **auth,
        )
        room_id = room.json()["data"]["createChatRoom"]["id"]
        await post(
            http,
            url,
            "mutation Send($i: CreateMessageInput!) { createMessage(input: $i) { id } }",
            {"i": {"chatRoomId": room_id, "content": MESSAGE_TEXT}},
            **auth,
        )
        refused = await post(http, url, "query Me { me { id } }", {})
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        server = Server(url=url, settings=None)  # type: ignore[arg-type]
        sock = await Socket.connect(server, TRANSPORT_WS, token)
        await sock.ack()
        await sock.close()
        await asyncio.sleep(0.3)  # the connection's end is logged
    return {
        "user_id": session["user"]["id"],
        "secrets": [PASSWORD, MESSAGE_TEXT, token, session["refreshToken"]],
    }


async def test_json_logs_of_a_chat_flow_carry_context_and_no_secrets(tmp_path: Path) -> None:
    port = free_port()
    process = start(tmp_path, port)
    try:
        await asyncio.to_thread(helpers.wait_ready, port, process)
        flow = await chat_flow(port)
    finally:
        process.terminate()
        output, _ = await asyncio.to_thread(process.communicate, timeout=20)
    text = output.decode()
    for secret in flow["secrets"]:
        assert secret not in text, "a secret reached the log"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "chatql.access"]
    posts = [line for line in access if line.get("method") == "POST"]
    by_operation = {line.get("operation"): line for line in posts}
    assert {"Register", "Login", "Room", "Send", "Me"} <= set(by_operation)

    register = by_operation["Register"]
    assert register["request_id"] == REQUEST_ID
    assert register["path"] == "/graphql" and register["status"] == 200
    assert register["duration_ms"] > 0 and register["bytes"] > 0
    send = by_operation["Send"]
    assert send["user_id"] == flow["user_id"] and "error_code" not in send
    assert len(send["request_id"]) == 16
    assert by_operation["Me"]["error_code"] == "UNAUTHENTICATED"
    assert len({line["request_id"] for line in posts}) == len(posts)  # one id per request

    (ws,) = [line for line in access if line.get("method") == "WS"]
    assert ws["close_code"] == 1000 and ws["user_id"] == flow["user_id"]
    assert ws["protocol"] == TRANSPORT_WS and ws["duration_ms"] > 0
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # no duplicates
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own, as JSON


def record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("chatql.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_formatters_add_the_request_they_run_in() -> None:
    info = RequestInfo("req-00000001", user_id="u1")
    info.operation, info.error_code = "Send", "FORBIDDEN"
    reset = current_request.set(info)
    try:
        line = json.loads(JsonFormatter().format(record("sent %d", 3, status=403)))
        text = TextFormatter().format(record("sent"))
    finally:
        current_request.reset(reset)
    assert line["message"] == "sent 3" and line["level"] == "warning" and line["status"] == 403
    assert (line["request_id"], line["operation"], line["user_id"], line["error_code"]) == (
        "req-00000001",
        "Send",
        "u1",
        "FORBIDDEN",
    )
    assert "chatql.test [req-00000001]: sent" in text
    outside = json.loads(JsonFormatter().format(record("idle")))
    assert "request_id" not in outside


def test_only_well_formed_request_ids_are_kept() -> None:
    assert request_id_from(b"abc-123_XYZ.9:0") == "abc-123_XYZ.9:0"
    for bad in (b"short", b"has space in it", b"x" * 129, b"new\nline-injection", None):
        fresh = request_id_from(bad)
        assert len(fresh) == 16 and fresh != (bad or b"").decode("latin-1")
