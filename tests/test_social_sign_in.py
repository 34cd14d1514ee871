"""Social sign-in through a real OpenID provider (npm oidc-provider in a process of its own):
ChatQL's /auth/oidc/<provider>/start and /callback, the provider's own login and consent forms
driven by a real HTTP client, then exchangeLoginCode over GraphQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chatql.config import Settings
from tests.helpers import Client, Server, free_port, running_server
from tests.oidc_server import OidcProvider, sign_in_at_provider
from tests.smtp_server import SmtpServer, link_token

EXCHANGE = (
    "mutation($c: String!, $t: Boolean) { exchangeLoginCode(code: $c, acceptTerms: $t) "
    "{ accessToken user { id username displayName email emailVerified hasPassword } } }"
)
OPTIONS = "{ signInOptions { providers { id name startUrl } } }"


@pytest.fixture
async def social_server(
    settings: Settings, oidc_provider: OidcProvider, smtp_server: SmtpServer
) -> AsyncIterator[Server]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    providers = {
        "test": {
            "issuer": oidc_provider.issuer,
            "client_id": oidc_provider.client_id,
            "client_secret": oidc_provider.client_secret,
            "name": "Test ID",
        }
    }
    configured = replace(
        settings,
        public_url=base,
        oidc_providers=json.dumps(providers),
        smtp_url=smtp_server.url,
    )
    async with running_server(configured, port=port) as server:
        yield server


def base_of(server: Server) -> str:
    return server.url.removesuffix("/graphql")


async def social_code(server: Server, login: str) -> str:
    """Sign in at the provider as `login` in a fresh browser-like client; the one-time code
    ChatQL hands back to the app."""
    base = base_of(server)
    app_page = f"{base}/login/callback"
    async with httpx.AsyncClient(timeout=20) as browser:
        start = f"{base}/auth/oidc/test/start?redirect_uri={app_page}"
        callback = await sign_in_at_provider(
            browser, start, login, f"{base}/auth/oidc/test/callback"
        )
        # The provider sends the browser back to ChatQL's callback, with the flow cookie.
        response = await browser.get(callback, follow_redirects=False)
        assert response.status_code == 302, response.text
        target = response.headers["location"]
        assert target.startswith(app_page + "?"), target
        assert "chatql_oidc_test=" in response.headers.get("set-cookie", "")  # deleted
    params = parse_qs(urlsplit(target).query)
    assert "error" not in params, params
    return params["code"][0]


async def test_sign_in_creates_then_finds_the_account(
    social_server: Server, oidc_provider: OidcProvider
) -> None:
    client = Client(social_server)
    options = (await client.data(OPTIONS))["signInOptions"]["providers"]
    assert options == [
        {
            "id": "test",
            "name": "Test ID",
            "startUrl": f"{base_of(social_server)}/auth/oidc/test/start",
        }
    ]
    email = f"ann{uuid.uuid4().hex[:6]}@example.com"
    code = await social_code(social_server, email)
    user = (await client.data(EXCHANGE, {"c": code}))["exchangeLoginCode"]["user"]
    assert user["email"] == email and user["emailVerified"] is True
    assert user["hasPassword"] is False
    assert user["username"] == email.partition("@")[0]
    # The code works once.
    again = await client.error(EXCHANGE, {"c": code})
    assert again["extensions"] == {"code": "BAD_USER_INPUT", "field": "code"}

    # Signing in again reaches the same account.
    second = await client.data(EXCHANGE, {"c": await social_code(social_server, email)})
    assert second["exchangeLoginCode"]["user"]["id"] == user["id"]
    # A password login is impossible for an account without a password.
    error = await client.error(
        'mutation($u: String!) { login(username: $u, password: "") { accessToken } }',
        {"u": user["username"]},
    )
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    await client.close()


async def test_a_verified_email_links_to_an_existing_account(
    social_server: Server, smtp_server: SmtpServer
) -> None:
    client = Client(social_server)
    email = f"bob{uuid.uuid4().hex[:6]}@example.com"
    bob = await client.data(
        'mutation($e: String!) { register(username: $e, password: "correct horse", '
        "email: $e) { user { id } } }".replace(
            "username: $e", 'username: "bob' + uuid.uuid4().hex[:6] + '"'
        ),
        {"e": email},
    )
    bob_id = bob["register"]["user"]["id"]

    # Before the account proves the address, the provider's proof takes it away instead of
    # linking (the unverified claim may be a squatter's).
    taken = (await client.data(EXCHANGE, {"c": await social_code(social_server, email)}))[
        "exchangeLoginCode"
    ]["user"]
    assert taken["id"] != bob_id and taken["email"] == email
    record = await social_server.app.state.services.store.get_user(bob_id)
    assert record.email is None

    # With a verified address on the account, the identity links to it.
    other = f"cat{uuid.uuid4().hex[:6]}@example.com"
    cat = await client.data(
        'mutation($e: String!) { register(username: $e, password: "correct horse", '
        "email: $e) { user { id } } }".replace(
            "username: $e", 'username: "cat' + uuid.uuid4().hex[:6] + '"'
        ),
        {"e": other},
    )
    mail = await smtp_server.wait_for(other)
    await client.data(
        "mutation($t: String!) { verifyEmail(token: $t) { id } }", {"t": link_token(mail)}
    )
    linked = (await client.data(EXCHANGE, {"c": await social_code(social_server, other)}))[
        "exchangeLoginCode"
    ]["user"]
    assert linked["id"] == cat["register"]["user"]["id"]
    await client.close()


async def test_an_unverified_provider_email_links_nothing(social_server: Server) -> None:
    client = Client(social_server)
    email = f"dan{uuid.uuid4().hex[:6]}+unverified@example.com"
    user = (await client.data(EXCHANGE, {"c": await social_code(social_server, email)}))[
        "exchangeLoginCode"
    ]["user"]
    assert user["email"] is None and user["emailVerified"] is False
    await client.close()


async def test_terms_are_accepted_before_a_social_account_is_made(
    settings: Settings, oidc_provider: OidcProvider, smtp_server: SmtpServer
) -> None:
    port = free_port()
    providers = {
        "test": {
            "issuer": oidc_provider.issuer,
            "client_id": oidc_provider.client_id,
            "client_secret": oidc_provider.client_secret,
        }
    }
    configured = replace(
        settings,
        public_url=f"http://127.0.0.1:{port}",
        oidc_providers=json.dumps(providers),
        terms_version="v7",
    )
    async with running_server(configured, port=port) as server:
        client = Client(server)
        code = await social_code(server, f"eve{uuid.uuid4().hex[:6]}@example.com")
        error = await client.error(EXCHANGE, {"c": code})
        assert error["extensions"]["field"] == "acceptTerms"
        accepted = await client.data(EXCHANGE, {"c": code, "t": True})
        user_id = accepted["exchangeLoginCode"]["user"]["id"]
        record = await server.app.state.services.store.get_user(user_id)
        assert record.terms_version == "v7"
        await client.close()


async def test_the_flow_refuses_what_it_did_not_start(social_server: Server) -> None:
    base = base_of(social_server)
    async with httpx.AsyncClient(timeout=20) as browser:
        unknown = await browser.get(
            f"{base}/auth/oidc/nope/start?redirect_uri={base}/login/callback"
        )
        assert unknown.status_code == 404
        for target in ("https://evil.example.com/cb", f"{base}/elsewhere", ""):
            refused = await browser.get(
                f"{base}/auth/oidc/test/start", params={"redirect_uri": target}
            )
            assert refused.status_code == 400, target
            assert "set-cookie" not in refused.headers
        # A callback with no flow cookie (not started in this browser) is refused.
        stray = await browser.get(f"{base}/auth/oidc/test/callback?code=abc&state=xyz")
        assert stray.status_code == 400
        # One with the cookie but another state is refused too.
        started = await browser.get(
            f"{base}/auth/oidc/test/start", params={"redirect_uri": f"{base}/login/callback"}
        )
        assert started.status_code == 302
        assert "code_challenge_method=S256" in started.headers["location"]
        assert "nonce=" in started.headers["location"]
        cookie = started.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        forged = await browser.get(f"{base}/auth/oidc/test/callback?code=abc&state=forged")
        assert forged.status_code == 400
        # The provider saying no sends the browser back to the app with the reason.
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        denied = await browser.get(
            f"{base}/auth/oidc/test/callback", params={"error": "access_denied", "state": state}
        )
        assert denied.status_code == 302
        assert denied.headers["location"] == f"{base}/login/callback?error=access_denied"
    client = Client(social_server)
    for bad in ("", "x" * 300, "made-up"):
        error = await client.error(EXCHANGE, {"c": bad})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "code"}
    await client.close()


def test_provider_settings_are_checked() -> None:
    from chatql.config_values import ConfigError

    base = {"CHATQL_ENV": "development"}
    for raw, problem in (
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"Bad Id": {}}', "provider id"),
        ('{"corp": {"client_id": "a", "client_secret": "b"}}', "issuer is required"),
        ('{"google": {"client_id": "a"}}', "client_secret is required"),
        ('{"corp": {"issuer": "ftp://x", "client_id": "a", "client_secret": "b"}}', "http(s)"),
        ('{"google": {"client_id": "a", "client_secret": "b", "colour": "red"}}', "unknown"),
        ('{"google": {"client_id": "a", "client_secret": "b", "scopes": "email"}}', "openid"),
    ):
        with pytest.raises(ConfigError, match="CHATQL_OIDC_PROVIDERS") as info:
            Settings.from_env({**base, "CHATQL_OIDC_PROVIDERS": raw})
        assert problem in str(info.value), raw
    google = Settings.from_env(
        {**base, "CHATQL_OIDC_PROVIDERS": '{"google": {"client_id": "a", "client_secret": "b"}}'}
    )
    from chatql.oidc.providers import parse_providers

    assert parse_providers(google.oidc_providers)["google"].issuer == "https://accounts.google.com"
