"""Ids and keys: random ids from a pooled OS source, time-ordered message ids, and the keys
of records that join two others (a membership, a reaction, a linked identity)."""

from __future__ import annotations

import os
import threading
import time


class _RandomIds:
    """128-bit random ids from the OS's random source, read 4 KB at a time.

    uuid4 asks the kernel for 16 bytes per id: a system call for every message, notification
    and membership, which on a virtual machine costs more than the rest of making the id. The
    bytes are the same CSPRNG's; a forked child starts with a fresh pool (none shared).
    """

    POOL = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def next(self, size: int = 16) -> str:
        """`size` random bytes (at most 16) as hex."""
        with self._lock:
            at = self._at
            if at + size > len(self._pool):
                self._pool, at = os.urandom(self.POOL), 0
            self._at = at + size
            return self._pool[at : at + size].hex()

    def reset(self) -> None:
        """In a forked child: a new pool, and a new lock (another thread may have held it)."""
        self._lock = threading.Lock()
        self._pool, self._at = b"", 0


_ids = _RandomIds()
os.register_at_fork(after_in_child=_ids.reset)


def new_id() -> str:
    """32 random lower-case hex characters."""
    return _ids.next()


def time_ordered_id() -> str:
    """32 lower-case hex characters: the milliseconds since 1970 (12), then 80 random bits.

    For messages, the rows written most: ids that grow with time enter their indexes (the id's,
    and the author's) at the end, where the latest entries' pages are, instead of at a random
    page each, so a group of messages dirties fewer pages for the WAL and the checkpoint. The
    time they tell is the message's createdAt, which is public anyway; 80 random bits keep
    them unguessable.
    """
    return f"{time.time_ns() // 1_000_000:012x}{_ids.next(10)}"


def identity_id(provider: str, subject: str) -> str:
    return f"{provider}:{subject}"


def reaction_id(room_id: str, message_id: str, user_id: str, emoji: str) -> str:
    """Ids are fixed-length hex, so the emoji (which may contain ':') is simply the rest."""
    return f"{room_id}:{message_id}:{user_id}:{emoji}"


def parse_reaction_id(key: str) -> tuple[str, str, str, str]:
    return key[:32], key[33:65], key[66:98], key[99:]


def membership_id(room_id: str, user_id: str) -> str:
    """Memberships are keyed by both ids so a delete event alone says who left which room."""
    return f"{room_id}:{user_id}"
