"""Mail that proves an address: verification links and password-reset links.

Each link carries a single-use token (`AccountTokens`). Asking for a reset always answers the
same, whether or not the address has an account, and the mail goes out in the background, so
neither the answer nor its timing tells anyone which addresses are registered.
"""

from __future__ import annotations

from urllib.parse import urlencode

from chatql.config import Settings
from chatql.errors import BadUserInput, Conflict, StoreConflict
from chatql.mail import Mail, Outbox
from chatql.security.rate_limit import RateLimiter
from chatql.services import validation
from chatql.services.account_tokens import AccountTokens
from chatql.services.record_cache import RecordCache
from chatql.store.base import Store
from chatql.store.records import UserRecord

VERIFY_EMAIL = "VERIFY_EMAIL"
RESET_PASSWORD = "RESET_PASSWORD"


class AccountMail:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        tokens: AccountTokens,
        outbox: Outbox,
        limit: RateLimiter,
        users: RecordCache[UserRecord],
    ) -> None:
        self._store = store
        self._settings = settings
        self._tokens = tokens
        self._outbox = outbox
        self._limit = limit
        self._users = users

    @property
    def enabled(self) -> bool:
        return self._settings.email_enabled

    def ensure_enabled(self) -> None:
        if not self.enabled:
            raise BadUserInput("Email is not enabled on this server", field="email")

    def _link(self, page: str, token: str) -> str:
        return f"{self._settings.base_url}/{page}?{urlencode({'token': token})}"

    # ------------------------------------------------------------ verification
    async def send_verification(self, user: UserRecord, client: str = "") -> None:
        """Mail a link proving `user.email`; a new link does not void older ones."""
        if user.email is None or user.email_verified:
            return
        self._limit.hit(f"mail|{user.email}", "verification mails")
        self._limit.hit(f"mail-ip|{client}", "mails from this address", cost=0.2)
        token = await self._tokens.issue(
            VERIFY_EMAIL, self._settings.email_token_ttl, user_id=user.id, email=user.email
        )
        hours = max(1, self._settings.email_token_ttl // 3600)
        self._outbox.post(
            Mail(
                to=user.email,
                subject="Confirm your email address",
                text=(
                    f"Hello {user.display_name},\n\n"
                    f"Confirm that {user.email} is your address for {user.username}:\n\n"
                    f"{self._link('verify-email', token)}\n\n"
                    f"The link works once, for {hours} hours. If you did not sign up, "
                    "ignore this mail.\n"
                ),
            )
        )

    async def request_verification(self, viewer: UserRecord, client: str) -> bool:
        self.ensure_enabled()
        user = await self._store.get_user(viewer.id)
        if user is None or user.email is None:
            raise BadUserInput("Add an email address to your profile first", field="email")
        if user.email_verified:
            raise BadUserInput("Your email address is already verified", field="email")
        await self.send_verification(user, client)
        return True

    async def verify(self, token: str) -> UserRecord:
        """The address is verified only if it is still the account's address."""
        record = await self._tokens.check(token, VERIFY_EMAIL)
        user = await self._store.get_user(record.user_id or "")
        if user is None or user.deleted_at is not None or user.email != record.email:
            raise BadUserInput(
                "This link is for an address no longer on the account", field="token"
            )
        await self._tokens.redeem(token, VERIFY_EMAIL)
        try:
            updated = await self._store.update_user(user.id, {"email_verified": True})
        except StoreConflict:
            raise Conflict("That email is used by another account", field="email") from None
        self._users.forget(user.id)
        assert updated is not None
        return updated

    # ------------------------------------------------------------ password reset
    async def request_reset(self, email: str, client: str) -> bool:
        """Always True. Only a verified address gets a link: an unverified one may be
        someone else's, typed into a profile that is not theirs."""
        self.ensure_enabled()
        address = validation.email(email)
        self._limit.hit(f"mail|{address}", "reset mails")
        self._limit.hit(f"mail-ip|{client}", "mails from this address", cost=0.2)
        user = await self._store.get_user_by_email(address)
        if user is None or user.deleted_at is not None or user.is_guest:
            return True
        if not user.email_verified:
            return True
        token = await self._tokens.issue(
            RESET_PASSWORD, self._settings.reset_token_ttl, user_id=user.id, email=address
        )
        minutes = max(1, self._settings.reset_token_ttl // 60)
        self._outbox.post(
            Mail(
                to=address,
                subject="Reset your password",
                text=(
                    f"Hello {user.display_name},\n\n"
                    f"Someone asked to reset the password of {user.username}. To choose a new "
                    f"one, open:\n\n{self._link('reset-password', token)}\n\n"
                    f"The link works once, for {minutes} minutes, and signs you out everywhere "
                    "else. If it was not you, ignore this mail: your password stays as it is.\n"
                ),
            )
        )
        return True

    async def redeem_reset(self, token: str) -> UserRecord:
        record = await self._tokens.check(token, RESET_PASSWORD)
        user = await self._store.get_user(record.user_id or "")
        if user is None or user.deleted_at is not None or user.email != record.email:
            raise BadUserInput("This link is not valid", field="token")
        await self._tokens.redeem(token, RESET_PASSWORD)
        await self._store.delete_account_tokens(user.id, RESET_PASSWORD)
        return user
