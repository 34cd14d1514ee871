"""Store write benchmark: CPU per stored message on the SQLite store, without HTTP or sockets.

    python benchmarks/store_writes.py                  # 20 000 sends, three runs
    taskset -c 0 python benchmarks/store_writes.py     # pinned, as the numbers in the README

The many-rooms scenario's write, alone: 200 rooms of 4 members, `insert_message` with a
notification rule that notifies nobody (every member watches the room, as in that scenario),
8 sends per turn of the loop so the writer commits them as one group, as it does under load.
It reports the process's CPU time per message (user + system: the WAL's writes are system
calls), so a change to the schema, the statements or the writer shows here with less noise
than in a whole-server run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Sequence

from chatql.store.ids import new_id
from chatql.store.records import (
    MembershipRecord,
    MessageRecord,
    NotificationRecord,
    RoomRecord,
    UserRecord,
    now_utc,
)
from chatql.store.sqlite import SQLiteStore

ROOMS = 200
MEMBERS = 4
GROUP = 8


def no_notifications(
    message: MessageRecord, targets: Sequence[tuple[str, bool, bool]]
) -> list[NotificationRecord]:
    """As in the many-rooms scenario, where every member watches the room: nobody to notify."""
    return []


async def run_once(sends: int, warmup: int) -> float:
    """CPU seconds per message for `sends` messages after `warmup` ones."""
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(f"sqlite:///{folder}/bench.db")
        await store.open()
        try:
            now = now_utc()
            users = [UserRecord(new_id(), f"u{i}", f"U {i}", "", now) for i in range(ROOMS * 4)]
            for user in users:
                await store.create_user(user)
            rooms: list[tuple[str, list[str]]] = []
            for r in range(ROOMS):
                ids = [users[MEMBERS * r + k].id for k in range(MEMBERS)]
                room = RoomRecord(new_id(), f"room {r}", ids[0], ids[0], now, now, now)
                await store.create_room(
                    room, [MembershipRecord(room.id, i, "MEMBER", now) for i in ids]
                )
                rooms.append((room.id, ids))
            rng = random.Random(1)

            async def send(n: int) -> None:
                room_id, members = rng.choice(rooms)
                await store.insert_message(
                    room_id=room_id,
                    author_id=rng.choice(members),
                    content=f"message {n} of the store benchmark",
                    message_type="TEXT",
                    client_id=None,
                    notify=no_notifications,
                )

            async def batch(start: int) -> None:
                await asyncio.gather(*(send(start + k) for k in range(GROUP)))

            for n in range(0, warmup, GROUP):
                await batch(n)
            started = time.process_time()
            for n in range(0, sends, GROUP):
                await batch(warmup + n)
            return (time.process_time() - started) / sends
        finally:
            await store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sends", type=int, default=20_000, help="measured sends per run")
    p.add_argument("--warmup", type=int, default=2_000, help="sends before measuring")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    if args.sends < GROUP or args.warmup < 0 or args.runs < 1:
        p.error("--sends must be at least 8, --warmup at least 0, --runs at least 1")
    results = [asyncio.run(run_once(args.sends, args.warmup)) * 1e6 for _ in range(args.runs)]
    runs = ", ".join(f"{r:.1f}" for r in results)
    print(f"store writes: {statistics.median(results):.1f} us CPU per message (runs: {runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
