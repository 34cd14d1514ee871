"""Record ids: 32 lower-case hex characters from the OS's random source, never shared by a fork;
messages' ids start with their millisecond."""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime

from chatql.services.validation import entity_id
from chatql.store.ids import new_id, time_ordered_id
from chatql.store.records import MessageRecord, now_utc


def test_ids_are_well_formed_and_distinct_across_many_pools() -> None:
    ids = [new_id() for _ in range(5000)]  # about twenty 4 KB pools
    # time-ordered ids take 10 bytes of the same pools: mixed in, the pools still never overlap
    ids += [make() for _ in range(2000) for make in (time_ordered_id, new_id)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and entity_id(i, "id") == i for i in ids)


def test_threads_never_get_the_same_id() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def take(into: list[str]) -> None:
        into.extend(new_id() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in found for i in ids]
    assert len(set(every)) == len(every) == 8000


def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    new_id()  # the parent has a pool with ids left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(new_id() for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    parent = [new_id() for _ in range(8)]
    assert len(child) == 8 * 32
    assert not {child[i : i + 32] for i in range(0, len(child), 32)} & set(parent)


def test_time_ordered_ids_start_with_their_millisecond_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = time_ordered_id()
    time.sleep(0.002)
    second = time_ordered_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(first[:12], 16) < int(second[:12], 16) <= after
    assert first < second
    # the rest is random: ids of one millisecond differ there
    same_ms = [time_ordered_id() for _ in range(200)]
    assert len({i[12:] for i in same_ms}) == 200


def test_a_new_message_gets_a_time_ordered_id() -> None:
    message = MessageRecord.new(
        room_id=new_id(),
        author_id=new_id(),
        content="hi",
        message_type="TEXT",
        seq=1,
        client_id=None,
        reply_to_id=None,
        now=now_utc(),
    )
    made = datetime.fromtimestamp(int(message.id[:12], 16) / 1000, UTC)
    assert abs((made - message.created_at).total_seconds()) < 5
