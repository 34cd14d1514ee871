"""How an AppSync client says who it is: a JSON object of headers (`Authorization`, or
`x-api-key`, and `host`), base64url-encoded in a `header-<...>` subprotocol (Amplify v6) or
base64-encoded in the `header` query parameter (AppSync's documented form). Each `start` sends
the same kind of object, as is, in `extensions.authorization`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from chatql.auth import bearer_token

PROTOCOL = "graphql-ws"
HEADER_PROTOCOL_PREFIX = "header-"
MAX_ENCODED_HEADER = 16_384  # characters: a JWT and a few headers fit many times over


class BadHeader(ValueError):
    """The header object is not base64 of a JSON object."""


@dataclass(frozen=True, slots=True)
class Credentials:
    access_token: str | None
    api_key: str | None

    @property
    def present(self) -> bool:
        return self.access_token is not None or self.api_key is not None


NO_CREDENTIALS = Credentials(None, None)


def decode_header(encoded: str) -> dict[str, Any]:
    """base64 or base64url, padded or not, of a JSON object."""
    if len(encoded) > MAX_ENCODED_HEADER:
        raise BadHeader("The header is too long")
    text = encoded.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        value = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise BadHeader("The header must be base64-encoded JSON") from None
    if not isinstance(value, dict):
        raise BadHeader("The header must be a JSON object")
    return value


def handshake_header(scope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The header object the handshake carries, if any (subprotocol first, then query)."""
    for protocol in scope.get("subprotocols") or ():
        if protocol.startswith(HEADER_PROTOCOL_PREFIX):
            return decode_header(protocol[len(HEADER_PROTOCOL_PREFIX) :])
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "header":
            return decode_header(value)
    return None


def credentials(header: Mapping[str, Any] | None) -> Credentials:
    """The access token (with or without "Bearer") or API key in a header object."""
    if not header:
        return NO_CREDENTIALS
    lowered = {k.lower(): v for k, v in header.items() if isinstance(k, str)}
    authorization = lowered.get("authorization")
    api_key = lowered.get("x-api-key")
    return Credentials(
        bearer_token(authorization) if isinstance(authorization, str) else None,
        api_key if isinstance(api_key, str) else None,
    )
