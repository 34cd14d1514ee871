"""The two stops a browser makes on a social sign-in.

`GET /auth/oidc/<provider>/start?redirect_uri=<app page>` checks the app page against the
allow-list, keeps state, nonce, PKCE verifier and that page in a short-lived signed cookie
(HttpOnly, SameSite=Lax, scoped to /auth/oidc/), and sends the browser to the provider.
`GET /auth/oidc/<provider>/callback` checks the state against that cookie (a callback not
started in this browser is refused), finishes the flow, and sends the browser back to the app
page with `?code=<one-time login code>` for `exchangeLoginCode`, or `?error=<reason>`.
The cookie, not server memory, carries the flow, so any process behind a load balancer can
take the callback.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

import jwt
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from chatql.config import Settings
from chatql.oidc.client import OidcClient, OidcError
from chatql.oidc.providers import Provider
from chatql.services.social_accounts import SocialAccounts

log = logging.getLogger("chatql.oidc")
COOKIE_PATH = "/auth/oidc/"
FLOW_SECONDS = 600
AUDIENCE = "chatql-oidc-flow"
MAX_PARAM = 2048


def _cookie_name(provider: str) -> str:
    return f"chatql_oidc_{provider}"


def _refuse(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status, headers={"cache-control": "no-store"})


def _back_to_app(redirect_uri: str, params: Mapping[str, str]) -> str:
    joiner = "&" if urlsplit(redirect_uri).query else "?"
    return f"{redirect_uri}{joiner}{urlencode(params)}"


def oidc_routes(
    settings: Settings, providers: Mapping[str, Provider], social: SocialAccounts
) -> list[Route]:
    clients = {key: OidcClient(provider) for key, provider in providers.items()}
    allowed = set(settings.login_redirect_uris)
    secure = settings.base_url.startswith("https://")

    def callback_url(provider: str) -> str:
        return f"{settings.base_url}/auth/oidc/{provider}/callback"

    async def start(request: Request) -> Response:
        client = clients.get(request.path_params["provider"])
        if client is None:
            return _refuse(404, "Unknown sign-in provider")
        redirect_uri = request.query_params.get("redirect_uri", "")
        if redirect_uri not in allowed:
            return _refuse(400, "redirect_uri is not one this server may send you back to")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        flow = {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "redirect_uri": redirect_uri,
            "aud": AUDIENCE,
            "exp": int(time.time()) + FLOW_SECONDS,
        }
        try:
            url = await client.authorization_url(
                callback_url(client.provider.id), state, nonce, verifier
            )
        except OidcError as exc:
            log.warning("sign-in with %s cannot start: %s", client.provider.id, exc)
            return RedirectResponse(
                _back_to_app(redirect_uri, {"error": "provider_unavailable"}), 302
            )
        response = RedirectResponse(url, status_code=302)
        response.set_cookie(
            _cookie_name(client.provider.id),
            jwt.encode(flow, settings.jwt_secret, algorithm="HS256"),
            max_age=FLOW_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            secure=secure,
            samesite="lax",
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def callback(request: Request) -> Response:
        client = clients.get(request.path_params["provider"])
        if client is None:
            return _refuse(404, "Unknown sign-in provider")
        name = _cookie_name(client.provider.id)
        try:
            flow = jwt.decode(
                request.cookies.get(name, ""),
                settings.jwt_secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                options={"require": ["exp", "aud"]},
            )
        except jwt.PyJWTError:
            return _refuse(400, "This sign-in was not started here or took too long; start again")
        state = request.query_params.get("state", "")
        if not secrets.compare_digest(state.encode(), str(flow.get("state", "")).encode()):
            return _refuse(400, "The sign-in state does not match; start again")
        redirect_uri = str(flow["redirect_uri"])
        if redirect_uri not in allowed:
            return _refuse(400, "redirect_uri is no longer allowed")
        error = request.query_params.get("error")
        code = request.query_params.get("code", "")
        if error or not code or len(code) > MAX_PARAM:
            reason = "access_denied" if error == "access_denied" else "provider_error"
            target = _back_to_app(redirect_uri, {"error": reason})
        else:
            try:
                identity = await client.finish(
                    code, callback_url(client.provider.id), flow["verifier"], flow["nonce"]
                )
                target = _back_to_app(redirect_uri, {"code": await social.login_code(identity)})
            except OidcError as exc:
                log.warning("sign-in with %s failed: %s", client.provider.id, exc)
                target = _back_to_app(redirect_uri, {"error": "provider_error"})
        response = RedirectResponse(target, status_code=302)
        response.delete_cookie(name, path=COOKIE_PATH, httponly=True, secure=secure, samesite="lax")
        response.headers["cache-control"] = "no-store"
        response.headers["referrer-policy"] = "no-referrer"
        return response

    return [
        Route("/auth/oidc/{provider}/start", start, methods=["GET"]),
        Route("/auth/oidc/{provider}/callback", callback, methods=["GET"]),
    ]
