"""Rows become documents as the records expect them: times as aware datetimes, flags as
bools, and a name that a join repeats answers its first column, as `sqlite3.Row` does."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from chatql.store.sqlite.engine import row_doc


def test_rows_become_documents() -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    query = (
        "SELECT 'a' AS id, '2026-12-07T06:00:00.123Z' AS created_at, NULL AS deleted_at, "
        "1 AS is_bot, 0 AS is_private, NULL AS email_verified, 7 AS last_seq, 'b' AS id"
    )
    for _ in range(2):  # the plan made for these columns, then reused
        row = conn.execute(query).fetchone()
        doc = row_doc(row)
        assert doc == {
            "id": "a",
            "created_at": datetime(2026, 12, 7, 6, 0, 0, 123000, tzinfo=UTC),
            "deleted_at": None,
            "is_bot": True,
            "is_private": False,
            "email_verified": False,
            "last_seq": 7,
        }
        assert doc["id"] == row["id"]
        assert [type(doc[k]) for k in ("is_bot", "is_private")] == [bool, bool]
    plain = conn.execute("SELECT 'x' AS name, 3 AS seq").fetchone()
    assert row_doc(plain) == {"name": "x", "seq": 3}
