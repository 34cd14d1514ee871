"""A real OpenID Connect provider for the sign-in tests: panva's oidc-provider under Node.

tests/oidc/provider.mjs runs it, with one confidential client (client_secret_basic or
client_secret_post, PKCE S256 required) and the provider's development login and consent
forms, which `sign_in_at_provider` fills in like a browser would. Any login is accepted with any
password; the claims follow from the login (see provider.mjs): `alice@example.com` gets a
verified e-mail, `bob+unverified@example.com` an unverified one, a login without "@" none.

Redirect URIs: ChatQL's callback port is only known once a test starts ChatQL, long after this
session-wide provider has started, so the client accepts every redirect_uri that starts with
REDIRECT_PREFIX (any loopback port and path) instead of a fixed list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

OIDC_DIR = Path(__file__).parent / "oidc"
REDIRECT_PREFIX = "http://127.0.0.1:"


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str
    log: Path

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def output(self) -> str:
        """What the provider logged (its errors say why a sign-in was refused)."""
        return self.log.read_text(errors="replace")[-5000:]


def _start_provider(
    client_id: str, client_secret: str, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """provider.mjs on a free port, once its discovery document answers (a port taken meanwhile
    by someone else makes it exit: then another port is tried)."""
    node = shutil.which("node")
    assert node is not None
    for _ in range(3):
        port = free_port()
        issuer = f"http://localhost:{port}"
        env = {
            **os.environ,
            "OIDC_PORT": str(port),
            "OIDC_CLIENT_ID": client_id,
            "OIDC_CLIENT_SECRET": client_secret,
            "OIDC_REDIRECT_URIS": REDIRECT_PREFIX,
        }
        with log.open("ab") as out:
            process = subprocess.Popen(
                [node, str(OIDC_DIR / "provider.mjs")],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=OIDC_DIR,
            )
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
                if response.status_code == 200 and response.json().get("issuer") == issuer:
                    return process, issuer
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        process.kill()
        process.wait()
    raise RuntimeError(f"oidc-provider did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """A real OpenID Connect provider for the whole session, ended with it. Without Node or
    tests/oidc/node_modules (`npm ci` there) the tests skip locally and fail under CI."""
    if shutil.which("node") is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        reason = "the OpenID Connect tests need Node.js and `npm ci` in tests/oidc"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    client_id, client_secret = "chatql-test", "chatql-test-client-secret"
    process, issuer = _start_provider(client_id, client_secret, log)
    try:
        yield OidcProvider(issuer=issuer, client_id=client_id, client_secret=client_secret, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The forms of a page, with the names and values of their inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(_Form(values.get("action", ""), values.get("method", "get").upper()))
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1].fields[values["name"]] = values.get("value", "")


async def sign_in_at_provider(
    client: httpx.AsyncClient, start_url: str, login: str, stop_prefix: str
) -> httpx.URL:
    """Follow a sign-in from `start_url` as a browser would: redirects one by one, the
    provider's login form (as `login`, any password) and its consent form, until a redirect to a
    URL starting with `stop_prefix` (the relying party's callback), which is returned unvisited.

    The provider keeps its session in `client`'s cookies: a client that already signed in there
    is not asked to log in again, so use a fresh client for another user."""
    url = httpx.URL(start_url)
    method, data = "GET", None
    for _ in range(30):
        if str(url).startswith(stop_prefix):
            return url
        response = await client.request(method, url, data=data, follow_redirects=False)
        method, data = "GET", None
        location = response.headers.get("location")
        if response.is_redirect and location:
            url = response.url.join(location)
            continue
        parser = _Forms()
        if response.status_code == 200 and "html" in response.headers.get("content-type", ""):
            parser.feed(response.text)
        forms = [form for form in parser.forms if form.fields.get("prompt")]
        if not forms:
            raise AssertionError(
                f"sign-in stuck at {response.request.method} {response.url}: "
                f"{response.status_code}\n{response.text[:2000]}"
            )
        form = forms[0]
        data = dict(form.fields)
        if data["prompt"] == "login":
            data.update(login=login, password="any password")
        elif data["prompt"] != "consent":
            raise AssertionError(f"unexpected prompt {data['prompt']!r} at {response.url}")
        url, method = response.url.join(form.action), form.method
    raise AssertionError(f"sign-in did not reach {stop_prefix} (last at {url})")
