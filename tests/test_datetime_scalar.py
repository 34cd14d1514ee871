"""The DateTime scalar's text: ISO-8601 in UTC, milliseconds, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chatql.types.scalars import parse_datetime, serialize_datetime


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 27, 4, 31, 27, 123456, tzinfo=UTC), "2026-11-27T04:31:27.123Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC), "2026-01-02T03:04:05.999Z"),  # cut
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000Z"),
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5))),
            "2026-01-01T22:04:05.000Z",
        ),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(999, 12, 31, 23, 59, 59, 1000, tzinfo=UTC), "0999-12-31T23:59:59.001Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
    ],
)
def test_serialized_as_iso_8601_utc_with_milliseconds(value: datetime, text: str) -> None:
    assert serialize_datetime(value) == text
    assert parse_datetime(text) == value.astimezone(UTC).replace(
        microsecond=value.microsecond // 1000 * 1000
    )
