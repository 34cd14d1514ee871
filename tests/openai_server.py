"""A small OpenAI-compatible chat-completions server for the assistant tests, in a process of
its own: `python -m tests.openai_server --port N --record FILE`.

It speaks the real streaming wire format (server-sent `chat.completion.chunk`s ending with
`data: [DONE]`, tool calls as deltas split across chunks, an `x-request-id` header) and writes
every request it receives to FILE, one JSON line each, so the tests read back exactly what
ChatQL sent. What it answers is scripted by a `[[marker]]` in the last paragraph of the last
user message (the question; the paragraphs before it quote the room):

- `[[long]]`: sixty words, one chunk each, 25 ms apart; `[[slow]]`: three hundred, 50 ms apart;
  `[[huge]]`: 6000 characters, more than a message may hold
- `[[tool:NAME {json arguments}]]`: calls that tool, then answers with what the tool returned
- `[[500]]`: HTTP 500; `[[hang]]`: says nothing for 60 s; `[[refuse]]`: finish_reason
  content_filter; `[[broken]]`: a chunk that is not JSON
- anything else: "Hello from the test model." in a few chunks
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MARKER = re.compile(r"\[\[([a-z0-9]+)(?::([a-z_]+) (\{.*?\}))?\]\]", re.DOTALL)
DEFAULT_TEXT = "Hello from the test model."
_ids = itertools.count(1)


def free_port() -> int:
    """(tests.helpers has one too, but importing it would load all of ChatQL in this process)"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def words(count: int) -> list[str]:
    return [f"w{i:03d} " for i in range(1, count + 1)]


LONG_WORDS = words(60)
SLOW_WORDS = words(300)


def _chunk(completion_id: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def _text(completion_id: str, pieces: list[str], pause: float) -> AsyncIterator[bytes]:
    yield _chunk(completion_id, {"role": "assistant", "content": ""})
    for piece in pieces:
        await asyncio.sleep(pause)
        yield _chunk(completion_id, {"content": piece})
    yield _chunk(completion_id, {}, "stop")
    yield b"data: [DONE]\n\n"


async def _tool_call(completion_id: str, name: str, arguments: str) -> AsyncIterator[bytes]:
    yield _chunk(completion_id, {"role": "assistant", "content": None})
    first = {"index": 0, "id": f"call_{completion_id}", "type": "function"}
    yield _chunk(
        completion_id,
        {"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]},
    )
    third = max(1, len(arguments) // 3)
    for start in range(0, len(arguments), third):
        piece = arguments[start : start + third]
        yield _chunk(
            completion_id, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        )
    yield _chunk(completion_id, {}, "tool_calls")
    yield b"data: [DONE]\n\n"


async def _refusal(completion_id: str) -> AsyncIterator[bytes]:
    yield _chunk(completion_id, {"role": "assistant", "content": ""})
    yield _chunk(completion_id, {}, "content_filter")
    yield b"data: [DONE]\n\n"


async def _broken(completion_id: str) -> AsyncIterator[bytes]:
    yield _chunk(completion_id, {"role": "assistant", "content": "Half an "})
    yield b"data: {this is not json\n\n"


def _last(messages: list[dict[str, Any]], role: str) -> dict[str, Any] | None:
    return next((m for m in reversed(messages) if m.get("role") == role), None)


def create_app(record: Path) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        with record.open("a") as out:
            out.write(
                json.dumps({"authorization": request.headers.get("authorization"), "body": body})
                + "\n"
            )
        number = next(_ids)
        completion_id = f"chatcmpl-{number}"
        headers = {"x-request-id": f"req-{number}"}
        messages = body.get("messages") or []
        # the question comes last: earlier paragraphs quote the room's history
        asked = str((_last(messages, "user") or {}).get("content") or "").rsplit("\n\n", 1)[-1]
        markers = MARKER.findall(asked)
        kind, tool, arguments = markers[-1] if markers else ("", "", "")
        stream: AsyncIterator[bytes]
        if kind == "500":
            error = {"error": {"message": "boom", "type": "server_error", "code": None}}
            return JSONResponse(error, status_code=500, headers=headers)
        if kind == "hang":
            await asyncio.sleep(60)
        if kind == "tool":
            result = messages[-1] if messages and messages[-1].get("role") == "tool" else None
            if result is None:
                stream = _tool_call(completion_id, tool, arguments)
            else:
                said = f"The tool said: {result['content']}"
                stream = _text(
                    completion_id, [said[i : i + 40] for i in range(0, len(said), 40)], 0
                )
        elif kind == "long":
            stream = _text(completion_id, LONG_WORDS, 0.025)
        elif kind == "huge":
            stream = _text(completion_id, ["0123456789" * 10] * 60, 0.002)
        elif kind == "slow":
            stream = _text(completion_id, SLOW_WORDS, 0.05)
        elif kind == "refuse":
            stream = _refusal(completion_id)
        elif kind == "broken":
            stream = _broken(completion_id)
        else:
            stream = _text(completion_id, ["Hello ", "from the ", "test model."], 0.01)
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models),
        ]
    )


@dataclass
class OpenAIServer:
    """The running server, and what it received since `mark`."""

    url: str  # what CHATQL_ASSISTANT_BASE_URL is set to
    record: Path
    mark: int = 0

    def requests(self) -> list[dict[str, Any]]:
        """Every request received since `mark`, oldest first: {"authorization", "body"}."""
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()[self.mark :]
        return [json.loads(line) for line in lines if line.strip()]

    def forget(self) -> None:
        """Count from here on."""
        self.mark += len(self.requests())

    def sent_text(self) -> str:
        """Everything ChatQL sent the model since `mark`, as one string to search."""
        return "\n".join(json.dumps(r["body"], ensure_ascii=False) for r in self.requests())

    async def wait_for_requests(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.requests()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests())} requests, not {count}")
            await asyncio.sleep(0.02)
        return self.requests()


@pytest.fixture(scope="session")
def openai_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAIServer]:
    """The server process, for the whole session (each test sees its own requests)."""
    root = tmp_path_factory.mktemp("openai")
    record, log = root / "requests.jsonl", root / "server.log"
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.openai_server", "--port", str(port), "--record", record],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the test OpenAI server did not start:\n{log.read_text()}")
        time.sleep(0.05)
    try:
        yield OpenAIServer(url, record)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def openai_server(openai_process: OpenAIServer) -> OpenAIServer:
    """The session's server, counting requests from this test on."""
    server = OpenAIServer(openai_process.url, openai_process.record)
    server.forget()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.record),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=1,  # a [[hang]] request still sleeping does not hold it up
    )


if __name__ == "__main__":
    main()
