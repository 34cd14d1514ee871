"""API keys: long-lived credentials for integrations and bots (AppSync's `x-api-key`).

Each key acts as the account it names (`CHATQL_API_KEYS=bot=<key>,...`), which must exist when
the key is used. Only SHA-256 digests of the keys are kept: a presented key is hashed and looked
up in a dict, so how long a refusal takes says nothing about how much of a key was right.
"""

from __future__ import annotations

import hashlib
import re

from chatql.errors import Unauthenticated
from chatql.services.validation import USERNAME_RE
from chatql.store.base import Store
from chatql.store.records import UserRecord, now_utc

KEY_RE = re.compile(r"[A-Za-z0-9_-]{24,256}")
KEY_RULE = "at least 24 (at most 256) characters of A-Z, a-z, 0-9, '_' or '-'"
INVALID_KEY = "Invalid API key"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_api_keys(raw: str) -> dict[bytes, str]:
    """`username=key` entries, comma-separated, as {digest of key: username}.

    Raises ValueError naming the bad entry by position and username, never by its key. One
    account may have several keys (rotate by adding the new one before removing the old).
    """
    keys: dict[bytes, str] = {}
    seen: dict[bytes, int] = {}
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    for number, entry in enumerate(entries, start=1):
        username, separator, key = entry.partition("=")
        username, key = username.strip().lower(), key.strip()
        if not separator or not username:
            raise ValueError(f"entry {number} must look like <username>=<key>")
        if not USERNAME_RE.match(username):
            raise ValueError(
                f"entry {number}: the username must be 3-32 characters of a-z, 0-9, '_', '.' or '-'"
            )
        if not KEY_RE.fullmatch(key):
            raise ValueError(f"entry {number} (for {username!r}): the key must be {KEY_RULE}")
        hashed = digest(key)
        if hashed in seen:
            raise ValueError(f"entries {seen[hashed]} and {number} have the same key")
        seen[hashed] = number
        keys[hashed] = username
    return keys


class ApiKeys:
    """Turns a presented API key into the account it acts as."""

    def __init__(self, raw: str, store: Store) -> None:
        self._keys = parse_api_keys(raw)
        self._store = store

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    async def authenticate(self, key: str) -> UserRecord:
        """The key's account; UNAUTHENTICATED for an unknown key or an account that is gone."""
        username = self._keys.get(digest(key)) if KEY_RE.fullmatch(key) else None
        if username is None:
            raise Unauthenticated(INVALID_KEY)
        user = await self._store.get_user_by_username(username)
        if user is None or user.deleted_at is not None:
            raise Unauthenticated("The API key's account does not exist")
        if user.expires_at is not None and user.expires_at <= now_utc():
            raise Unauthenticated("The API key's account has expired")
        return user
