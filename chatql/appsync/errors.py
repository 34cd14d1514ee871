"""AppSync's error shapes: `{"errorType", "message"}` objects in `payload.errors`.

The protocol's own refusals use AppSync's names (`UnauthorizedException` with `errorCode` 401,
`UnsupportedOperation`, `MaxSubscriptionsReachedError`...). A GraphQL error keeps its message
and `extensions`, and its `errorType` is its ChatQL code, as `$util.error(message, type)` sets
one in AppSync; UNAUTHENTICATED is AppSync's `UnauthorizedException`, which Amplify answers by
reconnecting with fresh credentials.
"""

from __future__ import annotations

from typing import Any

from chatql.errors import ChatError

UNAUTHORIZED = "UnauthorizedException"
BAD_REQUEST = "BadRequestException"
UNSUPPORTED = "UnsupportedOperation"
MAX_SUBSCRIPTIONS = "MaxSubscriptionsReachedError"
DUPLICATED = "DuplicatedOperationError"
LIMIT_EXCEEDED = "LimitExceededError"
INTERNAL = "InternalFailure"

_CODES = {UNAUTHORIZED: 401, BAD_REQUEST: 400, LIMIT_EXCEEDED: 429}


def error(error_type: str, message: str, **extensions: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"errorType": error_type, "message": message}
    if error_type in _CODES:
        found["errorCode"] = _CODES[error_type]
    if extensions:
        found["extensions"] = extensions
    return found


def from_chat_error(exc: ChatError) -> dict[str, Any]:
    return from_graphql({"message": exc.message, "extensions": exc.as_extensions()})


def from_graphql(formatted: dict[str, Any]) -> dict[str, Any]:
    """A formatted (already classified, masked) GraphQL error, with its AppSync errorType."""
    code = (formatted.get("extensions") or {}).get("code") or "GRAPHQL_ERROR"
    error_type = UNAUTHORIZED if code == "UNAUTHENTICATED" else str(code)
    found = {"errorType": error_type, **formatted}
    if error_type in _CODES:
        found["errorCode"] = _CODES[error_type]
    return found


def error_frame(errors: list[dict[str, Any]], operation_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "payload": {"errors": errors}}
    if operation_id is not None:
        frame["id"] = operation_id
    return frame


def connection_error_frame(found: dict[str, Any]) -> dict[str, Any]:
    return {"type": "connection_error", "payload": {"errors": [found]}}
