"""The SMTP fixture itself: mail sent over real SMTP is found, parsed and its link read."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.smtp_server import SmtpServer, link_token, text_body


def _mail(to: str, subject: str, body: str, html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "ChatQL <no-reply@chatql.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


async def test_mail_sent_over_smtp_is_found_with_its_token(smtp_server: SmtpServer) -> None:
    address = f"alice-{uuid.uuid4().hex[:8]}@example.com"
    token = "a b/c+d=é"  # survives URL-encoding both ways
    link = "http://127.0.0.1:8000/verify?user=1&token=a%20b%2Fc%2Bd%3D%C3%A9"
    await aiosmtplib.send(
        _mail(
            f"Alice <{address}>",
            "Confirm your e-mail",
            f"Hello Alice,\n\nconfirm with {link}\n",
            html=f'<p>confirm <a href="{link}">here</a></p>',
        ),
        hostname=smtp_server.host,
        port=smtp_server.port,
    )
    msg = await smtp_server.wait_for(address.upper())
    assert msg["Subject"] == "Confirm your e-mail"
    assert "confirm with" in text_body(msg)
    assert link_token(msg) == token
    assert smtp_server.url == f"smtp://127.0.0.1:{smtp_server.port}"


async def test_newest_match_and_predicate(smtp_server: SmtpServer) -> None:
    address = f"bob-{uuid.uuid4().hex[:8]}@example.com"
    for n in (1, 2):
        await aiosmtplib.send(
            _mail(address, f"reset {n}", f"http://x.test/r?token=t{n}\n"),
            hostname=smtp_server.host,
            port=smtp_server.port,
        )
    assert link_token(await smtp_server.wait_for(address)) == "t2"
    first = await smtp_server.wait_for(address, lambda m: m["Subject"] == "reset 1")
    assert link_token(first) == "t1"


async def test_wait_for_times_out_listing_what_arrived(smtp_server: SmtpServer) -> None:
    address = f"carol-{uuid.uuid4().hex[:8]}@example.com"
    await aiosmtplib.send(
        _mail(address, "no link here", "just text\n"),
        hostname=smtp_server.host,
        port=smtp_server.port,
    )
    with pytest.raises(AssertionError, match="no link here"):
        await smtp_server.wait_for("nobody@example.com", timeout=0.3)
    with pytest.raises(AssertionError, match="no link with a token"):
        link_token(await smtp_server.wait_for(address))
