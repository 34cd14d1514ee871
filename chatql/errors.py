"""Errors are values with codes; they are mapped to GraphQL errors once, in one place.

Services raise these; resolvers let them through; `chatql.security.errors` turns them into
GraphQL errors carrying `extensions.code`. Anything else that escapes is a bug and is masked.
"""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    """An expected failure that the client should see with its code."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}


class BadUserInput(ChatError):
    code = "BAD_USER_INPUT"


class Unauthenticated(ChatError):
    code = "UNAUTHENTICATED"


class Forbidden(ChatError):
    code = "FORBIDDEN"


class NotFound(ChatError):
    code = "NOT_FOUND"


class Conflict(ChatError):
    code = "CONFLICT"


class RateLimited(ChatError):
    code = "RATE_LIMITED"


class SubscriptionOverflow(ChatError):
    """A subscriber fell too far behind; it must resubscribe with its last cursor."""

    code = "SUBSCRIBER_TOO_SLOW"


class StoreConflict(Exception):
    """Raised by stores when a unique constraint is hit; services translate it."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint
