"""The OpenID Connect fixture itself, without ChatQL: a PKCE authorization code flow through
the real provider, with the ID token's signature checked against its published keys."""

from __future__ import annotations

from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc_server import OidcProvider, sign_in_at_provider

CALLBACK = "http://127.0.0.1:9/cb"  # nothing listens there: the driver stops before it


async def _sign_in(
    provider: OidcProvider, login: str, *, secret_in_body: bool = False
) -> dict[str, Any]:
    """The whole flow as a relying party runs it; the ID token's validated claims."""
    async with httpx.AsyncClient(timeout=10) as http:
        meta = (await http.get(provider.discovery_url)).raise_for_status().json()
        verifier, state, nonce = generate_token(48), generate_token(16), generate_token(16)
        start = httpx.URL(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": CALLBACK,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            },
        )
        back = await sign_in_at_provider(http, str(start), login, stop_prefix=CALLBACK)
        assert back.params["state"] == state
        assert back.params["iss"] == provider.issuer
        form = {
            "grant_type": "authorization_code",
            "code": back.params["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        }
        if secret_in_body:
            form |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
            response = await http.post(meta["token_endpoint"], data=form)
        else:
            basic = httpx.BasicAuth(provider.client_id, provider.client_secret)
            response = await http.post(meta["token_endpoint"], data=form, auth=basic)
        assert response.status_code == 200, f"{response.text}\n{provider.output()}"
        tokens = response.json()
        keys = KeySet.import_key_set((await http.get(meta["jwks_uri"])).json())
        id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
        assert id_token.header["alg"] == "RS256"
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
        ).validate(id_token.claims)
        claims = id_token.claims
        userinfo = await http.get(
            meta["userinfo_endpoint"],
            headers={"authorization": f"Bearer {tokens['access_token']}"},
        )
        assert userinfo.status_code == 200, userinfo.text
        # the same claims from /me as in the ID token
        assert userinfo.json().items() <= claims.items()
        return claims


async def test_code_flow_with_pkce_yields_a_signed_id_token(oidc_provider: OidcProvider) -> None:
    claims = await _sign_in(oidc_provider, "alice@example.com")
    assert claims["sub"] == "sub-alice@example.com"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "alice"
    assert claims["name"] == "Alice"


async def test_plus_unverified_login_has_an_unverified_email(oidc_provider: OidcProvider) -> None:
    claims = await _sign_in(oidc_provider, "bob+unverified@example.com", secret_in_body=True)
    assert claims["email"] == "bob+unverified@example.com"
    assert claims["email_verified"] is False
    assert claims["sub"] == "sub-bob+unverified@example.com"


async def test_pkce_is_required(oidc_provider: OidcProvider) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{oidc_provider.issuer}/auth",
            params={
                "response_type": "code",
                "client_id": oidc_provider.client_id,
                "redirect_uri": CALLBACK,
                "scope": "openid",
            },
        )
    location = httpx.URL(response.headers["location"])
    assert str(location).startswith(CALLBACK)
    assert location.params["error"] == "invalid_request"
    assert "PKCE" in location.params["error_description"]


async def test_foreign_redirect_uri_is_refused(oidc_provider: OidcProvider) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{oidc_provider.issuer}/auth",
            params={
                "response_type": "code",
                "client_id": oidc_provider.client_id,
                "redirect_uri": "http://evil.example/cb",
                "scope": "openid",
                "code_challenge": create_s256_code_challenge(generate_token(48)),
                "code_challenge_method": "S256",
            },
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
