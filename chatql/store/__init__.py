"""Storage backends behind one protocol; `open_store` picks one from the database URL."""

from __future__ import annotations

from chatql.config import Settings
from chatql.store.base import Store


def create_store(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith("sqlite:"):
        from chatql.store.sqlite import SQLiteStore

        return SQLiteStore(
            url,
            read_connections=settings.sqlite_read_connections,
            cache_mb=settings.sqlite_cache_mb,
            synchronous=settings.sqlite_synchronous.upper(),
        )
    from chatql.store.mongo import MongoStore

    return MongoStore(url)
