"""The embedded default store: SQLite in WAL mode, each connection on a thread of its own.

(The model aiosqlite uses, made our own so that a whole transaction, or a group of them, is
one hop to the writer thread; see `worker.py`.)

One writer thread runs every write, committing queued writes together, so the per-room `seq` is
assigned and committed in order and the change feed (`LocalFeed`) sees commits in exactly that
order. Reads go to a small pool of reader threads, which in WAL mode only ever see committed
data. Each concept lives in its own module; this class puts them together.
"""

from __future__ import annotations

from chatql.store.sqlite.accounts import AccountStore
from chatql.store.sqlite.assistant import AssistantStore
from chatql.store.sqlite.engine import sqlite_path
from chatql.store.sqlite.messages import MessageStore
from chatql.store.sqlite.notifications import NotificationStore
from chatql.store.sqlite.presence import PresenceStore
from chatql.store.sqlite.reactions import ReactionStore
from chatql.store.sqlite.rooms import RoomStore
from chatql.store.sqlite.streams import StreamStore
from chatql.store.sqlite.uploads import UploadStore
from chatql.store.sqlite.users import UserStore


class SQLiteStore(
    UserStore,
    RoomStore,
    MessageStore,
    ReactionStore,
    PresenceStore,
    NotificationStore,
    UploadStore,
    AccountStore,
    StreamStore,
    AssistantStore,
):
    """Implements `chatql.store.base.Store`."""


__all__ = ["SQLiteStore", "sqlite_path"]
