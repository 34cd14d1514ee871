"""How the text of one `CHATQL_*` variable becomes a setting's value, or a ConfigError that
names the variable and says what it expects.

A parser takes (variable name, raw text). The formats owned by other modules (rate limits,
SMTP and blob-store URLs, OpenID providers, ...) are checked by those modules' own parsers,
imported when a value is parsed: settings are read before the rest of ChatQL is imported, so
this module imports none of it at load time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

type Parser = Callable[[str, str], Any]

MIN_METRICS_TOKEN_CHARS = 16


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def int_between(minimum: int, maximum: int) -> Parser:
    return _between(int, "an integer", minimum, maximum)


def float_between(minimum: float, maximum: float) -> Parser:
    return _between(float, "a number", minimum, maximum)


def _between[N: (int, float)](
    convert: Callable[[str], N], what: str, minimum: N, maximum: N
) -> Parser:
    def parse(name: str, raw: str) -> N:
        try:
            value = convert(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def one_of(*choices: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def text(_name: str, raw: str) -> str:
    return raw.strip()


def text_list(_name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated; blanks around and between entries are dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def trusted_proxies(name: str, raw: str) -> tuple[str, ...]:
    values = text_list(name, raw)
    for value in values:
        if value == "*":
            continue
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or networks (or *), got {value!r}"
            ) from None
    return values


def metrics_token(name: str, raw: str) -> str:
    value = raw.strip()
    if len(value) < MIN_METRICS_TOKEN_CHARS or any(c.isspace() for c in value):
        raise ConfigError(
            f"{name} must be at least {MIN_METRICS_TOKEN_CHARS} characters without spaces"
        )
    return value


def _http_url(example: str, *, query: bool) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or (parts.query and not query):
            raise ConfigError(f"{name} must be an http(s) URL like {example}")
        return value

    return parse


public_url = _http_url("https://chat.example.com", query=False)
api_url = _http_url("https://api.openai.com/v1", query=True)


def username(name: str, raw: str) -> str:
    from chatql.services.validation import USERNAME_RE

    value = raw.strip().lower()
    if not USERNAME_RE.match(value):
        raise ConfigError(f"{name} must be 3-32 characters of a-z, 0-9, '_', '.' or '-'")
    return value


def _checked_by(load_check: Callable[[], Callable[[str], object]], *, named: bool = True) -> Parser:
    """The text, stripped, if the owner's check (loaded on use) accepts it; its ValueError,
    prefixed with the variable's name unless the check names it itself, otherwise."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        try:
            load_check()(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}" if named else str(exc)) from None
        return value

    return parse


def _rate_format() -> Callable[[str], object]:
    from chatql.security.rate_limit import Rate

    return Rate.parse


def _blob_store() -> Callable[[str], object]:
    from chatql.blobs import open_blob_store

    return open_blob_store


def _upload_types() -> Callable[[str], object]:
    from chatql.services.file_types import parse_allowed_types

    return parse_allowed_types


def _smtp_url() -> Callable[[str], object]:
    from chatql.mail import parse_smtp_url

    return parse_smtp_url


def _oidc_providers() -> Callable[[str], object]:
    from chatql.oidc.providers import parse_providers

    return parse_providers


def _media_ladder() -> Callable[[str], object]:
    from chatql.media_plane.ladder import parse_ladder

    return parse_ladder


def _api_keys() -> Callable[[str], object]:
    from chatql.services.api_keys import parse_api_keys

    return parse_api_keys  # its errors name the entry, never its key


rate = _checked_by(_rate_format)
files_url = _checked_by(_blob_store, named=False)  # its errors name CHATQL_FILES_URL
upload_types = _checked_by(_upload_types)
smtp_url = _checked_by(_smtp_url)
oidc_providers = _checked_by(_oidc_providers)
media_ladder = _checked_by(_media_ladder)
api_keys = _checked_by(_api_keys)


def rtmp_url(name: str, raw: str) -> str:
    from chatql.media_plane.settings import check_rtmp_url

    try:
        return check_rtmp_url(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None
