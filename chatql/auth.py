"""Credentials: argon2id password hashes and HS256 access tokens.

Hashing is deliberately slow, so it runs on a small bounded thread pool, never on the event
loop. Access tokens are short-lived JWTs pinned to HS256 with iss/aud checked; refresh tokens
are opaque random strings of which only a SHA-256 digest is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chatql.config import Settings
from chatql.errors import Unauthenticated
from chatql.store.ids import new_id
from chatql.store.records import now_utc

ALGORITHM = "HS256"
VERIFIED_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    token_version: int
    jti: str
    expires_at: datetime


class PasswordHashing:
    """argon2id on a bounded pool of worker threads."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.password_workers, thread_name_prefix="argon2"
        )
        # Verified against when the username does not exist, so both failures cost the same.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        target = password_hash or self._dummy_hash

        def check() -> bool:
            try:
                return self._hasher.verify(target, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        ok = await loop.run_in_executor(self._pool, check)
        return ok and password_hash is not None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class AccessTokens:
    """Issue and verify the short-lived access JWTs."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = timedelta(seconds=settings.access_token_ttl)
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: str, token_version: int) -> tuple[str, datetime]:
        issued = now_utc()
        expires = issued + self._ttl
        claims = {
            "sub": user_id,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
            "jti": new_id(),
            "ver": token_version,
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return token, expires.replace(microsecond=0)

    def verify(self, token: str) -> AccessClaims:
        """Check signature, expiry, issuer and audience. A token already verified is
        remembered until it expires (clients send the same one with every request)."""
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at.timestamp() > time.time():
                return known
            del self._verified[token]
        claims = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Access token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("Invalid access token") from None
        version = claims.get("ver", 0)
        if not isinstance(claims["sub"], str) or not isinstance(version, int):
            raise Unauthenticated("Invalid access token")
        return AccessClaims(
            user_id=claims["sub"],
            token_version=version,
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"]).astimezone(),
        )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def digest_refresh_token(token: str) -> str:
    """Refresh tokens are high-entropy, so a plain SHA-256 is a safe at-rest form."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (AppSync clients send it bare)."""
    if not header_value:
        return None
    scheme, _, rest = header_value.strip().partition(" ")
    if rest and scheme.lower() == "bearer":
        return rest.strip() or None
    if not rest:
        return scheme
    return None
