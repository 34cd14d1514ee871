"""Opaque page tokens and message cursors.

A token is url-safe base64 of a tagged JSON array, so a client can store it but gains nothing
by reading it; a token of the wrong kind or a mangled one is a BadUserInput, never a crash.
Message positions are per-room `seq` values, so pages stay stable while messages arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatql.errors import BadUserInput


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of a connection: `{ items nextToken }` in GraphQL."""

    items: list[T]
    next_token: str | None


def encode(kind: str, *parts: Any) -> str:
    raw = json.dumps([kind, *parts], separators=(",", ":"), default=_default)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value))


def decode(kind: str, token: str, field: str = "nextToken") -> list[Any]:
    """The parts of a token made by `encode(kind, ...)`; BadUserInput for anything else."""
    try:
        if len(token) > 512:
            raise ValueError
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"{field} is not a valid token", field=field) from None
    if not isinstance(data, list) or not data or data[0] != kind:
        raise BadUserInput(f"{field} is not a valid token", field=field)
    return data[1:]


def decode_time(value: Any, field: str) -> datetime:
    try:
        result = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadUserInput(f"{field} is not a valid token", field=field) from None
    if result.tzinfo is None:
        raise BadUserInput(f"{field} is not a valid token", field=field)
    return result


MAX_SEQ = 2**62


def is_seq(value: Any) -> bool:
    """A position a store can hold: a non-negative int below 2**62 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SEQ


def message_cursor(room_id: str, seq: int) -> str:
    return encode("m", room_id, seq)


def parse_message_cursor(token: str, room_id: str, field: str = "after") -> int:
    """The seq of a `Message.cursor`, which must belong to `room_id`."""
    parts = decode("m", token, field)
    if len(parts) != 2 or parts[0] != room_id or not is_seq(parts[1]):
        raise BadUserInput(f"{field} is not a cursor of this room", field=field)
    return int(parts[1])
