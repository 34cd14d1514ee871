"""Accounts and sessions: register, log in, rotate refresh tokens, log out, profiles, search.

Refresh tokens are rotated on every use. Presenting a token that was already rotated means it
leaked (or a client raced itself): the whole family is revoked, so a thief's copy dies too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chatql.auth import (
    AccessTokens,
    PasswordHashing,
    digest_refresh_token,
    new_refresh_token,
)
from chatql.config import Settings
from chatql.errors import BadUserInput, Conflict, StoreConflict, Unauthenticated
from chatql.security.rate_limit import RateLimiter
from chatql.services import pagination, validation
from chatql.services.files import Files
from chatql.services.pagination import Page
from chatql.services.record_cache import RecordCache
from chatql.store.base import RefreshTokenRecord, Store, UserRecord, new_id, now_utc

BAD_CREDENTIALS = "Invalid username or password"


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime
    user: UserRecord


class Accounts:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        passwords: PasswordHashing,
        tokens: AccessTokens,
        auth_limit: RateLimiter,
        users: RecordCache[UserRecord],
        files: Files,
    ) -> None:
        self._users = users
        self._files = files
        self._store = store
        self._auth_limit = auth_limit
        self._passwords = passwords
        self._tokens = tokens
        self._refresh_ttl = timedelta(seconds=settings.refresh_token_ttl)

    # ------------------------------------------------------------ sessions
    async def register(
        self, username: str, password: str, display_name: str | None, client: str = ""
    ) -> Session:
        name = validation.username(username)
        self._auth_limit.hit(f"{client}|{name}", "sign-up attempts")
        validation.password(password)
        shown = validation.text(
            display_name, "displayName", validation.MAX_DISPLAY_NAME, required=False
        )
        if await self._store.get_user_by_username(name) is not None:
            raise Conflict("That username is taken", field="username")
        user = UserRecord(
            id=new_id(),
            username=name,
            display_name=shown or name,
            password_hash=await self._passwords.hash(password),
            created_at=now_utc(),
        )
        try:
            await self._store.create_user(user)
        except StoreConflict:
            raise Conflict("That username is taken", field="username") from None
        return await self._start_session(user, family_id=new_id())

    async def login(self, username: str, password: str, client: str = "") -> Session:
        self._auth_limit.hit(f"{client}|{username.strip().lower()[:64]}", "sign-in attempts")
        user = None
        if validation.USERNAME_RE.match(username.strip().lower()) and len(password) <= 128:
            user = await self._store.get_user_by_username(username.strip().lower())
        ok = await self._passwords.verify(user.password_hash if user else None, password[:128])
        if not ok or user is None:
            raise Unauthenticated(BAD_CREDENTIALS)
        return await self._start_session(user, family_id=new_id())

    async def refresh(self, refresh_token: str, client: str = "") -> Session:
        self._auth_limit.hit(f"{client}|refresh", "token refreshes")
        record = await self._valid_refresh_token(refresh_token)
        now = now_utc()
        if not await self._store.revoke_refresh_token(record.id, now):
            # Lost a race with another use of the same token: that is a reuse too.
            await self._store.revoke_token_family(record.family_id, now)
            raise Unauthenticated("Refresh token was already used")
        user = await self._store.get_user(record.user_id)
        if user is None:
            raise Unauthenticated("Invalid refresh token")
        return await self._start_session(user, family_id=record.family_id)

    async def logout(self, refresh_token: str, all_devices: bool) -> bool:
        record = await self._valid_refresh_token(refresh_token)
        now = now_utc()
        if all_devices:
            await self._store.revoke_user_tokens(record.user_id, now)
            # Every access token carries the version; bumping it invalidates them all at once.
            await self._store.bump_token_version(record.user_id)
            self._users.forget(record.user_id)
        else:
            await self._store.revoke_token_family(record.family_id, now)
        return True

    async def change_password(
        self, viewer: UserRecord, old_password: str, new_password: str, client: str = ""
    ) -> Session:
        """Every other session ends: refresh tokens revoked, access tokens and sockets too."""
        self._auth_limit.hit(f"{client}|{viewer.username}", "password changes")
        validation.password(new_password)
        current = await self._store.get_user(viewer.id)
        if current is None or not await self._passwords.verify(
            current.password_hash, old_password[:128]
        ):
            raise Unauthenticated("The current password is wrong")
        new_hash = await self._passwords.hash(new_password)
        await self._store.update_user(viewer.id, {"password_hash": new_hash})
        await self._store.revoke_user_tokens(viewer.id, now_utc())
        await self._store.bump_token_version(viewer.id)
        self._users.forget(viewer.id)
        user = await self._store.get_user(viewer.id)
        assert user is not None
        return await self._start_session(user, family_id=new_id())

    async def _valid_refresh_token(self, refresh_token: str) -> RefreshTokenRecord:
        if not refresh_token or len(refresh_token) > 256:
            raise Unauthenticated("Invalid refresh token")
        record = await self._store.get_refresh_token(digest_refresh_token(refresh_token))
        if record is None:
            raise Unauthenticated("Invalid refresh token")
        if record.revoked_at is not None:
            await self._store.revoke_token_family(record.family_id, now_utc())
            raise Unauthenticated("Refresh token was already used")
        if record.expires_at <= now_utc():
            raise Unauthenticated("Refresh token expired")
        return record

    async def _start_session(self, user: UserRecord, family_id: str) -> Session:
        refresh = new_refresh_token()
        now = now_utc()
        await self._store.insert_refresh_token(
            RefreshTokenRecord(
                id=new_id(),
                user_id=user.id,
                family_id=family_id,
                token_hash=digest_refresh_token(refresh),
                created_at=now,
                expires_at=now + self._refresh_ttl,
            )
        )
        access, expires = self._tokens.issue(user.id, user.token_version)
        return Session(access_token=access, refresh_token=refresh, expires_at=expires, user=user)

    async def authenticate(self, access_token: str) -> UserRecord:
        """The user an access token speaks for, if the token is valid and not revoked."""
        claims = self._tokens.verify(access_token)
        user = await self._users.get(claims.user_id)
        if user is None or user.token_version != claims.token_version:
            raise Unauthenticated("Access token was revoked")
        return user

    # ------------------------------------------------------------ profiles
    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._store.get_user(validation.entity_id(user_id, "id"))

    async def update_profile(
        self,
        viewer: UserRecord,
        display_name: str | None,
        avatar_url: str | None,
        *,
        clear_avatar: bool = False,
        avatar_upload_id: str | None = None,
    ) -> UserRecord:
        """`avatar_upload_id` (a completed image upload) wins over `avatar_url`; either one,
        or clearing, makes a previous uploaded avatar unreachable."""
        changes: dict[str, object] = {}
        if display_name is not None:
            changes["display_name"] = validation.required_text(
                display_name, "displayName", validation.MAX_DISPLAY_NAME
            )
        if avatar_upload_id is not None and (avatar_url is not None or clear_avatar):
            raise BadUserInput("Give avatarUploadId or avatarUrl, not both", field="avatarUrl")
        if avatar_url is not None:
            changes["avatar_url"] = validation.url(avatar_url, "avatarUrl")
        elif clear_avatar:
            changes["avatar_url"] = None
        if not changes and avatar_upload_id is None:
            raise BadUserInput("Nothing to update", field="input")
        if avatar_upload_id is not None:
            changes["avatar_url"] = await self._files.avatar(viewer, avatar_upload_id)
        elif "avatar_url" in changes:
            await self._files.avatar_replaced(viewer)
        updated = await self._store.update_user(viewer.id, changes)
        self._users.forget(viewer.id)
        if updated is None:
            raise Unauthenticated("Account no longer exists")
        return updated

    async def search_users(
        self, term: str, limit: int | None, next_token: str | None
    ) -> Page[UserRecord]:
        cleaned = validation.required_text(term, "term", validation.MAX_SEARCH_TERM)
        size = validation.page_limit(limit, 20)
        after = None
        if next_token is not None:
            parts = pagination.decode("u", next_token)
            if len(parts) != 1 or not isinstance(parts[0], str):
                raise BadUserInput("nextToken is not a valid token", field="nextToken")
            after = parts[0]
        users = await self._store.search_users(cleaned, size + 1, after)
        more = len(users) > size
        users = users[:size]
        token = pagination.encode("u", users[-1].username) if more and users else None
        return Page(users, token)
