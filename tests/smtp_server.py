"""A real SMTP server for the tests: aiosmtpd in a process of its own, delivering to a Maildir.

Mail that ChatQL sends (verification links, password resets) really crosses SMTP, and the
tests read it back from the Maildir. The server lives for the whole session, so each test
should send to addresses of its own and look only for those.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import importlib.util
import mailbox
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers import free_port

_MAILDIR_KEY = re.compile(r"^(\d+)\.M(\d+)P\d+Q(\d+)")
_URL = re.compile(r"https?://[^\s<>\"']+")


def _arrival(key: str) -> tuple[int, int, int, str]:
    """Maildir keys start with the delivery's seconds, microseconds and a per-process counter."""
    match = _MAILDIR_KEY.match(key)
    if match is None:
        return (0, 0, 0, key)
    return (int(match[1]), int(match[2]), int(match[3]), key)


def _recipients(msg: EmailMessage) -> list[str]:
    header = msg["To"]
    if isinstance(header, AddressHeader):
        return [address.addr_spec for address in header.addresses]
    return [] if header is None else [str(header)]


def _summary(msg: EmailMessage) -> str:
    return f"To: {msg['To']!s} | Subject: {msg['Subject']!s}"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    maildir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def messages(self) -> list[EmailMessage]:
        """Everything delivered so far, oldest first."""
        box = mailbox.Maildir(self.maildir, create=False)
        found = []
        for key in sorted(box.keys(), key=_arrival):
            try:
                raw = box.get_bytes(key)
            except KeyError:  # moved or removed meanwhile
                continue
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            found.append(msg)
        return found

    async def wait_for(
        self,
        to: str,
        predicate: Callable[[EmailMessage], bool] | None = None,
        timeout: float = 10.0,
    ) -> EmailMessage:
        """The newest message whose To header names `to` (any case) and that `predicate`
        accepts, once one has arrived; mail is sent asynchronously, so it is polled for."""
        wanted = to.lower()
        deadline = time.monotonic() + timeout
        while True:
            arrived = self.messages()
            matching = [
                msg
                for msg in arrived
                if wanted in (address.lower() for address in _recipients(msg))
                and (predicate is None or predicate(msg))
            ]
            if matching:
                return matching[-1]
            if time.monotonic() >= deadline:
                seen = "\n".join(f"  {_summary(msg)}" for msg in arrived) or "  (nothing)"
                raise AssertionError(
                    f"no mail to {to} matching the predicate within {timeout}s; arrived:\n{seen}"
                )
            await asyncio.sleep(0.05)


def text_body(msg: EmailMessage) -> str:
    """The text/plain part, whether the message is multipart or not."""
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        raise AssertionError(f"no text/plain part in {_summary(msg)}")
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def link_token(msg: EmailMessage) -> str:
    """The (URL-decoded) `token` query parameter of the first link in the text part that has one."""
    body = text_body(msg)
    for match in _URL.finditer(body):
        tokens = urllib.parse.parse_qs(urllib.parse.urlsplit(match[0]).query).get("token")
        if tokens:
            return tokens[0]
    raise AssertionError(f"no link with a token= parameter in {_summary(msg)}:\n{body}")


def _accepts(host: str, port: int) -> bool:
    """The server is up once it greets with 220 (a bare connect could race its startup)."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(4).startswith(b"220")
    except OSError:
        return False


def _start_aiosmtpd(maildir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd on a free loopback port, once it greets (a port taken meanwhile by someone
    else makes it exit: then another port is tried)."""
    host = "127.0.0.1"
    for _ in range(3):
        port = free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"{host}:{port}",
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                    str(maildir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            if _accepts(host, port):
                return process, port
            time.sleep(0.05)
        process.kill()
        process.wait()
    raise RuntimeError(f"aiosmtpd did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd, no TLS, no auth) for the whole session, ended with it.
    Without aiosmtpd the mail tests skip locally and fail under CI, which must run them."""
    if importlib.util.find_spec("aiosmtpd") is None:
        reason = "aiosmtpd is not installed, so no mail can be received"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("smtp")
    maildir = root / "Maildir"
    mailbox.Maildir(maildir, create=True)
    log = root / "aiosmtpd.log"
    process, port = _start_aiosmtpd(maildir, log)
    try:
        yield SmtpServer(host="127.0.0.1", port=port, maildir=maildir, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
