"""Accounts for a public service, end to end over real HTTP and WebSockets: email
verification and password reset through a real SMTP server, terms of service, username
changes, guests and account deletion. (Social sign-in: test_social_sign_in.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chatql.config import Settings
from chatql.store.records import now_utc
from tests.helpers import ON_MESSAGE, TRANSPORT_WS, Account, Client, Server, Socket, running_server
from tests.smtp_server import SmtpServer, link_token, text_body
from tests.test_sessions import closed_with

REGISTER = (
    "mutation($u: String!, $p: String!, $e: String, $t: Boolean) "
    "{ register(username: $u, password: $p, email: $e, acceptTerms: $t) "
    "{ accessToken refreshToken user { id username email emailVerified acceptedTermsVersion } } }"
)
LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) "
    "{ accessToken refreshToken user { id username } } }"
)
ME = "{ me { id username displayName email emailVerified hasPassword acceptedTermsVersion } }"
VERIFY = "mutation($t: String!) { verifyEmail(token: $t) { id emailVerified } }"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"
RESET = (
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) "
    "{ accessToken refreshToken user { id email } } }"
)
REFRESH = "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }"
UPDATE_PROFILE = (
    "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) "
    "{ id username email emailVerified } }"
)
DELETE_ACCOUNT = "mutation($p: String!) { deleteAccount(password: $p) }"
GUEST = "mutation { startGuestSession { accessToken refreshToken user { id username role } } }"


async def open_socket(server: Server, token: str) -> Socket:
    socket = await Socket.connect(server, TRANSPORT_WS, token)
    await socket.ack()
    return socket


def database_bytes(path: str) -> bytes:
    """The SQLite file and its write-ahead log, as they are on disk."""
    files = [Path(path), Path(path + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def address() -> str:
    return f"u{uuid.uuid4().hex[:10]}@example.com"


def name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


async def sign_up(
    client: Client, email: str | None = None, password: str = "correct horse", **extra: Any
) -> tuple[Account, dict[str, Any]]:
    data = await client.data(REGISTER, {"u": name(), "p": password, "e": email, **extra})
    payload = data["register"]
    account = Account(
        payload["user"]["id"],
        payload["user"]["username"],
        payload["accessToken"],
        payload["refreshToken"],
    )
    return account, payload["user"]


async def verified(client: Client, smtp: SmtpServer, email: str) -> Account:
    account, _ = await sign_up(client, email)
    mail = await smtp.wait_for(email, lambda m: "Confirm" in str(m["Subject"]))
    await client.data(VERIFY, {"t": link_token(mail)})
    return account


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return replace(settings, smtp_url=smtp_server.url, public_url="http://chat.example.com")


@pytest.fixture
async def guest_server(settings: Settings) -> AsyncIterator[Server]:
    async with running_server(replace(settings, guest_access=True)) as server:
        yield server


# ---------------------------------------------------------------- email verification
async def test_a_mailed_link_verifies_the_address_once(
    client: Client, smtp_server: SmtpServer
) -> None:
    email = address()
    account, user = await sign_up(client, email.upper())
    assert user["email"] == email and user["emailVerified"] is False

    mail = await smtp_server.wait_for(email)
    assert mail["Subject"] == "Confirm your email address"
    assert "http://chat.example.com/verify-email?token=" in text_body(mail)
    token = link_token(mail)
    # Only the digest is stored: the token itself is nowhere in the database.
    db = client.server.settings.database_url.removeprefix("sqlite:///")
    assert token.encode() not in database_bytes(db)

    verified_user = (await client.data(VERIFY, {"t": token}))["verifyEmail"]
    assert verified_user == {"id": account.id, "emailVerified": False}  # not signed in: hidden
    me = (await client.data(ME, token=account.token))["me"]
    assert me["emailVerified"] is True and me["email"] == email and me["hasPassword"] is True

    again = await client.error(VERIFY, {"t": token})
    assert again["extensions"]["code"] == "BAD_USER_INPUT"
    assert "already used" in again["message"]
    for bad in ("", "x" * 300, "not-a-token"):
        error = await client.error(VERIFY, {"t": bad})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "token"}

    # Nobody else sees the address.
    other, _ = await sign_up(client)
    seen = await client.data(
        "query($id: ID!) { getUser(id: $id) { email emailVerified hasPassword } }",
        {"id": account.id},
        other.token,
    )
    assert seen["getUser"] == {"email": None, "emailVerified": False, "hasPassword": False}


async def test_a_new_address_must_be_verified_again(
    client: Client, smtp_server: SmtpServer
) -> None:
    first, second = address(), address()
    account = await verified(client, smtp_server, first)
    stale = await smtp_server.wait_for(first)

    changed = await client.data(UPDATE_PROFILE, {"i": {"email": second}}, account.token)
    assert changed["updateProfile"]["email"] == second
    assert changed["updateProfile"]["emailVerified"] is False
    # A link for the old address no longer verifies anything.
    error = await client.error(VERIFY, {"t": link_token(stale)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    resend = "mutation { requestEmailVerification }"
    assert (await client.data(resend, token=account.token))["requestEmailVerification"] is True
    mail = await smtp_server.wait_for(second)
    await client.data(VERIFY, {"t": link_token(mail)})
    assert (await client.data(ME, token=account.token))["me"]["emailVerified"] is True
    done = await client.error(resend, token=account.token)
    assert done["extensions"]["code"] == "BAD_USER_INPUT"

    # Someone else's address, and nonsense, are refused without changing anything.
    other, _ = await sign_up(client, address())
    taken = await client.error(UPDATE_PROFILE, {"i": {"email": second}}, other.token)
    assert taken["extensions"]["code"] == "CONFLICT"
    for bad in ("nope", "a@b", "two@@example.com", "x" * 250 + "@example.com"):
        error = await client.error(UPDATE_PROFILE, {"i": {"email": bad}}, account.token)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
    assert (await client.data(ME, token=account.token))["me"]["email"] == second


async def test_sign_up_refuses_a_bad_or_taken_address(client: Client) -> None:
    email = address()
    await sign_up(client, email)
    taken = await client.error(REGISTER, {"u": name(), "p": "correct horse", "e": email})
    assert taken["extensions"]["code"] == "CONFLICT"
    bad = await client.error(REGISTER, {"u": "kept-free", "p": "correct horse", "e": "bad"})
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
    # Nothing was created by the refused sign-ups.
    await sign_up(client)
    created = await client.data(REGISTER, {"u": "kept-free", "p": "correct horse"})
    assert created["register"]["user"]["username"] == "kept-free"


async def test_email_modes(settings: Settings) -> None:
    async with running_server(replace(settings, email_mode="required")) as server:
        client = Client(server)
        error = await client.error(REGISTER, {"u": name(), "p": "correct horse"})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
        options = await client.data("{ signInOptions { emailMode passwordReset } }")
        assert options["signInOptions"] == {"emailMode": "REQUIRED", "passwordReset": True}
        await client.close()
    async with running_server(replace(settings, email_mode="off")) as server:
        client = Client(server)
        error = await client.error(REGISTER, {"u": name(), "p": "correct horse", "e": address()})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
        reset = await client.error(REQUEST_RESET, {"e": address()})
        assert reset["extensions"]["code"] == "BAD_USER_INPUT"
        options = await client.data("{ signInOptions { emailMode passwordReset } }")
        assert options["signInOptions"] == {"emailMode": "OFF", "passwordReset": False}
        await client.close()


# ---------------------------------------------------------------- password reset
async def test_password_reset_through_the_mail(client: Client, smtp_server: SmtpServer) -> None:
    email = address()
    account = await verified(client, smtp_server, email)
    socket = await open_socket(client.server, account.token)

    unknown = address()
    assert (await client.data(REQUEST_RESET, {"e": unknown}))["requestPasswordReset"] is True
    assert (await client.data(REQUEST_RESET, {"e": email.upper()}))["requestPasswordReset"]
    mail = await smtp_server.wait_for(email, lambda m: m["Subject"] == "Reset your password")
    assert "http://chat.example.com/reset-password?token=" in text_body(mail)
    token = link_token(mail)

    weak = await client.error(RESET, {"t": token, "p": "short"})
    assert weak["extensions"] == {"code": "BAD_USER_INPUT", "field": "password"}
    wrong = await client.error(RESET, {"t": "x" + token, "p": "a new password"})
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "field": "token"}

    payload = (await client.data(RESET, {"t": token, "p": "a new password"}))["resetPassword"]
    assert payload["user"] == {"id": account.id, "email": email}
    # Every other session ended: access token, refresh token, open socket.
    old = await client.error(ME, token=account.token)
    assert old["extensions"]["code"] == "UNAUTHENTICATED"
    refresh = await client.error(REFRESH, {"r": account.refresh_token})
    assert refresh["extensions"]["code"] == "UNAUTHENTICATED"
    assert await closed_with(socket) == 4401
    assert (await client.data(ME, token=payload["accessToken"]))["me"]["id"] == account.id

    login_old = await client.error(LOGIN, {"u": account.username, "p": "correct horse"})
    assert login_old["extensions"]["code"] == "UNAUTHENTICATED"
    by_email = await client.data(LOGIN, {"u": email, "p": "a new password"})
    assert by_email["login"]["user"]["id"] == account.id

    reused = await client.error(RESET, {"t": token, "p": "yet another one"})
    assert reused["extensions"]["code"] == "BAD_USER_INPUT"
    # No mail ever went to the unknown address.
    assert all(unknown not in str(m["To"]) for m in smtp_server.messages())


async def test_no_reset_mail_for_an_unverified_address(
    client: Client, smtp_server: SmtpServer
) -> None:
    """Anyone may type anyone's address into their profile: it gets no reset link until
    it is proven, and signing in by email needs a proven address too."""
    email = address()
    account, _ = await sign_up(client, email)
    await smtp_server.wait_for(email)  # the verification mail
    assert (await client.data(REQUEST_RESET, {"e": email}))["requestPasswordReset"] is True
    await asyncio.sleep(0.5)
    subjects = [m["Subject"] for m in smtp_server.messages() if email in str(m["To"])]
    assert subjects == ["Confirm your email address"]
    error = await client.error(LOGIN, {"u": email, "p": "correct horse"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await client.data(LOGIN, {"u": account.username, "p": "correct horse"}))["login"]


async def test_reset_requests_are_rate_limited_per_address(settings: Settings) -> None:
    async with running_server(replace(settings, rate_limit_mail="2/3600")) as server:
        client = Client(server)
        email = address()
        for _ in range(2):
            await client.data(REQUEST_RESET, {"e": email})
        error = await client.error(REQUEST_RESET, {"e": email})
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] > 0
        await client.close()


async def test_expired_links_are_refused(client: Client, smtp_server: SmtpServer) -> None:
    email = address()
    account, _ = await sign_up(client, email)
    token = link_token(await smtp_server.wait_for(email))
    store = client.server.app.state.services.store
    services = client.server.app.state.services
    fresh = await services.account_mail._tokens.issue("VERIFY_EMAIL", 0.05, user_id=account.id)
    del fresh
    await asyncio.sleep(0.1)
    expired = await services.account_mail._tokens.issue(
        "VERIFY_EMAIL", -1, user_id=account.id, email=email
    )
    error = await client.error(VERIFY, {"t": expired})
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "expired" in error["message"]
    assert (await store.get_user(account.id)).email_verified is False
    await client.data(VERIFY, {"t": token})


# ---------------------------------------------------------------- terms of service
async def test_terms_must_be_accepted_to_sign_up(settings: Settings) -> None:
    terms = replace(settings, terms_version="2026-12", terms_url="https://example.com/terms")
    async with running_server(terms) as server:
        client = Client(server)
        options = await client.data("{ signInOptions { termsVersion termsUrl } }")
        assert options["signInOptions"] == {
            "termsVersion": "2026-12",
            "termsUrl": "https://example.com/terms",
        }
        for accept in (None, False):
            error = await client.error(
                REGISTER, {"u": "terms-user", "p": "correct horse", "t": accept}
            )
            assert error["extensions"]["code"] == "BAD_USER_INPUT"
            assert error["extensions"]["field"] == "acceptTerms"
        before = now_utc()
        data = await client.data(REGISTER, {"u": "terms-user", "p": "correct horse", "t": True})
        user = data["register"]["user"]
        assert user["username"] == "terms-user" and user["acceptedTermsVersion"] == "2026-12"
        record = await server.app.state.services.store.get_user(user["id"])
        assert record.terms_version == "2026-12" and record.terms_accepted_at >= before
        token = data["register"]["accessToken"]
        wrong = await client.error('mutation { acceptTerms(version: "1999") { id } }', token=token)
        assert wrong["extensions"]["code"] == "BAD_USER_INPUT"
        ok = await client.data(
            'mutation { acceptTerms(version: "2026-12") { acceptedTermsVersion } }', token=token
        )
        assert ok["acceptTerms"]["acceptedTermsVersion"] == "2026-12"
        await client.close()


# ---------------------------------------------------------------- username change
async def test_a_new_username_keeps_the_account_and_its_mentions(client: Client) -> None:
    ann = await client.register("ann-old")
    bob = await client.register()
    room = await client.create_room(ann, "names")
    await client.join(bob, room)
    before = await client.send(ann, room, "written before the change")

    renamed = await client.data(UPDATE_PROFILE, {"i": {"username": "Ann-New"}}, ann.token)
    assert renamed["updateProfile"]["id"] == ann.id
    assert renamed["updateProfile"]["username"] == "ann-new"
    history = await client.data(
        "query($r: ID!) { messagesByRoom(chatRoomId: $r) { items { id author { id username } } } }",
        {"r": room},
        bob.token,
    )
    item = history["messagesByRoom"]["items"][0]
    assert item["id"] == before["id"] and item["author"] == {"id": ann.id, "username": "ann-new"}
    # The access token still works: the id did not change.
    assert (await client.data(ME, token=ann.token))["me"]["username"] == "ann-new"
    assert (await client.data(LOGIN, {"u": "ann-new", "p": "correct horse"}))["login"]
    old_login = await client.error(LOGIN, {"u": "ann-old", "p": "correct horse"})
    assert old_login["extensions"]["code"] == "UNAUTHENTICATED"

    # The old name is reserved for its owner during the cool-down...
    taken = await client.error(REGISTER, {"u": "ann-old", "p": "correct horse"})
    assert taken["extensions"] == {"code": "CONFLICT", "field": "username"}
    steal = await client.error(UPDATE_PROFILE, {"i": {"username": "ann-old"}}, bob.token)
    assert steal["extensions"]["code"] == "CONFLICT"
    # ...and mentions of it still reach her.
    await client.send(bob, room, "hello @ann-old and @ann-new")
    notes = await client.data(
        "{ listNotifications { items { type message { content } } } }", token=ann.token
    )
    assert [n["type"] for n in notes["listNotifications"]["items"]] == ["MENTION"]

    # Bad input changes nothing.
    for bad, code in (("no", "BAD_USER_INPUT"), ("has space", "BAD_USER_INPUT")):
        error = await client.error(UPDATE_PROFILE, {"i": {"username": bad}}, ann.token)
        assert error["extensions"]["code"] == code
    error = await client.error(UPDATE_PROFILE, {"i": {"username": bob.username}}, ann.token)
    assert error["extensions"]["code"] == "CONFLICT"
    assert (await client.data(ME, token=ann.token))["me"]["username"] == "ann-new"

    # She may take her old name back.
    back = await client.data(UPDATE_PROFILE, {"i": {"username": "ann-old"}}, ann.token)
    assert back["updateProfile"]["username"] == "ann-old"


async def test_the_old_name_is_free_after_the_cool_down(settings: Settings) -> None:
    async with running_server(replace(settings, username_cooldown=1)) as server:
        client = Client(server)
        ann = await client.register("cool-old")
        await client.data(UPDATE_PROFILE, {"i": {"username": "cool-new"}}, ann.token)
        error = await client.error(REGISTER, {"u": "cool-old", "p": "correct horse"})
        assert error["extensions"]["code"] == "CONFLICT"
        await asyncio.sleep(1.2)
        taken = await client.data(REGISTER, {"u": "cool-old", "p": "correct horse"})
        assert taken["register"]["user"]["id"] != ann.id
        await client.close()


# ---------------------------------------------------------------- guests
async def test_guests_read_public_rooms_and_never_write(guest_server: Server) -> None:
    client = Client(guest_server)
    owner = await client.register()
    public = await client.create_room(owner, "lobby")
    private = await client.create_room(owner, "secret", private=True)
    await client.send(owner, public, "before the guest came")
    await client.send(owner, private, "not for guests")

    payload = (await client.data(GUEST))["startGuestSession"]
    assert payload["user"]["role"] == "GUEST" and payload["user"]["username"].startswith("guest-")
    guest = Account(
        payload["user"]["id"],
        payload["user"]["username"],
        payload["accessToken"],
        payload["refreshToken"],
    )
    assert [m["content"] for m in await client.history(guest, public)] == ["before the guest came"]
    hidden = await client.error(
        "query($r: ID!) { messagesByRoom(chatRoomId: $r) { items { id } } }",
        {"r": private},
        guest.token,
    )
    assert hidden["extensions"]["code"] == "NOT_FOUND"

    socket = await open_socket(guest_server, guest.token)
    await socket.subscribe(ON_MESSAGE, {"r": public})
    await asyncio.sleep(0.2)
    await client.send(owner, public, "live for the guest")
    live = await socket.next_payload()
    assert "errors" not in live, live
    assert live["data"]["onMessageCreated"]["content"] == "live for the guest"
    await socket.close()

    writes = [
        (
            'mutation($r: ID!) { createMessage(input: {chatRoomId: $r, content: "hi"}) { id } }',
            {"r": public},
        ),
        ("mutation($r: ID!) { joinRoom(roomId: $r) { id } }", {"r": public}),
        ('mutation { createChatRoom(input: {name: "mine"}) { id } }', {}),
        ('mutation { updateProfile(input: {displayName: "G"}) { id } }', {}),
        ("mutation($r: ID!) { startTyping(chatRoomId: $r) }", {"r": public}),
        ("mutation { requestEmailVerification }", {}),
        ("mutation($u: ID!) { startDirectChat(userId: $u) { id } }", {"u": owner.id}),
        ('mutation { deleteAccount(password: "whatever1") }', {}),
        (
            'mutation { createUpload(input: {filename: "a.png", mimeType: "image/png", '
            "size: 10}) { uploadId } }",
            {},
        ),
    ]
    for query, variables in writes:
        error = await client.error(query, variables, guest.token)
        assert error["extensions"]["code"] == "FORBIDDEN", (query, error)
    assert len(await client.history(owner, public)) == 2
    # Guests are nobody's contacts.
    found = await client.data('{ searchUsers(term: "guest") { items { id } } }', token=owner.token)
    assert found["searchUsers"]["items"] == []
    # A guest session refreshes like any other.
    assert (await client.data(REFRESH, {"r": guest.refresh_token}))["refreshToken"]["accessToken"]
    await client.close()


async def test_guest_sessions_are_off_by_default_and_limited_per_ip(settings: Settings) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        error = await client.error(GUEST)
        assert error["extensions"] == {"code": "FORBIDDEN", "reason": "GUEST_ACCESS_OFF"}
        await client.close()
    limited = replace(settings, guest_access=True, rate_limit_guests="2/3600")
    async with running_server(limited) as server:
        client = Client(server)
        await client.data(GUEST)
        await client.data(GUEST)
        error = await client.error(GUEST)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        await client.close()


async def test_expired_guests_are_signed_out_and_removed(guest_server: Server) -> None:
    client = Client(guest_server)
    payload = (await client.data(GUEST))["startGuestSession"]
    token, guest_id = payload["accessToken"], payload["user"]["id"]
    socket = await open_socket(guest_server, token)
    services = guest_server.app.state.services
    await services.store.update_user(guest_id, {"expires_at": now_utc() - timedelta(seconds=1)})
    await asyncio.sleep(0.1)
    error = await client.error("{ me { id } }", token=token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await services.guests.sweep() == 1
    assert await services.store.get_user(guest_id) is None
    assert await closed_with(socket) == 4401
    await client.close()


# ---------------------------------------------------------------- account deletion
async def test_deleting_an_account(client: Client, smtp_server: SmtpServer) -> None:
    email = address()
    ann = await verified(client, smtp_server, email)
    bob = await client.register()
    room = await client.create_room(ann, "ann's room")
    await client.join(bob, room)
    await client.send(ann, room, "ann was here")
    await client.send(bob, room, "hi @" + ann.username)
    socket = await open_socket(client.server, ann.token)

    wrong = await client.error(DELETE_ACCOUNT, {"p": "not her password"}, ann.token)
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "field": "password"}
    assert (await client.data(ME, token=ann.token))["me"]["email"] == email

    assert (await client.data(DELETE_ACCOUNT, {"p": "correct horse"}, ann.token))["deleteAccount"]
    assert await closed_with(socket) == 4401
    for query, variables in ((ME, None), (REFRESH, {"r": ann.refresh_token})):
        error = await client.error(query, variables, None if variables else ann.token)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    for login in (ann.username, email):
        error = await client.error(LOGIN, {"u": login, "p": "correct horse"})
        assert error["extensions"]["code"] == "UNAUTHENTICATED"

    # Her messages stay, by a tombstone; her membership and ownership passed on.
    history = await client.data(
        "query($r: ID!) { messagesByRoom(chatRoomId: $r, sortDirection: ASC) "
        "{ items { content author { id username displayName isDeleted avatarUrl } } } "
        "getChatRoom(id: $r) { owner { id } members { items { id } } } }",
        {"r": room},
        bob.token,
    )
    first = history["messagesByRoom"]["items"][0]
    assert first["content"] == "ann was here"
    assert first["author"]["id"] == ann.id and first["author"]["isDeleted"] is True
    assert first["author"]["displayName"] == "Deleted user"
    assert first["author"]["username"] != ann.username
    assert history["getChatRoom"]["owner"]["id"] == bob.id
    assert [m["id"] for m in history["getChatRoom"]["members"]["items"]] == [bob.id]

    store = client.server.app.state.services.store
    record = await store.get_user(ann.id)
    assert record.email is None and record.password_hash == "" and record.deleted_at
    assert await store.list_notifications(ann.id, unread_only=False, limit=10, after=None) == []
    # The address is free again; the name is held against impersonation.
    await sign_up(client, email)
    taken = await client.error(REGISTER, {"u": ann.username, "p": "correct horse"})
    assert taken["extensions"]["code"] == "CONFLICT"
    found = await client.data('{ searchUsers(term: "deleted") { items { id } } }', token=bob.token)
    assert found["searchUsers"]["items"] == []


async def test_deleting_an_account_can_remove_its_messages(settings: Settings) -> None:
    async with running_server(replace(settings, deleted_user_messages="remove")) as server:
        client = Client(server)
        ann, bob = await client.register(), await client.register()
        room = await client.create_room(bob, "room")
        await client.join(ann, room)
        for i in range(3):
            await client.send(ann, room, f"ann {i}")
        await client.send(bob, room, "bob stays")
        await client.data(DELETE_ACCOUNT, {"p": "correct horse"}, ann.token)
        history = await client.data(
            "query($r: ID!) { messagesByRoom(chatRoomId: $r, sortDirection: ASC) "
            "{ items { content isDeleted } } }",
            {"r": room},
            bob.token,
        )
        items = history["messagesByRoom"]["items"]
        assert [i["isDeleted"] for i in items] == [True, True, True, False]
        assert [i["content"] for i in items] == ["", "", "", "bob stays"]
        await client.close()
