"""The web app at `/`, as a browser meets it: a fake Vite build served by a real server."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from chatql.config import Settings
from chatql.media_plane.settings import media_origins
from chatql.webapp import NOT_BUILT, content_security_policy
from tests.helpers import Server, running_server

INDEX = '<!doctype html><title>ChatQL</title><script type="module" src="/assets/app-abc123.js">'
SCRIPT = "export const rooms = [];\n" + "console.log('a line the compressor shrinks');\n" * 200
STYLE = "body { margin: 0 }\n" * 100
ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16"/></svg>'
SECRET = "secret outside the build"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """index.html, hashed assets and root files, with secrets next to the directory."""
    root = tmp_path / "app"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-abc123.js").write_text(SCRIPT)
    (root / "assets" / "app-abc123.css").write_text(STYLE)
    (root / "favicon.svg").write_text(ICON)
    (root / "manifest.webmanifest").write_text('{"name": "ChatQL"}')
    for name in ("pyproject.toml", "x", "secret.txt"):
        (tmp_path / name).write_text(SECRET)
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "outside").symlink_to(tmp_path)
    return root


@pytest.fixture
async def web(settings: Settings, build: Path) -> AsyncIterator[tuple[Server, str]]:
    async with running_server(replace(settings, web_dir=str(build))) as server:
        yield server, server.url.removesuffix("/graphql")


async def raw_body(http: httpx.AsyncClient, url: str, accept_encoding: str) -> httpx.Response:
    """A response whose `content` is the bytes on the wire (httpx would decompress them)."""
    headers = {"accept-encoding": accept_encoding}
    async with http.stream("GET", url, headers=headers) as response:
        response._content = b"".join([chunk async for chunk in response.aiter_raw()])
    return response


async def test_routes_of_the_app_get_index_html(web: tuple[Server, str]) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        for path in ("/", "/rooms/abc", "/login", "/rooms/abc/threads/42", "/index.html"):
            page = await http.get(base + path)
            assert page.status_code == 200, path
            assert page.text == INDEX, path
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert page.headers["cache-control"] == "no-cache"


async def test_missing_files_are_404_never_index_html(web: tuple[Server, str]) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        for path in ("/assets/x.js", "/nope.png", "/assets/app-abc999.css", "/assets/chunk"):
            response = await http.get(base + path)
            assert response.status_code == 404, path
            assert INDEX not in response.text
            assert response.json() == {"errors": [{"message": "Not Found"}]}


@pytest.mark.parametrize(
    "target",
    [
        b"/../pyproject.toml",
        b"/assets/..%2f..%2fpyproject.toml",
        b"/assets/%2e%2e/%2e%2e/pyproject.toml",
        b"/%2e%2e/x",
        b"/..%5cpyproject.toml",
        b"/leak.txt",
        b"/outside/secret.txt",
        b"/.%2e/secret.txt",
    ],
)
async def test_nothing_outside_the_directory_is_served(
    web: tuple[Server, str], target: bytes
) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        # `target` is sent as is: httpx would otherwise remove the dot segments itself.
        response = await http.get(base + "/", extensions={"target": target})
        assert response.status_code == 404, target
        assert SECRET not in response.text


async def test_hashed_assets_are_immutable_and_root_files_revalidated(
    web: tuple[Server, str],
) -> None:
    _, base = web
    expected = {
        "/assets/app-abc123.js": ("text/javascript; charset=utf-8", "immutable", SCRIPT),
        "/assets/app-abc123.css": ("text/css; charset=utf-8", "immutable", STYLE),
        "/favicon.svg": ("image/svg+xml", "no-cache", ICON),
        "/manifest.webmanifest": ("application/manifest+json", "no-cache", '{"name": "ChatQL"}'),
    }
    async with httpx.AsyncClient() as http:
        for path, (media_type, cache, text) in expected.items():
            response = await http.get(base + path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == media_type
            assert response.text == text
            if cache == "immutable":
                assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            else:
                assert response.headers["cache-control"] == "no-cache"


async def test_text_is_gzipped_for_clients_that_accept_it(web: tuple[Server, str]) -> None:
    _, base = web
    url = base + "/assets/app-abc123.js"
    async with httpx.AsyncClient() as http:
        packed = await raw_body(http, url, accept_encoding="gzip")
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        assert int(packed.headers["content-length"]) == len(packed.content) < len(SCRIPT)
        assert gzip.decompress(packed.content).decode() == SCRIPT
        again = await raw_body(http, url, accept_encoding="deflate, gzip;q=0.5")
        assert again.content == packed.content
        for refusal in ("identity", "gzip;q=0", "br;q=0, gzip;q=0"):
            plain = await raw_body(http, url, accept_encoding=refusal)
            assert "content-encoding" not in plain.headers, refusal
            assert plain.content.decode() == SCRIPT
            assert int(plain.headers["content-length"]) == len(SCRIPT)
            assert plain.headers["vary"] == "Accept-Encoding"
        icon = await raw_body(http, base + "/favicon.svg", accept_encoding="gzip")
        assert "content-encoding" not in icon.headers  # gzip would not make it smaller
        assert icon.content.decode() == ICON


async def test_a_precompressed_file_next_to_the_original_is_used(
    web: tuple[Server, str], build: Path
) -> None:
    _, base = web
    css = build / "assets" / "app-abc123.css"
    from_build = "/* compressed by the build */\n" + STYLE
    (build / "assets" / "app-abc123.css.gz").write_bytes(gzip.compress(from_build.encode()))
    os.utime(css, ns=(css.stat().st_atime_ns, css.stat().st_mtime_ns - 10**9))
    async with httpx.AsyncClient() as http:
        packed = await raw_body(http, base + "/assets/app-abc123.css", accept_encoding="gzip")
        assert gzip.decompress(packed.content).decode() == from_build


async def test_a_rebuilt_file_is_read_again(web: tuple[Server, str], build: Path) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        assert (await http.get(base + "/")).text == INDEX
        (build / "index.html").write_text(INDEX + "<!-- rebuilt -->")
        assert (await http.get(base + "/rooms/1")).text.endswith("<!-- rebuilt -->")


async def test_etag_revalidation_answers_304(web: tuple[Server, str]) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        for path in ("/", "/favicon.svg", "/assets/app-abc123.js"):
            first = await http.get(base + path, headers={"accept-encoding": "identity"})
            etag = first.headers["etag"]
            cached = await http.get(
                base + path, headers={"accept-encoding": "identity", "if-none-match": etag}
            )
            assert cached.status_code == 304, path
            assert cached.content == b""
            assert cached.headers["etag"] == etag
            assert "content-security-policy" in cached.headers
            weak = await http.get(
                base + path, headers={"accept-encoding": "identity", "if-none-match": f"W/{etag}"}
            )
            assert weak.status_code == 304
            other = await http.get(
                base + path, headers={"accept-encoding": "identity", "if-none-match": '"other"'}
            )
            assert other.status_code == 200 and other.content == first.content
        gzipped = await http.get(
            base + "/assets/app-abc123.js", headers={"accept-encoding": "gzip"}
        )
        plain = await http.get(base + "/assets/app-abc123.js", headers={"accept-encoding": ""})
        assert gzipped.headers["etag"] != plain.headers["etag"]


async def test_head_answers_the_headers_of_get(web: tuple[Server, str]) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        for path in ("/", "/rooms/abc", "/assets/app-abc123.js"):
            got = await http.get(base + path, headers={"accept-encoding": "identity"})
            head = await http.head(base + path, headers={"accept-encoding": "identity"})
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == str(len(got.content))
            assert head.headers["etag"] == got.headers["etag"]
        assert (await http.head(base + "/nope.png")).status_code == 404


async def test_only_get_and_head_are_allowed(web: tuple[Server, str]) -> None:
    _, base = web
    async with httpx.AsyncClient() as http:
        for method, path in (("POST", "/"), ("PUT", "/rooms/abc"), ("DELETE", "/favicon.svg")):
            response = await http.request(method, base + path)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == "GET, HEAD"
            assert "content-security-policy" in response.headers


async def test_every_answer_carries_a_strict_content_security_policy(
    web: tuple[Server, str],
) -> None:
    _, base = web
    host = base.removeprefix("http://")
    async with httpx.AsyncClient() as http:
        for path in ("/", "/assets/app-abc123.js", "/nope.png"):
            response = await http.get(base + path)
            policy = dict(
                [*part.strip().split(" ", 1), ""][:2]
                for part in response.headers["content-security-policy"].split(";")
            )
            assert policy["script-src"] == "'self'"
            assert policy["style-src"] == "'self'"
            assert "unsafe" not in response.headers["content-security-policy"]
            assert policy["connect-src"].split() == ["'self'", f"ws://{host}", f"wss://{host}"]
            assert policy["object-src"] == "'none'"
            assert policy["frame-ancestors"] == "'none'"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["cross-origin-opener-policy"] == "same-origin"
            assert "camera=()" in response.headers["permissions-policy"]
        forged = await http.get(base + "/", headers={"host": "evil.example; script-src *"})
        assert "evil" not in forged.headers["content-security-policy"]


async def test_the_other_endpoints_are_unchanged(web: tuple[Server, str]) -> None:
    server, base = web
    async with httpx.AsyncClient() as http:
        answer = await http.post(server.url, json={"query": "{ __typename }"})
        assert answer.json() == {"data": {"__typename": "Query"}}
        ide = await http.get(server.url, headers={"accept": "text/html"})
        assert "default-src 'none'" in ide.headers["content-security-policy"]
        assert (await http.get(base + "/healthz")).json() == {"status": "ok"}
        assert (await http.get(base + "/readyz")).json() == {"status": "ready"}
        assert (await http.post(base + "/healthz")).status_code == 405
        missing = await http.get(base + "/graphiql/static/missing.js")
        assert missing.status_code == 404 and INDEX not in missing.text
        moved = await http.get(base + "/healthz/")
        assert moved.status_code == 307 and moved.headers["location"].endswith("/healthz")


async def test_web_app_off_answers_404(settings: Settings, build: Path) -> None:
    off = replace(settings, web_app=False, web_dir=str(build))
    async with running_server(off) as server, httpx.AsyncClient() as http:
        base = server.url.removesuffix("/graphql")
        for path in ("/", "/rooms/abc", "/assets/app-abc123.js"):
            assert (await http.get(base + path)).status_code == 404, path
        assert (await http.post(server.url, json={"query": "{ __typename }"})).status_code == 200


async def test_an_unbuilt_app_answers_503_and_says_what_to_run(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "never-built"
    with caplog.at_level(logging.WARNING, logger="chatql.webapp"):
        async with running_server(replace(settings, web_dir=str(empty))) as server:
            base = server.url.removesuffix("/graphql")
            async with httpx.AsyncClient() as http:
                for path in ("/", "/rooms/abc"):
                    page = await http.get(base + path)
                    assert page.status_code == 503
                    assert NOT_BUILT in page.text
                    assert "Traceback" not in page.text
                    assert page.headers["cache-control"] == "no-store"
                assert (await http.get(base + "/favicon.svg")).status_code == 404
                assert (await http.get(base + "/healthz")).status_code == 200
    warnings = [r for r in caplog.records if r.name == "chatql.webapp"]
    assert len(warnings) == 1 and NOT_BUILT in warnings[0].getMessage()


def test_settings_read_from_the_environment() -> None:
    defaults = Settings.from_env({})
    assert defaults.web_app is True and defaults.web_dir == ""
    chosen = Settings.from_env({"CHATQL_WEB_APP": "off", "CHATQL_WEB_DIR": " /srv/chatql/app "})
    assert chosen.web_app is False and chosen.web_dir == "/srv/chatql/app"


def test_the_policy_lets_the_player_reach_the_media_server_only_when_media_is_on(
    settings: Settings,
) -> None:
    assert media_origins(settings) == ()
    media = replace(settings, media=True, media_http_port=18088)
    (origin,) = media_origins(media)
    assert origin == "http://127.0.0.1:18088"
    policy = dict(
        [*part.strip().split(" ", 1), ""][:2]
        for part in content_security_policy("chat.example", True, (), (origin,)).split(";")
    )
    assert policy["connect-src"].split() == ["'self'", "wss://chat.example", origin]
    assert policy["media-src"].split() == ["'self'", "blob:", origin]
    assert origin in policy["img-src"].split()
    assert policy["script-src"] == "'self'"  # nothing else widens
    plain = content_security_policy("chat.example", True)
    assert "media-src 'self' blob:;" in plain and "18088" not in plain
