"""Record ids: 32 lower-case hex characters from the OS's random source, never shared by a fork."""

from __future__ import annotations

import os
import re
import threading

from chatql.services.validation import entity_id
from chatql.store.base import new_id


def test_ids_are_well_formed_and_distinct_across_many_pools() -> None:
    ids = [new_id() for _ in range(5000)]  # about twenty 4 KB pools
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
