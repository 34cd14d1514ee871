"""Every GraphQL error leaves with an `extensions.code`; unexpected ones leave masked.

Expected failures (ChatError) keep their message and code. Parse, validation and input
coercion errors get Apollo's codes. Anything else is a bug: the client sees only
"Internal server error" with a request id, and the log has the traceback under that id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from chatql.errors import ChatError

log = logging.getLogger("chatql.errors")

# Strawberry's refusals of a request as a whole (no query, no such operation, wrong type)
REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)

_INPUT_ERROR_MARKERS = (
    "Variable '$",
    'Variable "$',
    "Expected value of type",
    "cannot represent",
    "Expected type",
    "is not an ISO-8601",
    "' enum.",
    "not to be None",
    "must not be null",
    "DateTime must be",
)


SUGGESTION_RE = re.compile(r" Did you mean [^?]*\?")


def without_suggestions(error: GraphQLError) -> GraphQLError:
    """Production hides "Did you mean ...?": it lets a stranger map the schema field by field."""
    message = SUGGESTION_RE.sub("", error.message)
    return error if message == error.message else _with(error, message, error.extensions or {})


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors that are bugs (logged with a request id), not the client's doing."""
    original = error.original_error
    if original is None or isinstance(original, (ChatError, GraphQLError, UnicodeError)):
        return False
    if isinstance(original, REQUEST_ERRORS):
        return False
    return not (isinstance(original, (ValueError, TypeError)) and error.path is None)


def classify(error: GraphQLError) -> GraphQLError:
    """Return the error as the client should see it."""
    original = error.original_error
    if isinstance(original, ChatError):
        return _with(error, error.message, original.as_extensions())
    if isinstance(original, GraphQLError):
        return classify(original)
    if isinstance(original, UnicodeError):  # e.g. a lone surrogate: not encodable text
        return _with(
            error,
            "Text must be valid Unicode (no unpaired surrogates)",
            {"code": "BAD_USER_INPUT"},
        )
    if isinstance(original, REQUEST_ERRORS):
        return _with(error, error.message, {"code": "BAD_REQUEST"})
    if isinstance(original, (ValueError, TypeError)) and error.path is None:
        # A scalar refused a value while the variables were coerced: the client's input.
        return _with(error, error.message, {"code": "BAD_USER_INPUT"})
    if original is None and (error.extensions or {}).get("code"):
        # Already classified (limits, our own validation rules). Rebuilt as a plain GraphQLError:
        # graphql-transport-ws closes the socket (4400) on a GraphQLSyntaxError (too many tokens).
        return _with(error, error.message, dict(error.extensions or {}))
    if original is None:
        if isinstance(error, GraphQLSyntaxError):
            code = "GRAPHQL_PARSE_FAILED"
        elif any(marker in error.message for marker in _INPUT_ERROR_MARKERS):
            code = "BAD_USER_INPUT"
        elif error.path is None:
            code = "GRAPHQL_VALIDATION_FAILED"
        else:
            code = "INTERNAL_SERVER_ERROR"
        return _with(error, error.message, {**(error.extensions or {}), "code": code})
    request_id = uuid.uuid4().hex[:16]
    log.error("unexpected error [request_id=%s] at %s", request_id, error.path, exc_info=original)
    return _with(
        error,
        "Internal server error",
        {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorCodes(SchemaExtension):
    """Applies `classify` to every result, including each streamed subscription event."""

    hide_suggestions = False

    @classmethod
    def present(cls, errors: list[GraphQLError]) -> list[GraphQLError]:
        classified = [classify(e) for e in errors]
        if cls.hide_suggestions:
            classified = [without_suggestions(e) for e in classified]
        return classified

    def _process(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self.present(errors)

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:
            result = self.execution_context.result
            self._process(result)
            initial = getattr(result, "initial_result", None)
            if initial is not None:
                self._process(initial)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._streamed = True
        self._process(result)
        yield None


class ProductionErrorCodes(ErrorCodes):
    hide_suggestions = True
