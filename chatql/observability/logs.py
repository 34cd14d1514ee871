"""Log lines that say which request they belong to: `CHATQL_LOG_FORMAT=json|text`.

Every HTTP request and WebSocket connection gets a request id (the client's `x-request-id` when
it is well-formed, else a new one), echoed in the response. It, the GraphQL operation's name,
the user's id and the error code travel in a `RequestInfo` held by a context variable, and
every log line written while the request runs carries them. Nothing a client sends as content
(tokens, passwords, variables, message text, query strings) is ever put in a log line.
"""

from __future__ import annotations

import logging
import random
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
ACCESS_LOG = "chatql.access"


class RequestInfo:
    """What the log lines of one request (or one WebSocket operation) say about it. Mutable:
    the GraphQL layer fills in the operation and user as it learns them."""

    __slots__ = ("error_code", "operation", "request_id", "user_id")

    def __init__(self, request_id: str, user_id: str | None = None) -> None:
        self.request_id = request_id
        self.operation: str | None = None
        self.user_id = user_id
        self.error_code: str | None = None


current_request: ContextVar[RequestInfo | None] = ContextVar("chatql_request", default=None)


def request_id_from(header: bytes | None) -> str:
    """The client's id when it looks like one (no spaces, no control characters, 8-128
    characters), else a fresh random one."""
    if header is not None:
        text = header.decode("latin-1")
        if REQUEST_ID.fullmatch(text):
            return text
    return f"{_ids.getrandbits(64):016x}"


# Request ids only tell lines apart: they need no secrecy, and the OS's random source costs a
# system call per request (6 % of the CPU of a many-rooms benchmark run).
_ids = random.Random()


# LogRecord attributes that are not extra fields of a line.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        info = current_request.get()
        if info is not None:
            line["request_id"] = info.request_id
            if info.operation is not None:
                line["operation"] = info.operation
            if info.user_id is not None:
                line["user_id"] = info.user_id
            if info.error_code is not None:
                line["error_code"] = info.error_code
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """The classic line, with the request id (when there is one) after the logger's name."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        info = current_request.get()
        record.request = f" [{info.request_id}]" if info is not None else ""
        return super().format(record)


def configure_logging(level: str, log_format: str) -> None:
    """Send every logger's lines to standard error in the chosen format; uvicorn's own access
    log is off (ChatQL writes its own, with the request id)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # log through the root handler, in our format
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
