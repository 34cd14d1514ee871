"""The DateTime scalar: ISO-8601 in UTC with milliseconds, e.g. 2026-11-27T04:31:27.123Z."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry


def serialize_datetime(value: datetime) -> str:
    """Milliseconds truncated, a four-digit year always (strftime's %Y drops the zeros of
    years before 1000), and half strftime's cost: every message carries a date or two."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("DateTime must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


DateTime = strawberry.scalar(
    name="DateTime",
    description="An ISO-8601 date-time in UTC, e.g. 2026-11-27T04:31:27.123Z",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
