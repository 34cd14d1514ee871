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
from chatql.errors import BadUserInput, Conflict, Forbidden, StoreConflict, Unauthenticated
from chatql.security.rate_limit import RateLimiter
from chatql.services import pagination, validation
from chatql.services.account_mail import AccountMail
from chatql.services.files import Files
from chatql.services.pagination import Page
from chatql.services.record_cache import RecordCache
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import RefreshTokenRecord, UserRecord, now_utc

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
        mail: AccountMail,
    ) -> None:
        self._users = users
        self._files = files
        self._mail = mail
        self._settings = settings
        self._store = store
        self._auth_limit = auth_limit
        self._passwords = passwords
        self._tokens = tokens
        self._refresh_ttl = timedelta(seconds=settings.refresh_token_ttl)

    # ------------------------------------------------------------ sessions
    async def register(
        self,
        username: str,
        password: str,
        display_name: str | None,
        client: str = "",
        *,
        email: str | None = None,
        accept_terms: bool | None = None,
    ) -> Session:
        name = validation.username(username)
        self._auth_limit.hit(f"{client}|{name}", "sign-up attempts")
        validation.password(password)
        shown = validation.text(
            display_name, "displayName", validation.MAX_DISPLAY_NAME, required=False
        )
        address = self.checked_email(email)
        terms = self.terms_acceptance(accept_terms)
        if await self._store.get_user_by_username(name) is not None:
            raise Conflict("That username is taken", field="username")
        user = UserRecord(
            id=new_id(),
            username=name,
            display_name=shown or name,
            password_hash=await self._passwords.hash(password),
            created_at=now_utc(),
            email=address,
            **terms,  # type: ignore[arg-type]
        )
        await self.create_user(user)
        if address is not None:
            await self._mail.send_verification(user, client)
        return await self.start_session(user, family_id=new_id())

    def checked_email(self, email: str | None) -> str | None:
        """The address a sign-up gives, as the email mode wants it."""
        mode = self._settings.effective_email_mode
        if email is None or not email.strip():
            if mode == "required":
                raise BadUserInput("An email address is required", field="email")
            return None
        if mode == "off":
            raise BadUserInput("Email is not enabled on this server", field="email")
        return validation.email(email)

    def terms_acceptance(self, accept_terms: bool | None) -> dict[str, object]:
        """What a new account records about the terms; refused unless they are accepted."""
        version = self._settings.terms_version
        if not version:
            return {}
        if accept_terms is not True:
            raise BadUserInput(
                "Accept the terms of service to sign up", field="acceptTerms", termsVersion=version
            )
        return {"terms_version": version, "terms_accepted_at": now_utc()}

    async def create_user(self, user: UserRecord) -> None:
        try:
            await self._store.create_user(user)
        except StoreConflict as exc:
            if exc.constraint == "email":
                raise Conflict("That email is used by another account", field="email") from None
            raise Conflict("That username is taken", field="username") from None

    async def login(self, username: str, password: str, client: str = "") -> Session:
        self._auth_limit.hit(f"{client}|{username.strip().lower()[:64]}", "sign-in attempts")
        user = None
        login = username.strip().lower()
        if len(password) <= 128 and validation.USERNAME_RE.match(login):
            user = await self._store.get_user_by_username(login)
        elif len(password) <= 128 and validation.EMAIL_RE.match(login):
            # Signing in by email works only for a verified address: anyone may type any
            # address into their own profile.
            found = await self._store.get_user_by_email(login)
            user = found if found is not None and found.email_verified else None
        ok = await self._passwords.verify(user.password_hash if user else None, password[:128])
        if not ok or user is None or user.deleted_at is not None or user.is_guest or user.is_bot:
            raise Unauthenticated(BAD_CREDENTIALS)
        return await self.start_session(user, family_id=new_id())

    async def refresh(self, refresh_token: str, client: str = "") -> Session:
        self._auth_limit.hit(f"{client}|refresh", "token refreshes")
        record = await self._valid_refresh_token(refresh_token)
        now = now_utc()
        if not await self._store.revoke_refresh_token(record.id, now):
            # Lost a race with another use of the same token: that is a reuse too.
            await self._store.revoke_token_family(record.family_id, now)
            raise Unauthenticated("Refresh token was already used")
        user = await self._store.get_user(record.user_id)
        if user is None or user.deleted_at is not None:
            raise Unauthenticated("Invalid refresh token")
        return await self.start_session(user, family_id=record.family_id)

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
        return await self._set_password(viewer.id, new_password)

    async def reset_password(self, token: str, new_password: str, client: str = "") -> Session:
        """A mailed link sets a new password; every other session ends, as on a change."""
        self._auth_limit.hit(f"{client}|reset", "password resets")
        self._mail.ensure_enabled()
        validation.password(new_password)
        user = await self._mail.redeem_reset(token)
        return await self._set_password(user.id, new_password)

    async def end_sessions(self, user_id: str) -> None:
        """Refresh tokens revoked; access tokens and open sockets die with the version."""
        await self._store.revoke_user_tokens(user_id, now_utc())
        await self._store.bump_token_version(user_id)
        self._users.forget(user_id)

    async def _set_password(self, user_id: str, new_password: str) -> Session:
        new_hash = await self._passwords.hash(new_password)
        await self._store.update_user(user_id, {"password_hash": new_hash})
        await self.end_sessions(user_id)
        user = await self._store.get_user(user_id)
        if user is None:
            raise Unauthenticated("Account no longer exists")
        return await self.start_session(user, family_id=new_id())

    async def check_password(self, viewer: UserRecord, password: str) -> UserRecord:
        """Re-authentication for grave actions; the current record on success."""
        current = await self._store.get_user(viewer.id)
        if current is None or current.deleted_at is not None:
            raise Unauthenticated("Account no longer exists")
        if not current.has_password:
            raise Forbidden(
                "This account has no password yet: set one with a password reset first",
                reason="NO_PASSWORD",
            )
        if not await self._passwords.verify(current.password_hash, password[:128]):
            # The session is fine; the answer to the question is wrong.
            raise BadUserInput("The password is wrong", field="password")
        return current

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

    async def start_session(self, user: UserRecord, family_id: str) -> Session:
        """New tokens; a guest's refresh token lasts no longer than the guest."""
        refresh = new_refresh_token()
        now = now_utc()
        expires_at = now + self._refresh_ttl
        if user.expires_at is not None:
            expires_at = min(expires_at, user.expires_at)
        await self._store.insert_refresh_token(
            RefreshTokenRecord(
                id=new_id(),
                user_id=user.id,
                family_id=family_id,
                token_hash=digest_refresh_token(refresh),
                created_at=now,
                expires_at=expires_at,
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
        if user.deleted_at is not None:
            raise Unauthenticated("Account was deleted")
        if user.expires_at is not None and user.expires_at <= now_utc():
            raise Unauthenticated("Guest session expired")
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
        username: str | None = None,
        email: str | None = None,
        client: str = "",
    ) -> UserRecord:
        """`avatar_upload_id` (a completed image upload) wins over `avatar_url`; either one,
        or clearing, makes a previous uploaded avatar unreachable. A new username keeps the
        id (so rooms, messages and mentions stay the user's); a new email must be verified
        again. Everything is checked before anything is written."""
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
        new_name = validation.username(username) if username is not None else None
        if new_name == viewer.username:
            new_name = None
        address: str | None = None
        email_change = email is not None and (email.strip().lower() or None) != viewer.email
        if email_change:
            address = self.checked_email(email)
            changes["email"] = address
            changes["email_verified"] = False
        if not changes and avatar_upload_id is None and new_name is None:
            if username is not None or email is not None:
                return viewer  # the same name or address again: nothing to do
            raise BadUserInput("Nothing to update", field="input")
        if new_name is not None:
            self._auth_limit.hit(f"{client}|rename|{viewer.id}", "username changes")
            if await self._store.get_user_by_username(new_name) is not None:
                raise Conflict("That username is taken", field="username")
        if avatar_upload_id is not None:
            changes["avatar_url"] = await self._files.avatar(viewer, avatar_upload_id)
        elif "avatar_url" in changes:
            await self._files.avatar_replaced(viewer)
        if new_name is not None:
            await self._rename(viewer, new_name)
        try:
            updated = await self._store.update_user(viewer.id, changes)
        except StoreConflict:
            raise Conflict("That email is used by another account", field="email") from None
        self._users.forget(viewer.id)
        if updated is None:
            raise Unauthenticated("Account no longer exists")
        if email_change and updated.email is not None:
            await self._mail.send_verification(updated, client)
        return updated

    async def _rename(self, viewer: UserRecord, new_name: str) -> None:
        now = now_utc()
        hold_until = now + timedelta(seconds=self._settings.username_cooldown)
        try:
            renamed = await self._store.rename_user(viewer.id, new_name, hold_until, now)
        except StoreConflict:
            raise Conflict(
                "That username is taken or was given up recently", field="username"
            ) from None
        if renamed is None:
            raise Unauthenticated("Account no longer exists")

    async def accept_terms(self, viewer: UserRecord, version: str) -> UserRecord:
        current = self._settings.terms_version
        if not current:
            raise BadUserInput("This server has no terms of service", field="version")
        if version != current:
            raise BadUserInput(
                "These are not the current terms", field="version", termsVersion=current
            )
        updated = await self._store.update_user(
            viewer.id, {"terms_version": current, "terms_accepted_at": now_utc()}
        )
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
