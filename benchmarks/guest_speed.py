"""Guest speed probe: the CPU milliseconds a fixed workload takes on this machine, now.

    taskset -c 0 python benchmarks/guest_speed.py      # prints one number; lower is faster

Virtual machines change speed with their neighbours, from one hour to the next, by a third
or more: a benchmark run measured on a slow hour is not worse code. `run.py` runs this probe
pinned on the server's core before and after its scenarios and records both numbers, so runs
on different days can be told apart by the machine as well as by the code. The workload looks
like a chat server's: pure-Python work, then small SQLite transactions in WAL mode (four
inserts into 500 "rooms" each, committed without fsync), whose page writes are system calls.
The process's CPU time (user + system) is measured, best of five, so waiting does not count.
Standard library only.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time

LOOP = 2_000_000
TRANSACTIONS = 2_000
ROWS_PER_TRANSACTION = 4
ROOMS = 500


def workload() -> float:
    """CPU milliseconds of one round."""
    started = time.process_time()
    total = 0
    for i in range(LOOP):
        total += i
    with tempfile.TemporaryDirectory(prefix="chatql-speed-") as folder:
        conn = sqlite3.connect(os.path.join(folder, "probe.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, room INTEGER, body TEXT)")
        conn.execute("CREATE INDEX t_room ON t (room, id)")
        body = "x" * 100
        for n in range(TRANSACTIONS):
            conn.execute("BEGIN")
            for k in range(ROWS_PER_TRANSACTION):
                room = (n * 7 + k * 131) % ROOMS
                conn.execute("INSERT INTO t (room, body) VALUES (?, ?)", (room, body))
            conn.execute("COMMIT")
        conn.close()
    return (time.process_time() - started) * 1000


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"{min(workload() for _ in range(max(1, rounds))):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
