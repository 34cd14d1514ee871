"""Accounts reached through an OpenID provider.

A verified ID token ends in a one-time login code (two minutes, single use) that the web app
exchanges for tokens, so tokens never travel in a URL. An external identity links to an
existing account only through a verified email on both sides: the provider vouches for its
address, and the account proved it too. An unverified claim to the same address on another
account does not block the person who proves it; that account loses the address instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict

from chatql.errors import BadUserInput, Conflict, StoreConflict, Unauthenticated
from chatql.oidc.client import ExternalIdentity
from chatql.security.rate_limit import RateLimiter
from chatql.services import validation
from chatql.services.account_tokens import AccountTokens
from chatql.services.accounts import Accounts, Session
from chatql.services.record_cache import RecordCache
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import IdentityRecord, UserRecord, now_utc

LOGIN_CODE = "LOGIN_CODE"
LOGIN_CODE_TTL = 120
_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")


class SocialAccounts:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        tokens: AccountTokens,
        limit: RateLimiter,
        users: RecordCache[UserRecord],
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._tokens = tokens
        self._limit = limit
        self._users = users

    async def login_code(self, identity: ExternalIdentity) -> str:
        return await self._tokens.issue(
            LOGIN_CODE, LOGIN_CODE_TTL, data=json.dumps(asdict(identity))
        )

    async def exchange(self, code: str, accept_terms: bool | None, client: str = "") -> Session:
        """The code is spent only when it yields a session: a new account that still has
        to accept the terms may try again with the same code."""
        self._limit.hit(f"{client}|login-code", "sign-in attempts")
        record = await self._tokens.check(code, LOGIN_CODE, field="code")
        try:
            identity = ExternalIdentity(**json.loads(record.data or "{}"))
        except (TypeError, ValueError):
            raise BadUserInput("This sign-in code is not valid", field="code") from None
        user = await self._account_for(identity, accept_terms)
        await self._tokens.redeem(code, LOGIN_CODE, field="code")
        return await self._accounts.start_session(user, family_id=new_id())

    async def _account_for(
        self, identity: ExternalIdentity, accept_terms: bool | None
    ) -> UserRecord:
        linked = await self._linked_user(identity)
        if linked is not None:
            return linked
        email = identity.email if identity.email_verified else None
        owner: UserRecord | None = None
        if email is not None:
            owner = await self._store.get_user_by_email(email)
            if owner is not None and owner.deleted_at is None and owner.email_verified:
                return await self._link(identity, owner)
        terms = self._accounts.terms_acceptance(accept_terms)
        if email is not None and owner is not None:
            # An unverified claim to the address: the provider's proof wins.
            await self._store.update_user(owner.id, {"email": None, "email_verified": False})
            self._users.forget(owner.id)
        user = UserRecord(
            id=new_id(),
            username=await self._free_username(identity),
            display_name=(identity.name or identity.preferred_username or "New user")[
                : validation.MAX_DISPLAY_NAME
            ],
            password_hash="",
            created_at=now_utc(),
            email=email,
            email_verified=email is not None,
            **terms,  # type: ignore[arg-type]
        )
        await self._accounts.create_user(user)
        try:
            return await self._link(identity, user)
        except Conflict:
            await self._store.delete_user(user.id)  # a parallel exchange linked it first
            linked = await self._linked_user(identity)
            if linked is None:
                raise
            return linked

    async def _linked_user(self, identity: ExternalIdentity) -> UserRecord | None:
        link = await self._store.get_identity(identity.provider, identity.subject)
        if link is None:
            return None
        user = await self._store.get_user(link.user_id)
        if user is None or user.deleted_at is not None:
            raise Unauthenticated("This account was deleted")
        return user

    async def _link(self, identity: ExternalIdentity, user: UserRecord) -> UserRecord:
        try:
            await self._store.insert_identity(
                IdentityRecord(
                    provider=identity.provider,
                    subject=identity.subject,
                    user_id=user.id,
                    created_at=now_utc(),
                    email=identity.email,
                )
            )
        except StoreConflict:
            raise Conflict("This account is already linked", field="code") from None
        return user

    async def _free_username(self, identity: ExternalIdentity) -> str:
        """The provider's username, or the email's local part, made valid and unique."""
        seed = identity.preferred_username or (identity.email or "").partition("@")[0]
        base = _NOT_NAME.sub("", seed.lower())[:24].strip(".-") or "user"
        if len(base) < 3:
            base = f"{base}user"
        candidates = [base] + [f"{base}{n}" for n in range(2, 10)]
        candidates += [f"{base}-{new_id()[:6]}" for _ in range(3)]
        taken = await self._store.get_users_by_usernames(candidates)
        held = await self._store.username_holds(candidates, now_utc())
        for name in candidates:
            if name not in taken and name not in held:
                return name
        return f"user-{new_id()[:12]}"
