"""Who a new message may notify, kept by the writer instead of read in every message's write.

Each stored message needs its room's members with their mute flag and whether they are
watching the room (`read_notification_targets`), inside the message's own transaction. The
answer changes only when a membership or a room watch does, which is rare next to messages,
so the writer connection keeps it per room and the query runs once per change instead of once
per message.

The cache is exact, not a guess that is usually right:
- TEMP triggers on the writer connection report every change to `memberships` (who, muted)
  and `room_watches`, cascading deletes included, and the room's answer is dropped at once;
- an answer read inside a transaction may hold that transaction's own changes, so any rollback
  (one write's, or a failed commit's) drops every answer;
- another connection's commit (a second process, `chatql` commands) moves SQLite's
  `data_version`, which the writer reads at each lookup inside its transaction: the whole
  cache is dropped then.
"""

from __future__ import annotations

import sqlite3

Targets = tuple[tuple[str, bool, bool], ...]
MAX_ROOMS = 20_000  # answers kept; past it the cache starts again (each is a few members)

_CHANGED = "chatql_notification_targets_changed"
_TRIGGERS = (
    ("memberships", "INSERT", "NEW"),
    ("memberships", "DELETE", "OLD"),
    ("memberships", "UPDATE OF room_id, user_id, notifications_muted", "OLD"),
    ("memberships", "UPDATE OF room_id", "NEW"),
    ("room_watches", "INSERT", "NEW"),
    ("room_watches", "DELETE", "OLD"),
    ("room_watches", "UPDATE OF room_id, user_id", "OLD"),
    ("room_watches", "UPDATE OF room_id", "NEW"),
)


def read_notification_targets(conn: sqlite3.Connection, room_id: str) -> Targets:
    """(user_id, notifications_muted, watching) for every member of a room, on `conn`."""
    rows = conn.execute(
        "SELECT m.user_id, m.notifications_muted, EXISTS (SELECT 1 FROM room_watches w "
        "WHERE w.room_id = m.room_id AND w.user_id = m.user_id) AS watching "
        "FROM memberships m WHERE m.room_id = ?",
        (room_id,),
    )
    return tuple((row[0], bool(row[1]), bool(row[2])) for row in rows)


class NotificationTargets:
    """The writer connection's answers of `read_notification_targets`, per room."""

    def __init__(self) -> None:
        self._rooms: dict[str, Targets] = {}
        self._data_version: int | None = None
        self.reads = 0  # queries run (the rest were answered from the cache)

    def install(self, conn: sqlite3.Connection) -> None:
        """Have `conn` (the writer) report the changes that alter an answer."""
        conn.create_function(_CHANGED, 1, self._changed)
        for number, (table, event, row) in enumerate(_TRIGGERS):
            conn.execute(
                f"CREATE TEMP TRIGGER IF NOT EXISTS notification_targets_{number} "
                f"AFTER {event} ON main.{table} "
                f"BEGIN SELECT {_CHANGED}({row}.room_id); END"
            )

    def read(self, conn: sqlite3.Connection, room_id: str) -> Targets:
        """The room's targets, inside the writer's open transaction."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:  # someone else committed: trust nothing kept
            self._rooms.clear()
            self._data_version = version
        targets = self._rooms.get(room_id)
        if targets is None:
            targets = read_notification_targets(conn, room_id)
            self.reads += 1
            if len(self._rooms) >= MAX_ROOMS:
                self._rooms.clear()
            self._rooms[room_id] = targets
        return targets

    def rolled_back(self) -> None:
        """Some of the transaction's writes were undone: forget every answer."""
        self._rooms.clear()

    def _changed(self, room_id: str | None) -> None:
        if room_id is not None:
            self._rooms.pop(room_id, None)
