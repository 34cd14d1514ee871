"""Accounts and sessions over real sockets: registration rules, login, access-token checks,
refresh-token rotation and reuse detection, logout, profiles, user search, and WebSocket
authentication on both subprotocols."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import websockets

from tests.helpers import PROTOCOLS, TRANSPORT_WS, Account, Client, Server, Socket

REGISTER = (
    "mutation($u: String!, $p: String!, $d: String) "
    "{ register(username: $u, password: $p, displayName: $d) "
    "{ accessToken refreshToken expiresAt user { id username displayName } } }"
)
LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) "
    "{ accessToken refreshToken expiresAt user { id username } } }"
)
REFRESH = (
    "mutation($t: String!) { refreshToken(refreshToken: $t) "
    "{ accessToken refreshToken expiresAt user { id } } }"
)
LOGOUT = "mutation($t: String!, $all: Boolean!) { logout(refreshToken: $t, allDevices: $all) }"
ME = "{ me { id username displayName avatarUrl } }"
UPDATE_PROFILE = (
    "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) "
    "{ id username displayName avatarUrl } }"
)
SEARCH = (
    "query($t: String!, $l: Int, $n: String) { searchUsers(term: $t, limit: $l, nextToken: $n) "
    "{ items { id username displayName } nextToken } }"
)
PASSWORD = "correct horse"


def code_of(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


async def register_raw(
    client: Client, username: str, password: str = PASSWORD, display_name: str | None = None
) -> dict[str, Any]:
    return await client.post(REGISTER, {"u": username, "p": password, "d": display_name})


async def login(client: Client, username: str, password: str = PASSWORD) -> dict[str, Any]:
    data = await client.data(LOGIN, {"u": username, "p": password})
    return data["login"]  # type: ignore[no-any-return]


async def refresh(client: Client, refresh_token: str) -> dict[str, Any]:
    data = await client.data(REFRESH, {"t": refresh_token})
    return data["refreshToken"]  # type: ignore[no-any-return]


async def assert_me_works(client: Client, token: str, user_id: str) -> None:
    assert (await client.data(ME, token=token))["me"]["id"] == user_id


async def assert_unauthenticated(
    client: Client, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    error = await client.error(query, variables, token)
    assert code_of(error) == "UNAUTHENTICATED", error
    return error


def forge_token(
    server: Server,
    account: Account,
    *,
    secret: str | None = None,
    algorithm: str = "HS256",
    lifetime: timedelta = timedelta(minutes=5),
    **overrides: Any,
) -> str:
    """An access token built outside the server, by default exactly like the server's."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": account.id,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "iss": server.settings.jwt_issuer,
        "aud": server.settings.jwt_audience,
        "jti": uuid.uuid4().hex,
        "ver": 0,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}  # None drops a claim
    key = server.settings.jwt_secret if secret is None else secret
    return jwt.encode(claims, key if algorithm != "none" else None, algorithm=algorithm)


async def close_code_after_init(sock: Socket) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes the socket; the close code and the frames before it."""
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            frames.append(await sock.recv(timeout=3))
    return sock.ws.close_code, frames


# ---------------------------------------------------------------- registration


async def test_register_returns_tokens_expiry_and_user(client: Client) -> None:
    body = await register_raw(client, "alice")
    assert "errors" not in body, body
    payload = body["data"]["register"]
    assert payload["accessToken"] and payload["refreshToken"]
    assert payload["accessToken"] != payload["refreshToken"]
    assert payload["user"]["username"] == "alice"
    assert len(payload["user"]["id"]) == 32
    expires_at = payload["expiresAt"]
    assert expires_at.endswith("Z"), expires_at
    expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    remaining = expires - datetime.now(UTC)
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15, seconds=5), remaining


async def test_register_lower_cases_the_username(client: Client) -> None:
    body = await register_raw(client, "Alice")
    assert body["data"]["register"]["user"]["username"] == "alice"
    me = await client.data(ME, token=body["data"]["register"]["accessToken"])
    assert me["me"]["username"] == "alice"


async def test_usernames_are_unique_case_insensitively(client: Client) -> None:
    await client.register("alice")
    for taken in ("ALICE", "alice", "Alice"):
        error = (await register_raw(client, taken))["errors"][0]
        assert code_of(error) == "CONFLICT", error


async def test_invalid_usernames_are_rejected_as_bad_user_input(client: Client) -> None:
    for username in (
        "ab",
        "a" * 33,
        "has space",
        "emoji\U0001f642",
        "semi;colon",
        "slash/",
        "",
        "tab\tname",
        "\u00fcn\u00efcode",
    ):
        error = (await register_raw(client, username))["errors"][0]
        assert code_of(error) == "BAD_USER_INPUT", (username, error)


async def test_usernames_of_3_to_32_allowed_characters_are_accepted(client: Client) -> None:
    for username in ("abc", "a" * 32, "a_b.c-d", "123"):
        body = await register_raw(client, username)
        assert "errors" not in body, (username, body)
        assert body["data"]["register"]["user"]["username"] == username


async def test_passwords_outside_8_to_128_characters_are_rejected(client: Client) -> None:
    for password in ("", "short", "1234567", "x" * 129):
        error = (await register_raw(client, "alice", password))["errors"][0]
        assert code_of(error) == "BAD_USER_INPUT", (password, error)


async def test_passwords_of_8_and_128_characters_are_accepted(client: Client) -> None:
    for name, password in (("eight", "12345678"), ("long", "p" * 128)):
        body = await register_raw(client, name, password)
        assert "errors" not in body, body
        assert (await login(client, name, password))["user"]["username"] == name


# ---------------------------------------------------------------- login


async def test_login_returns_a_working_session(client: Client) -> None:
    alice = await client.register("alice")
    session = await login(client, "alice")
    assert session["user"]["id"] == alice.id
    assert session["expiresAt"].endswith("Z")
    await assert_me_works(client, session["accessToken"], alice.id)


async def test_login_lower_cases_the_username(client: Client) -> None:
    alice = await client.register("alice")
    assert (await login(client, "ALICE"))["user"]["id"] == alice.id


async def test_wrong_password_and_unknown_user_fail_identically(client: Client) -> None:
    await client.register("alice")
    wrong_password = await client.error(LOGIN, {"u": "alice", "p": "not the password"})
    unknown_user = await client.error(LOGIN, {"u": "nobody", "p": "not the password"})
    assert code_of(wrong_password) == code_of(unknown_user) == "UNAUTHENTICATED"
    assert wrong_password["message"] == unknown_user["message"]
    assert wrong_password["extensions"] == unknown_user["extensions"]


# ---------------------------------------------------------------- access tokens


async def test_access_token_is_an_hs256_jwt_with_the_standard_claims(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    assert jwt.get_unverified_header(alice.token)["alg"] == "HS256"
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    for claim in ("exp", "iat", "iss", "aud", "sub", "jti"):
        assert claim in claims, claims
    assert claims["sub"] == alice.id
    assert claims["iss"] == server.settings.jwt_issuer
    assert claims["aud"] == server.settings.jwt_audience
    assert 14 * 60 <= claims["exp"] - claims["iat"] <= 15 * 60
    assert claims["iat"] <= time.time() + 5
    other = jwt.decode(
        (await login(client, "alice"))["accessToken"], options={"verify_signature": False}
    )
    assert other["jti"] != claims["jti"]


async def test_a_token_forged_exactly_like_the_servers_is_accepted(
    server: Server, client: Client
) -> None:
    """The control for the rejections below: the forging helper itself is sound."""
    alice = await client.register("alice")
    await assert_me_works(client, forge_token(server, alice), alice.id)


async def test_requests_without_an_authorization_header_are_unauthenticated(
    client: Client,
) -> None:
    await assert_unauthenticated(client, ME)


async def test_malformed_authorization_headers_are_unauthenticated(client: Client) -> None:
    for header in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer a b c", "garbage"):
        response = await client.http.post(
            client.server.url, json={"query": ME}, headers={"authorization": header}
        )
        assert response.status_code == 200, response.text
        assert code_of(response.json()["errors"][0]) == "UNAUTHENTICATED", header


async def test_a_token_signed_with_another_secret_is_unauthenticated(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    forged = forge_token(server, alice, secret="some-other-secret-that-is-long-enough-too")
    await assert_unauthenticated(client, ME, token=forged)


async def test_an_expired_token_is_unauthenticated(server: Server, client: Client) -> None:
    alice = await client.register("alice")
    expired = forge_token(
        server,
        alice,
        lifetime=timedelta(minutes=-5),
        iat=int((datetime.now(UTC) - timedelta(minutes=20)).timestamp()),
    )
    await assert_unauthenticated(client, ME, token=expired)


async def test_an_unsigned_alg_none_token_is_unauthenticated(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    unsigned = forge_token(server, alice, algorithm="none")
    assert jwt.get_unverified_header(unsigned)["alg"] == "none"
    await assert_unauthenticated(client, ME, token=unsigned)


async def test_tokens_with_wrong_or_missing_claims_are_unauthenticated(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    for overrides in (
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"sub": 12345},
        {"jti": None},
        {"exp": None},
        {"sub": uuid.uuid4().hex},
    ):
        token = forge_token(server, alice, **overrides)
        await assert_unauthenticated(client, ME, token=token)


async def test_a_refresh_token_is_not_accepted_as_an_access_token(client: Client) -> None:
    alice = await client.register("alice")
    await assert_unauthenticated(client, ME, token=alice.refresh_token)


# ---------------------------------------------------------------- refresh tokens


async def test_refreshing_returns_new_tokens_and_retires_the_old_refresh_token(
    client: Client,
) -> None:
    alice = await client.register("alice")
    renewed = await refresh(client, alice.refresh_token)
    assert renewed["user"]["id"] == alice.id
    assert renewed["refreshToken"] != alice.refresh_token
    assert renewed["accessToken"] != alice.token
    assert renewed["expiresAt"].endswith("Z")
    await assert_me_works(client, renewed["accessToken"], alice.id)
    await assert_unauthenticated(client, REFRESH, {"t": alice.refresh_token})


async def test_reusing_a_rotated_refresh_token_revokes_its_whole_family(client: Client) -> None:
    alice = await client.register("alice")
    laptop = await login(client, "alice")  # another session of the same user
    first = await refresh(client, alice.refresh_token)
    second = await refresh(client, first["refreshToken"])

    await assert_unauthenticated(client, REFRESH, {"t": alice.refresh_token})  # the reuse
    await assert_unauthenticated(client, REFRESH, {"t": second["refreshToken"]})  # newest dies too

    again = await refresh(client, laptop["refreshToken"])  # the other session keeps working
    await assert_me_works(client, again["accessToken"], alice.id)


async def test_unknown_or_empty_refresh_tokens_are_unauthenticated(client: Client) -> None:
    for token in ("", "not-a-token", "x" * 1000):
        await assert_unauthenticated(client, REFRESH, {"t": token})


async def test_logout_makes_that_refresh_token_fail(client: Client) -> None:
    alice = await client.register("alice")
    phone = await login(client, "alice")
    assert (await client.data(LOGOUT, {"t": alice.refresh_token, "all": False}))["logout"] is True
    await assert_unauthenticated(client, REFRESH, {"t": alice.refresh_token})
    renewed = await refresh(client, phone["refreshToken"])  # only that session ended
    await assert_me_works(client, renewed["accessToken"], alice.id)


async def test_logout_of_all_devices_revokes_every_refresh_and_access_token(
    client: Client,
) -> None:
    alice = await client.register("alice")
    bob = await client.register("bob")
    phone = await login(client, "alice")
    laptop = await login(client, "alice")
    await assert_me_works(client, laptop["accessToken"], alice.id)

    logout = await client.data(LOGOUT, {"t": phone["refreshToken"], "all": True})
    assert logout["logout"] is True

    for session in (alice.refresh_token, phone["refreshToken"], laptop["refreshToken"]):
        await assert_unauthenticated(client, REFRESH, {"t": session})
    for access in (alice.token, phone["accessToken"], laptop["accessToken"]):
        await assert_unauthenticated(client, ME, token=access)

    await assert_me_works(client, bob.token, bob.id)  # other users are untouched
    fresh = await login(client, "alice")  # and alice can sign in again
    await assert_me_works(client, fresh["accessToken"], alice.id)


async def test_logout_with_an_unknown_refresh_token_is_unauthenticated(client: Client) -> None:
    await assert_unauthenticated(client, LOGOUT, {"t": "never-issued", "all": False})


# ---------------------------------------------------------------- profiles


async def test_update_profile_sets_display_name_and_avatar(client: Client) -> None:
    alice = await client.register("alice")
    updated = await client.data(
        UPDATE_PROFILE,
        {"i": {"displayName": "Alice Liddell", "avatarUrl": "https://example.com/a.png"}},
        alice.token,
    )
    assert updated["updateProfile"]["displayName"] == "Alice Liddell"
    assert updated["updateProfile"]["avatarUrl"] == "https://example.com/a.png"
    me = (await client.data(ME, token=alice.token))["me"]
    assert me["displayName"] == "Alice Liddell"
    assert me["avatarUrl"] == "https://example.com/a.png"
    plain_http = await client.data(
        UPDATE_PROFILE, {"i": {"avatarUrl": "http://example.com/b.png"}}, alice.token
    )
    assert plain_http["updateProfile"]["avatarUrl"] == "http://example.com/b.png"
    assert plain_http["updateProfile"]["displayName"] == "Alice Liddell"


async def test_avatar_url_must_be_http_or_https(client: Client) -> None:
    alice = await client.register("alice")
    for url in (
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "example.com/a.png",
        "https://exa mple.com/a.png",
        "file:///etc/passwd",
    ):
        error = await client.error(UPDATE_PROFILE, {"i": {"avatarUrl": url}}, alice.token)
        assert code_of(error) == "BAD_USER_INPUT", (url, error)
    assert (await client.data(ME, token=alice.token))["me"]["avatarUrl"] is None


async def test_an_empty_avatar_url_clears_the_avatar(client: Client) -> None:
    alice = await client.register("alice")
    await client.data(
        UPDATE_PROFILE, {"i": {"avatarUrl": "https://example.com/a.png"}}, alice.token
    )
    cleared = await client.data(UPDATE_PROFILE, {"i": {"avatarUrl": ""}}, alice.token)
    assert cleared["updateProfile"]["avatarUrl"] is None
    assert (await client.data(ME, token=alice.token))["me"]["avatarUrl"] is None


async def test_update_profile_requires_authentication(client: Client) -> None:
    await assert_unauthenticated(client, UPDATE_PROFILE, {"i": {"displayName": "Mallory"}})


# ---------------------------------------------------------------- search


async def test_search_finds_users_by_username_substring_case_insensitively(
    client: Client,
) -> None:
    alice = await client.register("alice")
    await client.register("malice")
    await client.register("bob")
    found = (await client.data(SEARCH, {"t": "LIC"}, alice.token))["searchUsers"]
    assert sorted(u["username"] for u in found["items"]) == ["alice", "malice"]
    assert found["nextToken"] is None


async def test_search_finds_users_by_display_name_substring_case_insensitively(
    client: Client,
) -> None:
    viewer = await client.register("viewer")
    await register_raw(client, "ghopper", display_name="Grace Hopper")
    await register_raw(client, "alovelace", display_name="Ada Lovelace")
    for term in ("hopper", "GRACE H", "ace ho"):
        found = (await client.data(SEARCH, {"t": term}, viewer.token))["searchUsers"]["items"]
        assert [u["username"] for u in found] == ["ghopper"], term
        assert found[0]["displayName"] == "Grace Hopper"


async def test_search_matches_non_ascii_display_names_case_insensitively(
    client: Client,
) -> None:
    viewer = await client.register("viewer")
    await register_raw(client, "ezola", display_name="\u00c9mile Zola")
    for term in ("\u00c9mile", "\u00e9mile", "\u00c9MILE"):
        found = (await client.data(SEARCH, {"t": term}, viewer.token))["searchUsers"]["items"]
        assert [u["username"] for u in found] == ["ezola"], term


async def test_search_treats_like_wildcards_literally(client: Client) -> None:
    viewer = await client.register("viewer")
    await client.register("under_score")
    await client.register("underxscore")
    found = (await client.data(SEARCH, {"t": "r_s"}, viewer.token))["searchUsers"]["items"]
    assert [u["username"] for u in found] == ["under_score"]
    none = (await client.data(SEARCH, {"t": "%"}, viewer.token))["searchUsers"]["items"]
    assert none == []


async def test_search_pages_without_repeats_or_skips(client: Client) -> None:
    viewer = await client.register("viewer")
    expected = set()
    for i in range(7):
        expected.add((await client.register(f"pager{i:02d}")).username)
    await client.register("someone")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = (await client.data(SEARCH, {"t": "PAGER", "l": 3, "n": token}, viewer.token))[
            "searchUsers"
        ]
        assert len(page["items"]) <= 3
        seen += [u["username"] for u in page["items"]]
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
        assert pages < 10, "pagination does not terminate"
    assert len(seen) == len(set(seen)), seen
    assert set(seen) == expected
    assert pages == 3


async def test_search_requires_authentication(client: Client) -> None:
    await client.register("alice")
    await assert_unauthenticated(client, SEARCH, {"t": "ali"})


# ---------------------------------------------------------------- WebSocket authentication


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_with_a_valid_token_is_acknowledged(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    sock = await Socket.connect(server, protocol, alice.token)
    await sock.ack()
    await sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_without_authorization_is_closed_with_4403(
    server: Server, protocol: str
) -> None:
    sock = await Socket.connect(server, protocol, None)
    code, frames = await close_code_after_init(sock)
    assert code == 4403, (code, frames)
    assert all(f["type"] == "connection_error" for f in frames), frames


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_with_a_bad_token_is_closed_with_4403(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    bad_tokens = {
        "garbage": "not.a.token",
        "other-secret": forge_token(server, alice, secret="x" * 48),
        "expired": forge_token(server, alice, lifetime=timedelta(minutes=-1)),
        "alg-none": forge_token(server, alice, algorithm="none"),
        "refresh-token": alice.refresh_token,
    }
    for kind, token in bad_tokens.items():
        sock = await Socket.connect(server, protocol, token)
        code, frames = await close_code_after_init(sock)
        assert code == 4403, (kind, code, frames)
        assert all(f["type"] == "connection_error" for f in frames), (kind, frames)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_rejects_access_tokens_revoked_by_logout_everywhere(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    await client.data(LOGOUT, {"t": alice.refresh_token, "all": True})
    sock = await Socket.connect(server, protocol, alice.token)
    code, frames = await close_code_after_init(sock)
    assert code == 4403, (code, frames)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_accepts_the_appsync_style_authorization_key(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice")
    for value in (f"Bearer {alice.token}", alice.token):
        sock = await Socket.connect(server, protocol, None, init=False)
        await sock.send({"type": "connection_init", "payload": {"Authorization": value}})
        await sock.ack()
        await sock.close()


async def test_graphql_transport_ws_subscribe_before_connection_init_is_closed_with_4401(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    room = await client.create_room(alice, "lobby")
    sock = await Socket.connect(server, TRANSPORT_WS, None, init=False)
    await sock.send(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": "subscription($r: ID!) { onMessageCreated(chatRoomId: $r) { id } }",
                "variables": {"r": room},
            },
        }
    )
    code, frames = await close_code_after_init(sock)
    assert code == 4401, (code, frames)
    assert frames == []


async def test_server_keeps_serving_after_rejected_websockets(
    server: Server, client: Client
) -> None:
    alice = await client.register("alice")
    socks = await asyncio.gather(
        *(Socket.connect(server, p, None) for p in PROTOCOLS for _ in range(3))
    )
    for sock in socks:
        code, _ = await close_code_after_init(sock)
        assert code == 4403
    await assert_me_works(client, alice.token, alice.id)
    ok = await Socket.connect(server, TRANSPORT_WS, alice.token)
    await ok.ack()
    await ok.close()
