"""The OpenID Connect authorization code flow with PKCE, one client per provider.

Authlib's OAuth 2 client builds the authorization URL (state, nonce, S256 challenge) and
exchanges the code; joserfc (Authlib's JOSE library) checks the ID token: signature against
the provider's published keys, issuer, audience, expiry and our nonce. Discovery and keys are
fetched once and kept for an hour (keys again at once when a token names an unknown one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from chatql.oidc.providers import Provider

CACHE_SECONDS = 3600
TIMEOUT = 10.0
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
)


class OidcError(Exception):
    """The provider could not be used or its answer was not acceptable."""


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """Who the provider says signed in: only claims from a verified ID token (and the
    userinfo endpoint for the same subject)."""

    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    preferred_username: str | None = None


class OidcClient:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def _oauth(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret,
            scope=self.provider.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            timeout=TIMEOUT,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > CACHE_SECONDS:
            url = f"{self.provider.issuer}/.well-known/openid-configuration"
            meta = await self._get_json(url)
            if meta.get("issuer", "").rstrip("/") != self.provider.issuer:
                raise OidcError(f"{url} names another issuer: {meta.get('issuer')!r}")
            for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(meta.get(needed), str):
                    raise OidcError(f"{url} has no {needed}")
            self._metadata, self._metadata_at = meta, time.monotonic()
        return self._metadata

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        meta = await self.metadata()
        async with self._oauth(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return str(url)

    async def finish(
        self, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> ExternalIdentity:
        """Exchange the code, check the ID token, and read who signed in."""
        meta = await self.metadata()
        async with self._oauth(redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"], code=code, code_verifier=code_verifier
                )
            except Exception as exc:  # Authlib's OAuthError, network errors
                raise OidcError(f"the token exchange failed: {exc}") from exc
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise OidcError("the provider returned no ID token")
            claims = await self._verified_claims(id_token, nonce)
            if "email" not in claims and isinstance(meta.get("userinfo_endpoint"), str):
                claims = {
                    **await self._userinfo(client, meta["userinfo_endpoint"], claims),
                    **claims,
                }
        email = claims.get("email")
        return ExternalIdentity(
            provider=self.provider.id,
            subject=str(claims["sub"]),
            email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
            email_verified=claims.get("email_verified") is True,
            name=_text(claims.get("name")),
            preferred_username=_text(claims.get("preferred_username")),
        )

    async def _userinfo(
        self, client: AsyncOAuth2Client, url: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        """Extra claims, trusted only for the subject the ID token named."""
        try:
            response = await client.get(url)
            info = response.json() if response.status_code == 200 else {}
        except Exception as exc:
            raise OidcError(f"the userinfo request failed: {exc}") from exc
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            return {}
        return {
            k: info[k]
            for k in ("email", "email_verified", "name", "preferred_username")
            if k in info
        }

    async def _verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            decoded = jwt.decode(
                id_token, await self._key_set(), algorithms=list(ALLOWED_ALGORITHMS)
            )
        except JoseError:
            # Perhaps the provider rotated its keys: fetch them once more and try again.
            try:
                decoded = jwt.decode(
                    id_token, await self._key_set(refresh=True), algorithms=list(ALLOWED_ALGORITHMS)
                )
            except (JoseError, ValueError) as exc:
                raise OidcError(f"the ID token's signature does not check out: {exc}") from exc
        except ValueError as exc:
            raise OidcError(f"the ID token is malformed: {exc}") from exc
        claims = dict(decoded.claims)
        registry = JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": self.provider.issuer},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OidcError(f"the ID token is not acceptable: {exc}") from exc
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.provider.client_id not in audiences:
            raise OidcError("the ID token is for another client")
        if len(audiences) > 1 and claims.get("azp") != self.provider.client_id:
            raise OidcError("the ID token was issued to another party")
        return claims

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        stale = time.monotonic() - self._keys_at > CACHE_SECONDS
        if self._keys is None or stale or refresh:
            meta = await self.metadata()
            data = await self._get_json(meta["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as exc:
                raise OidcError(f"the provider's keys cannot be read: {exc}") from exc
            self._keys_at = time.monotonic()
        return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(url)
                response.raise_for_status()
                data = response.json()
        except Exception as exc:
            raise OidcError(f"{url} could not be read: {exc}") from exc
        if not isinstance(data, dict):
            raise OidcError(f"{url} is not a JSON object")
        return data


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
