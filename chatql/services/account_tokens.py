"""Single-use secrets for links in mails and for login codes.

The secret travels to the user once; the store keeps only its SHA-256 digest (the secrets are
32 random bytes, so a plain digest cannot be reversed), its purpose, and when it expires.
Redeeming marks it used in one conditional write, so two clicks on a link work once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from chatql.auth import digest_refresh_token
from chatql.errors import BadUserInput
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import AccountTokenRecord, now_utc

MAX_TOKEN_LENGTH = 256


class AccountTokens:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def issue(
        self,
        purpose: str,
        ttl: float,
        *,
        user_id: str | None = None,
        email: str | None = None,
        data: str | None = None,
    ) -> str:
        raw = secrets.token_urlsafe(32)
        now = now_utc()
        await self._store.insert_account_token(
            AccountTokenRecord(
                id=new_id(),
                purpose=purpose,
                token_hash=digest_refresh_token(raw),
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
                user_id=user_id,
                email=email,
                data=data,
            )
        )
        return raw

    async def check(self, raw: str, purpose: str, field: str = "token") -> AccountTokenRecord:
        """The token's record if it may still be redeemed (not used, not expired)."""
        if not isinstance(raw, str) or not raw or len(raw) > MAX_TOKEN_LENGTH:
            raise BadUserInput("This link is not valid", field=field)
        record = await self._store.get_account_token(digest_refresh_token(raw.strip()))
        if record is None or record.purpose != purpose:
            raise BadUserInput("This link is not valid", field=field)
        if record.used_at is not None:
            raise BadUserInput("This link was already used", field=field)
        if record.expires_at <= now_utc():
            raise BadUserInput("This link has expired; ask for a new one", field=field)
        return record

    async def redeem(self, raw: str, purpose: str, field: str = "token") -> AccountTokenRecord:
        record = await self.check(raw, purpose, field)
        if not await self._store.use_account_token(record.id, now_utc()):
            raise BadUserInput("This link was already used", field=field)
        return record

    async def purge(self) -> int:
        """Expired tokens are useless: drop those a day past their expiry."""
        return await self._store.purge_account_tokens(now_utc() - timedelta(days=1))
