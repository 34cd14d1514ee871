"""Input rules shared by the services; each failure is a BadUserInput naming the field."""

from __future__ import annotations

import re

from chatql.errors import BadUserInput

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_PAGE = 100
MAX_CONTENT = 4000
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_DISPLAY_NAME = 64
MAX_URL = 2048
MAX_CLIENT_ID = 128
MAX_SEARCH_TERM = 100
MESSAGE_TYPES = ("TEXT", "IMAGE", "FILE", "SYSTEM")


def entity_id(value: str, field: str) -> str:
    """Ids are 32 lower-case hex characters; anything else is malformed, not merely unknown."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise BadUserInput(f"{field} is not a valid id", field=field)
    return value


def username(value: str) -> str:
    name = value.strip().lower()
    if not USERNAME_RE.match(name):
        raise BadUserInput(
            "username must be 3-32 characters of a-z, 0-9, '_', '.' or '-'", field="username"
        )
    return name


def password(value: str) -> str:
    if not 8 <= len(value) <= 128:
        raise BadUserInput("password must be 8-128 characters", field="password")
    return value


# C0 controls but newline and tab, and DEL: one regex scan instead of a Python loop per
# character (every message's text goes through here).
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _no_control_chars(value: str, field: str) -> None:
    if CONTROL_CHARS.search(value) is not None:
        raise BadUserInput(f"{field} contains control characters", field=field)


def text(value: str | None, field: str, max_len: int, *, required: bool) -> str | None:
    """Trim; enforce length; refuse control characters (other than newline and tab)."""
    if value is None:
        if required:
            raise BadUserInput(f"{field} is required", field=field)
        return None
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise BadUserInput(f"{field} must not be empty", field=field)
        return None
    if len(cleaned) > max_len:
        raise BadUserInput(f"{field} must be at most {max_len} characters", field=field)
    _no_control_chars(cleaned, field)
    return cleaned


def required_text(value: str, field: str, max_len: int) -> str:
    result = text(value, field, max_len, required=True)
    assert result is not None
    return result


def url(value: str | None, field: str) -> str | None:
    cleaned = text(value, field, MAX_URL, required=False)
    if cleaned is not None and not re.match(r"^https?://[^\s]+$", cleaned):
        raise BadUserInput(f"{field} must be an http(s) URL", field=field)
    return cleaned


def page_limit(value: int | None, default: int, field: str = "limit") -> int:
    if value is None:
        return default
    if not 1 <= value <= MAX_PAGE:
        raise BadUserInput(f"{field} must be between 1 and {MAX_PAGE}", field=field)
    return value


def message_type(value: str) -> str:
    if value not in MESSAGE_TYPES:
        raise BadUserInput("messageType is not valid", field="messageType")
    if value == "SYSTEM":
        raise BadUserInput("SYSTEM messages are written by the server", field="messageType")
    return value


def client_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_CLIENT_ID or not value.isprintable():
        raise BadUserInput(
            f"clientId must be 1-{MAX_CLIENT_ID} printable characters", field="clientId"
        )
    return value


EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s.][^@\s]*\.[^@\s.]{2,}$")
MAX_EMAIL = 254


def email(value: str, field: str = "email") -> str:
    """An address in its stored form (trimmed, lower-cased); no lookups, just its shape."""
    cleaned = value.strip().lower()
    if len(cleaned) > MAX_EMAIL or not EMAIL_RE.match(cleaned):
        raise BadUserInput("Enter a valid email address", field=field)
    _no_control_chars(cleaned, field)
    return cleaned
