"""Guests: people who read public rooms without an account.

A guest is a user with role GUEST and an expiry. The schema refuses every write to them
(`chatql.security.guests`), rooms let them read and follow public rooms without joining, and
the sweeper deletes them once they expire (they never wrote anything, so nothing points at
them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta

from chatql.config import Settings
from chatql.errors import Forbidden
from chatql.security.rate_limit import RateLimiter
from chatql.services.account_tokens import AccountTokens
from chatql.services.accounts import Accounts, Session
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import UserRecord, now_utc

log = logging.getLogger("chatql.guests")
SWEEP_INTERVAL = 60.0
SWEEP_BATCH = 500


class Guests:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        accounts: Accounts,
        limit: RateLimiter,
        tokens: AccountTokens,
    ) -> None:
        self._store = store
        self._settings = settings
        self._accounts = accounts
        self._limit = limit
        self._tokens = tokens
        self._task: asyncio.Task[None] | None = None

    async def start_session(self, client: str) -> Session:
        if not self._settings.guest_access:
            raise Forbidden("Guest access is off on this server", reason="GUEST_ACCESS_OFF")
        self._limit.hit(f"guest|{client}", "guest sessions")
        now = now_utc()
        tag = secrets.token_hex(4)
        guest = UserRecord(
            id=new_id(),
            username=f"guest-{tag}",
            display_name=f"Guest {tag[:4].upper()}",
            password_hash="",
            created_at=now,
            role="GUEST",
            expires_at=now + timedelta(seconds=self._settings.guest_ttl),
        )
        await self._accounts.create_user(guest)
        return await self._accounts.start_session(guest, family_id=new_id())

    # ------------------------------------------------------------ sweeping
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> int:
        """Delete expired guests (and expired account tokens); how many guests went."""
        removed = 0
        while True:
            batch = await self._store.expired_guests(now_utc(), SWEEP_BATCH)
            for guest in batch:
                removed += await self._store.delete_user(guest.id)
            if len(batch) < SWEEP_BATCH:
                break
        await self._tokens.purge()
        return removed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self.sweep()
            except Exception:  # the next round tries again
                log.exception("sweeping expired guests failed")
