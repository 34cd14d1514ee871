"""A JSON response written straight to an ASGI `send`, for the layers that answer before any
framework runs (the direct GraphQL path, the body-size guard, GraphQL over SSE's refusals)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.types import Send

JSON = "application/json"


async def send_json(
    send: Send,
    status: int,
    data: Any,
    media_type: str = JSON,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await send_body(send, status, orjson.dumps(data), media_type, headers)


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    media_type: str = JSON,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    raw = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", media_type.encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
