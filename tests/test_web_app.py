"""The web app in a real browser: `node --test web/app/e2e/` against a real `python -m chatql`.

ChatQL serves the built app (chatql/static/app) at `/`; Debian's Chromium, driven by
playwright-core, plays two or three people in separate browser contexts (web/app/e2e/*.test.mjs).
Screenshots, and the pages of a failed test, land in web/app/e2e/artifacts (git-ignored).

The server sends its mail through a real SMTP server (tests/smtp_server.py) whose Maildir the
tests read (E2E_MAILDIR), allows guests, and has terms of service, so that the account pages
(web/app/e2e/accounts.test.mjs) work end to end; with tests/oidc set up (`npm ci` there) it
also offers social sign-in through a real OpenID provider (tests/oidc_server.py), else that one
browser test skips itself. With nginx's RTMP module and ffmpeg here it runs the media plane
too (free ports, a temporary folder, a two-rung ladder), so that web/app/e2e/streams.test.mjs
publishes real video with ffmpeg (E2E_FFMPEG); without them that test skips itself with the
reason (E2E_MEDIA_SKIP). Its AI assistant talks to the test suite's OpenAI-compatible server
process (tests/openai_server.py), whose record of requests the tests read (E2E_OPENAI_RECORD).
E2E_ONLY=accounts,session runs only those files.

Skipped without Chromium, Node, web/app's node_modules or the built app, except under CI
(`CI` set), where missing tools fail the test: CI must never skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, wait_ready
from tests.media_tools import media_tools
from tests.oidc_server import OidcProvider
from tests.openai_server import OpenAIServer
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web" / "app"
E2E = WEB / "e2e"
ARTIFACTS = E2E / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
BUILT_APP = ROOT / "chatql" / "static" / "app" / "index.html"
SECRET = "web-app-e2e-secret-0123456789abcdef01234"  # 40 characters
TERMS_VERSION = "2026-12"
NODE_TIMEOUT = 300.0


def missing_tools() -> list[str]:
    """What the browser tests need and this machine lacks, as reasons."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} is missing (`make browser` installs Debian's chromium)")
    if shutil.which("node") is None:
        missing.append("node is not on PATH")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        missing.append("web/app/node_modules/playwright-core is missing (`make web`)")
    if not BUILT_APP.is_file():
        missing.append("chatql/static/app/index.html is missing: the app is not built (`make web`)")
    return missing


@pytest.fixture
def tools() -> None:
    missing = missing_tools()
    if not missing:
        return
    reason = "browser tests cannot run: " + "; ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI must run them, never skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def oidc(request: pytest.FixtureRequest) -> OidcProvider | None:
    """The session's OpenID provider, or None where it cannot run (locally without `npm ci` in
    tests/oidc; under CI the fixture fails instead)."""
    try:
        provider = request.getfixturevalue("oidc_provider")
    except pytest.skip.Exception:
        return None
    assert isinstance(provider, OidcProvider)
    return provider


@pytest.fixture
def media(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The media plane for the streams browser test: (the server's settings, the test's
    environment). Without nginx's RTMP module or ffmpeg: no settings, and the skip reason."""
    found = media_tools()
    if isinstance(found, str):
        return {}, {"E2E_MEDIA_SKIP": f"no live video here: it {found}"}
    server = {
        "CHATQL_MEDIA": "on",
        "CHATQL_RTMP_PORT": str(free_port()),
        "CHATQL_MEDIA_HTTP_PORT": str(free_port()),
        "CHATQL_MEDIA_DIR": str(tmp_path / "media"),
        "CHATQL_MEDIA_LADDER": "360p:800k,240p:300k",
        "CHATQL_STREAM_VIEWER_INTERVAL": "0.5",
        "CHATQL_STREAM_SAMPLE_INTERVAL": "2",
        "CHATQL_RATE_LIMIT_STREAMS": "off",
    }
    return server, {"E2E_FFMPEG": found.ffmpeg}


@pytest.fixture
def server_env() -> dict[str, str]:
    """Settings a test adds to the server's (parametrised indirectly; none by default)."""
    return {}


@pytest.fixture
def chatql(
    tmp_path: Path,
    tools: None,
    server_env: dict[str, str],
    smtp_server: SmtpServer,
    oidc: OidcProvider | None,
    media: tuple[dict[str, str], dict[str, str]],
    openai_process: OpenAIServer,
) -> Iterator[tuple[str, Path]]:
    """A real `python -m chatql` on a free loopback port, mailing through `smtp_server`, its
    assistant answering through `openai_process`: its URL and its log file."""
    port = free_port()
    log = tmp_path / "chatql.log"
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CHATQL_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "CHATQL_PORT": str(port),
        "CHATQL_HOST": "127.0.0.1",
        "CHATQL_RATE_LIMIT_AUTH": "off",
        "CHATQL_RATE_LIMIT_MESSAGES": "off",
        "CHATQL_ARGON2_TIME_COST": "1",
        "CHATQL_ARGON2_MEMORY_COST": "1024",
        "CHATQL_JWT_SECRET": SECRET,
        "CHATQL_PRESENCE_GRACE": "0.2",
        # Accounts for a public service: mailed links back to this server, guests, terms.
        "CHATQL_SMTP_URL": smtp_server.url,
        "CHATQL_PUBLIC_URL": url,
        "CHATQL_EMAIL_MODE": "optional",
        "CHATQL_RATE_LIMIT_MAIL": "off",
        "CHATQL_GUEST_ACCESS": "on",
        "CHATQL_RATE_LIMIT_GUESTS": "off",
        "CHATQL_TERMS_VERSION": TERMS_VERSION,
        **media[0],
        # The AI assistant, answered by the scripted OpenAI-compatible server.
        "CHATQL_ASSISTANT_BASE_URL": openai_process.url,
        "CHATQL_ASSISTANT_MODEL": "test-model",
        "CHATQL_ASSISTANT_API_KEY": "test-key",
        "CHATQL_RATE_LIMIT_ASSISTANT": "off",
        **server_env,
    }
    if oidc is not None:
        env["CHATQL_OIDC_PROVIDERS"] = json.dumps(
            {
                "test": {
                    "issuer": oidc.issuer,
                    "client_id": oidc.client_id,
                    "client_secret": oidc.client_secret,
                    "name": "Test ID",
                }
            }
        )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatql"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(port, process, lambda: log.read_text(errors="replace"), timeout=30)
        yield url, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def run_node(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run node with a deadline: its exit code and output (stdout and stderr together)."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group: killing it takes the browsers too
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), NODE_TIMEOUT)
    except TimeoutError:
        kill_group(process.pid)
        out, _ = await process.communicate()
        text = out.decode(errors="replace")
        raise AssertionError(f"node --test ran over {NODE_TIMEOUT:.0f} s:\n{text}") from None
    finally:
        if process.returncode is None:  # cancelled
            kill_group(process.pid)
            await process.wait()
    return await process.wait(), out.decode(errors="replace")


def selected_files() -> list[str]:
    """Every e2e file, or those E2E_ONLY names (comma-separated, without `.test.mjs`)."""
    files = sorted(E2E.glob("*.test.mjs"))
    only = {name.strip() for name in os.environ.get("E2E_ONLY", "").split(",") if name.strip()}
    if only:
        files = [path for path in files if path.name.removesuffix(".test.mjs") in only]
    return [str(path.relative_to(ROOT)) for path in files]


async def test_the_web_app_in_a_real_browser(
    chatql: tuple[str, Path],
    smtp_server: SmtpServer,
    media: tuple[dict[str, str], dict[str, str]],
    openai_process: OpenAIServer,
) -> None:
    # The test files, listed here: `node --test <directory>` means different things across
    # Node versions (a directory to search in 20, a glob pattern from 21 on).
    files = selected_files()
    assert files, f"no browser tests in {E2E}"
    await run_browser_tests(files, chatql, smtp_server, media, openai_process)


# Browser tests whose every request is the app's own (others also call the API directly).
TRUSTED_FILES = ("chat",)


@pytest.mark.parametrize("server_env", [{"CHATQL_TRUSTED_DOCUMENTS": "web-app"}])
async def test_the_web_app_runs_on_its_own_trusted_documents(
    chatql: tuple[str, Path],
    smtp_server: SmtpServer,
    media: tuple[dict[str, str], dict[str, str]],
    openai_process: OpenAIServer,
) -> None:
    """A production server may accept only the app's operations (the build's manifest)."""
    url, _ = chatql
    unlisted = await asyncio.to_thread(
        httpx.post, url + "/graphql", json={"query": "{ __typename }"}, timeout=5
    )
    assert unlisted.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    only = {name.strip() for name in os.environ.get("E2E_ONLY", "").split(",") if name.strip()}
    files = [f"web/app/e2e/{name}.test.mjs" for name in TRUSTED_FILES if not only or name in only]
    if not files:
        pytest.skip("E2E_ONLY leaves out the browser tests run on trusted documents")
    await run_browser_tests(files, chatql, smtp_server, media, openai_process)


async def run_browser_tests(
    files: list[str],
    chatql: tuple[str, Path],
    smtp_server: SmtpServer,
    media: tuple[dict[str, str], dict[str, str]],
    openai_process: OpenAIServer,
) -> None:
    url, log = chatql
    index = await asyncio.to_thread(httpx.get, url + "/", timeout=5)
    assert index.status_code == 200 and '<div id="root">' in index.text, index.text[:500]
    env = {
        **os.environ,
        "CHATQL_URL": url,
        "E2E_ARTIFACTS": str(ARTIFACTS),
        "E2E_MAILDIR": str(smtp_server.maildir),
        "E2E_OPENAI_RECORD": str(openai_process.record),
        "FORCE_COLOR": "0",
        **media[1],
    }
    args = ["node", "--test", "--test-concurrency=1", "--test-reporter=spec", *files]
    code, output = await run_node(args, env)
    if code != 0:
        server = log.read_text(errors="replace")[-20_000:]
        pytest.fail(
            f"the browser tests failed (exit {code}); screenshots of the failing pages are in "
            f"{ARTIFACTS}\n--- node ---\n{output}\n--- ChatQL log (end) ---\n{server}",
            pytrace=False,
        )
