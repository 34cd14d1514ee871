"""Outgoing mail: verification and password-reset links.

`open_mailer` picks SMTP (aiosmtplib) when `CHATQL_SMTP_URL` is set, else — development only —
a mailer that writes each mail to the log. `Outbox` sends in the background with a few retries,
so a request never waits on (nor reveals anything through the timing of) an SMTP server.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from chatql.background import BackgroundTasks

log = logging.getLogger("chatql.mail")

SEND_ATTEMPTS = 3
RETRY_DELAY = 2.0


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str

    def message(self, sender: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
        msg.set_content(self.text)
        return msg


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    use_tls: bool  # TLS from the first byte (smtps://)
    start_tls: bool | None  # None: STARTTLS when the server offers it
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:587?starttls=false`, or `smtps://host:465` for implicit TLS."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"must start with smtp:// or smtps://, got {url!r}")
    if not parts.hostname:
        raise ValueError("needs a host, as in smtp://mail.example.com:587")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    query = parse_qs(parts.query)
    start_tls: bool | None = None
    if "starttls" in query:
        value = query["starttls"][-1].lower()
        if value not in ("true", "false"):
            raise ValueError("starttls must be true or false")
        start_tls = value == "true"
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        use_tls=implicit,
        start_tls=False if implicit else start_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class SmtpMailer:
    """One connection per mail: account mail is rare, and a pooled connection would have
    to be kept alive against servers that drop idle ones."""

    def __init__(self, url: str, sender: str, timeout: float = 20.0) -> None:
        self._target = parse_smtp_url(url)
        self._sender = sender
        self._timeout = timeout

    async def send(self, mail: Mail) -> None:
        import aiosmtplib

        target = self._target
        await aiosmtplib.send(
            mail.message(self._sender),
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=target.start_tls,
            timeout=self._timeout,
        )


class LogMailer:
    """Development without SMTP: the mail, link included, goes to the server log."""

    async def send(self, mail: Mail) -> None:
        log.warning("mail to %s (no CHATQL_SMTP_URL set): %s\n%s", mail.to, mail.subject, mail.text)


class Outbox:
    """Background delivery with retries; `close` waits a little for mails still going."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer
        self._tasks = BackgroundTasks()

    def post(self, mail: Mail) -> None:
        self._tasks.spawn(self._deliver(mail))

    async def _deliver(self, mail: Mail) -> None:
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await self._mailer.send(mail)
                return
            except Exception as exc:  # any SMTP or network failure: retry, then log
                if attempt == SEND_ATTEMPTS:
                    log.error("could not send %r to %s: %s", mail.subject, mail.to, exc)
                    return
                log.warning("sending %r failed (%s); retrying", mail.subject, exc)
                await asyncio.sleep(RETRY_DELAY * attempt)

    async def close(self, timeout: float = 5.0) -> None:
        await self._tasks.finish(timeout)


def open_mailer(smtp_url: str, sender: str) -> Mailer:
    if smtp_url:
        return SmtpMailer(smtp_url, sender)
    log.warning("no CHATQL_SMTP_URL: account mails (verification, password reset) go to the log")
    return LogMailer()
