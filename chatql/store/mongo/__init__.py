"""The MongoDB store: pymongo's asyncio client against a replica set.

It mirrors `SQLiteStore` method for method, one module per concept on a shared
`MongoEngine` (client, collections, writes, change feed); `indexes` lists what `open`
creates, `documents` how records map to documents, `feed` the change stream.
"""

from __future__ import annotations

from chatql.store.mongo.accounts import AccountStore
from chatql.store.mongo.assistant import AssistantStore
from chatql.store.mongo.engine import database_name
from chatql.store.mongo.feed import WATCHED_COLLECTIONS
from chatql.store.mongo.messages import MessageStore
from chatql.store.mongo.notifications import NotificationStore
from chatql.store.mongo.presence import PresenceStore
from chatql.store.mongo.reactions import ReactionStore
from chatql.store.mongo.rooms import RoomStore
from chatql.store.mongo.streams import StreamStore
from chatql.store.mongo.uploads import UploadStore
from chatql.store.mongo.users import UserStore


class MongoStore(
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


__all__ = ["WATCHED_COLLECTIONS", "MongoStore", "database_name"]
