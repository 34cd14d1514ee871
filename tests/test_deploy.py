"""deploy/: what can be proven on this machine without a Docker engine.

Debian's nginx checks the deploy configuration (`nginx -t`) and then runs it, on loopback, in
front of a real `python -m chatql`: GraphQL over HTTP, a graphql-transport-ws subscription,
GraphQL over SSE, HLS caching and the proxy headers all go through it. The compose file, the
Dockerfile and the systemd units get structural checks (and `systemd-analyze verify`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import ON_MESSAGE, TRANSPORT_WS, Client, Server, Socket, free_port
from tests.test_appsync import ON_MESSAGE as APPSYNC_ON_MESSAGE
from tests.test_appsync import Realtime
from tests.test_process import start, wait_ready

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX_DIR = DEPLOY / "nginx"
TEMPLATE = NGINX_DIR / "templates" / "chatql.conf.template"
PLACEHOLDER = re.compile(r"\$\{(CHATQL_[A-Z_]+)\}")


def find_nginx() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )


NGINX = find_nginx()
# Missing nginx is a skip on a developer's machine and a failure in CI (make media-tools
# installs it), as for the media plane's tests.
requires_nginx = pytest.mark.skipif(
    NGINX is None and not os.environ.get("CI"),
    reason="needs nginx (make media-tools installs it as root)",
)


def render(template: str, values: dict[str, str]) -> str:
    """What envsubst does with the names it is given (the nginx image's templates): only
    `${CHATQL_...}` is replaced, nginx's own `$variables` stay."""

    def value(match: re.Match[str]) -> str:
        assert match.group(1) in values, f"no value for {match.group(0)}"
        return values[match.group(1)]

    return PLACEHOLDER.sub(value, template)


@dataclass
class NginxSite:
    prefix: Path
    conf: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def lay_out(
    tmp_path: Path, chatql_ports: list[int], media_port: int, extra_servers: str = ""
) -> NginxSite:
    """The deploy configuration as compose lays it out, with loopback upstreams instead of the
    compose service names, under a prefix of its own."""
    prefix = tmp_path / "nginx"
    conf_dir = prefix / "chatql"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "cache").mkdir()  # as /var/cache/nginx is in the image
    conf_dir.mkdir()
    shutil.copy(NGINX_DIR / "locations.conf", conf_dir / "locations.conf")
    upstreams = (NGINX_DIR / "upstreams.conf").read_text()
    chatql_servers = "".join(
        f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in chatql_ports
    )
    upstreams = re.sub(
        r"(upstream chatql \{\n)(?:    server .*\n)+", r"\1" + chatql_servers, upstreams
    )
    upstreams = re.sub(
        r"(upstream chatql_media \{\n)(?:    server .*\n)+",
        rf"\g<1>    server 127.0.0.1:{media_port};\n",
        upstreams,
    )
    assert upstreams.count("127.0.0.1") == len(chatql_ports) + 1, upstreams
    (conf_dir / "upstreams.conf").write_text(upstreams)
    port = free_port()
    site = render(
        TEMPLATE.read_text(),
        {
            "CHATQL_NGINX_LISTEN": f"127.0.0.1:{port}",
            "CHATQL_SERVER_NAME": "localhost",
            "CHATQL_NGINX_CONF": str(conf_dir),
            "CHATQL_NGINX_CACHE": str(prefix / "cache"),
        },
    )
    (conf_dir / "chatql.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / ('tmp_' + kind)};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {prefix / 'nginx.pid'};\n"
        + f"error_log {prefix / 'logs' / 'error.log'} warn;\n"
        + "daemon off;\nworker_processes 1;\nevents { worker_connections 256; }\n"
        + "http {\n    include /etc/nginx/mime.types;\n"
        + f"    access_log {prefix / 'logs' / 'access.log'};\n{temp}\n"
        + f"    include {conf_dir / 'chatql.conf'};\n{extra_servers}}}\n"
    )
    return NginxSite(prefix, conf, port)


def nginx_command(site: NginxSite, *flags: str) -> list[str]:
    """nginx on the site's prefix and configuration, its error log inside the prefix."""
    assert NGINX is not None
    error_log = str(site.prefix / "logs" / "error.log")
    return [NGINX, *flags, "-p", str(site.prefix), "-c", str(site.conf), "-e", error_log]


def nginx_test(site: NginxSite) -> subprocess.CompletedProcess[str]:
    return subprocess.run(nginx_command(site, "-t"), capture_output=True, text=True, timeout=30)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@contextlib.contextmanager
def running_nginx(site: NginxSite) -> Iterator[NginxSite]:
    checked = nginx_test(site)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        nginx_command(site),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_listening(site.port, process)
        yield site
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def chatql_behind_nginx(
    tmp_path: Path, **settings: str
) -> AsyncIterator[tuple[NginxSite, Server]]:
    """A real ChatQL on loopback, and nginx with the deploy configuration in front of it. The
    upstream also lists a port where nothing listens: nginx must skip that process."""
    port = free_port()
    process = start(tmp_path / "chat.db", port, **settings)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        site = lay_out(tmp_path, [free_port(), port], media_port=free_port())
        with running_nginx(site):
            yield site, Server(url=f"{site.url}/graphql", settings=None)  # type: ignore[arg-type]
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)


# ---------------------------------------------------------------- nginx -t


@requires_nginx
def test_nginx_accepts_the_deploy_configuration(tmp_path: Path) -> None:
    site = lay_out(tmp_path, [free_port(), free_port()], media_port=free_port())
    checked = nginx_test(site)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    assert "${" not in (site.prefix / "chatql" / "chatql.conf").read_text()
    # nginx's own variables are left for nginx
    assert "$http_upgrade" in (site.prefix / "chatql" / "chatql.conf").read_text()


@requires_nginx
def test_nginx_accepts_the_tls_server_once_its_placeholders_are_filled_in(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl makes the test certificate"
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls = (NGINX_DIR / "tls.conf.example").read_text()
    assert tls.count("FILL IN") == 3
    tls = (
        tls.replace("/etc/nginx/tls/fullchain.pem", str(cert))
        .replace("/etc/nginx/tls/privkey.pem", str(key))
        .replace("listen 443 ssl", f"listen 127.0.0.1:{free_port()} ssl")
        .replace("/etc/nginx/chatql/", str(tmp_path / "nginx" / "chatql") + "/")
    )
    site = lay_out(tmp_path, [free_port()], media_port=free_port(), extra_servers=tls)
    checked = nginx_test(site)
    assert checked.returncode == 0, checked.stderr


# ---------------------------------------------------------------- live traffic through nginx


@requires_nginx
async def test_graphql_over_http_and_a_websocket_subscription_through_nginx(tmp_path: Path) -> None:
    async with chatql_behind_nginx(tmp_path) as (site, server):
        client = Client(server)
        alice = await client.register("alice")  # a mutation
        room = await client.create_room(alice, "proxied")
        me = await client.data("{ me { username } }", token=alice.token)  # a query
        assert me == {"me": {"username": "alice"}}

        sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room, "a": None})
        await asyncio.sleep(0.3)  # the subscription is live before the send
        sent = await client.send(alice, room, "through nginx")
        (received,) = await sock.messages(1)
        assert received["id"] == sent["id"] and received["content"] == "through nginx"
        await sock.close()

        async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
            # ChatQL's own headers come through; nginx says nothing about itself
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            assert "nginx/" not in health.headers.get("server", "")
            assert "strict-transport-security" not in health.headers  # plain HTTP
            page = await http.get("/graphql", headers={"accept": "text/html"})  # GraphiQL (dev)
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["x-content-type-options"] == "nosniff"
            # internal endpoints are not reachable from outside
            hook = await http.post("/internal/media/on_publish", data={"name": "k"})
            assert hook.status_code == 404
            assert (await http.get("/metrics")).status_code == 404
            # a body over ChatQL's limit gets ChatQL's 413
            big = await http.post(
                "/graphql", content=b"x" * 70_000, headers={"content-type": "application/json"}
            )
            assert big.status_code == 413
        await client.close()


@requires_nginx
async def test_the_appsync_realtime_endpoint_through_nginx(tmp_path: Path) -> None:
    """AWS AppSync clients' WebSocket (/graphql/realtime) is proxied with its subprotocol."""
    async with chatql_behind_nginx(tmp_path) as (_site, server):
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "appsync")
        auth = {"Authorization": alice.token}
        sock = await Realtime.ready(server, auth)
        assert sock.ws.subprotocol == "graphql-ws"
        await sock.subscribed("1", room, auth, APPSYNC_ON_MESSAGE)
        sent = await client.send(alice, room, "through nginx, AppSync style")
        assert (await sock.data("1"))["onMessageCreated"]["id"] == sent["id"]
        await sock.close()
        await client.close()


@requires_nginx
async def test_graphql_over_sse_streams_through_nginx_without_buffering(tmp_path: Path) -> None:
    """Distinct-connections GraphQL over SSE (POST /graphql/stream, `Accept: text/event-stream`):
    each event must reach the client while the stream stays open, not when it ends."""
    async with chatql_behind_nginx(tmp_path) as (site, server):
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "sse")
        events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def listen() -> None:
            async with (
                httpx.AsyncClient(base_url=site.url, timeout=httpx.Timeout(10, read=30)) as http,
                http.stream(
                    "POST",
                    "/graphql/stream",
                    json={"query": ON_MESSAGE, "variables": {"r": room, "a": None}},
                    headers={
                        "accept": "text/event-stream",
                        "authorization": f"Bearer {alice.token}",
                    },
                ) as response,
            ):
                assert response.status_code == 200, await response.aread()
                assert response.headers["content-type"].startswith("text/event-stream")
                await events.put(("open", {}))
                name = ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                        await events.put((name, json.loads(data) if data else {}))

        listener = asyncio.create_task(listen())
        try:
            opened = asyncio.create_task(events.get())
            await asyncio.wait({opened, listener}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if listener.done():
                listener.result()  # the stream could not be opened: say why
            assert opened.done() and opened.result() == ("open", {})
            await asyncio.sleep(0.3)
            started = time.monotonic()
            sent = await client.send(alice, room, "over sse")
            name, payload = await asyncio.wait_for(events.get(), 5)
            assert name == "next", (name, payload)
            assert payload["data"]["onMessageCreated"]["id"] == sent["id"]
            assert time.monotonic() - started < 2  # delivered as it happened, not buffered
            assert not listener.done()  # and the stream is still open
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await client.close()


@requires_nginx
async def test_clients_cannot_forge_their_address_through_nginx(tmp_path: Path) -> None:
    """With CHATQL_TRUSTED_PROXIES, per-IP limits count the address nginx saw; nginx overwrites
    any X-Forwarded-For a client sends, so each client is one address, whatever it claims."""
    guest = "mutation { startGuestSession { accessToken } }"
    async with (
        chatql_behind_nginx(
            tmp_path,
            CHATQL_TRUSTED_PROXIES="127.0.0.1",
            CHATQL_GUEST_ACCESS="on",
            CHATQL_RATE_LIMIT_GUESTS="1/3600",
        ) as (site, _server),
        httpx.AsyncClient(base_url=site.url, timeout=10) as http,
    ):
        first = await http.post(
            "/graphql", json={"query": guest}, headers={"x-forwarded-for": "198.51.100.1"}
        )
        assert "errors" not in first.json(), first.json()
        second = await http.post(
            "/graphql", json={"query": guest}, headers={"x-forwarded-for": "198.51.100.2"}
        )
        assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_chatql_believes_forwarded_addresses_only_from_trusted_proxies(
    tmp_path: Path,
) -> None:
    guest = "mutation { startGuestSession { accessToken } }"
    for trusted, second_allowed in (("127.0.0.1", True), ("", False)):
        port = free_port()
        process = start(
            tmp_path / f"chat-{bool(trusted)}.db",
            port,
            CHATQL_TRUSTED_PROXIES=trusted,
            CHATQL_GUEST_ACCESS="on",
            CHATQL_RATE_LIMIT_GUESTS="1/3600",
        )
        try:
            await asyncio.to_thread(wait_ready, port, process)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                replies = [
                    (
                        await http.post(
                            "/graphql", json={"query": guest}, headers={"x-forwarded-for": address}
                        )
                    ).json()
                    for address in ("198.51.100.1", "198.51.100.2")
                ]
            assert "errors" not in replies[0]
            assert ("errors" not in replies[1]) is second_allowed, (trusted, replies[1])
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 15)


def serve_folder(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A plain HTTP server standing in for the media plane's HLS server."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_health_check(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")],
        env={**os.environ, "CHATQL_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
    )


@requires_nginx
async def test_hls_playlists_are_cached_for_a_second_and_segments_for_long(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "hls" / "s1").mkdir(parents=True)
    playlist, segment = media / "hls" / "s1" / "index.m3u8", media / "hls" / "s1" / "seg0.ts"
    playlist.write_text("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\nseg0.ts\n")
    segment.write_bytes(b"\x47" * 188 * 10)
    media_port = free_port()
    origin = serve_folder(media, media_port)
    try:
        await asyncio.to_thread(wait_listening, media_port, origin)
        site = lay_out(tmp_path, [free_port()], media_port=media_port)
        with running_nginx(site):
            async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
                first = await http.get("/hls/s1/index.m3u8")
                again = await http.get("/hls/s1/index.m3u8")
                assert (first.headers["x-cache-status"], again.headers["x-cache-status"]) == (
                    "MISS",
                    "HIT",
                )
                playlist.write_text("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\nseg1.ts\n")
                await asyncio.sleep(2.1)  # kept 1 s; nginx counts whole seconds
                fresh = await http.get("/hls/s1/index.m3u8")
                assert "seg1.ts" in fresh.text

                assert (await http.get("/hls/s1/seg0.ts")).headers["x-cache-status"] == "MISS"
                segment.unlink()  # gone from the origin: nginx still has it
                kept = await http.get("/hls/s1/seg0.ts")
                assert kept.status_code == 200 and kept.headers["x-cache-status"] == "HIT"
                assert kept.content == b"\x47" * 188 * 10
    finally:
        origin.terminate()
        origin.wait(timeout=10)


# ---------------------------------------------------------------- compose, image, systemd


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_runs_a_three_member_replica_set_that_the_servers_name_right() -> None:
    services = compose()["services"]
    members = ["mongo1", "mongo2", "mongo3"]
    for name in members:
        assert services[name]["command"][:3] == ["mongod", "--replSet", "rs0"]
        assert services[name]["hostname"] == name
    script = services["mongo-init"]["command"][-1]
    assert re.findall(r'host: "([^"]+)"', script) == [f"{m}:27017" for m in members]
    assert '_id: "rs0"' in script and "PRIMARY" in script
    for name in ("chatql1", "chatql2", "migrate"):
        environment = services[name]["environment"]
        url = environment["CHATQL_DATABASE_URL"]
        assert url == "mongodb://mongo1:27017,mongo2:27017,mongo3:27017/chatql?replicaSet=rs0"
        assert environment["CHATQL_ENV"] == "production"
        assert services[name]["env_file"] == "chatql.env"  # the secret is not in the file
        assert "CHATQL_JWT_SECRET" not in environment
    assert services["migrate"]["command"] == ["migrate"]
    assert (
        services["migrate"]["depends_on"]["mongo-init"]["condition"]
        == "service_completed_successfully"
    )
    for name in ("chatql1", "chatql2"):
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
        assert "ports" not in services[name] or all(
            "8000" not in p for p in services[name]["ports"]
        )
    assert services["chatql1"]["environment"]["CHATQL_MEDIA"] == "on"
    assert services["chatql1"]["build"]["target"] == "media"
    assert "1935:1935" in services["chatql1"]["ports"]
    assert "CHATQL_MEDIA" not in services["chatql2"]["environment"]
    assert (
        services["chatql1"]["environment"]["CHATQL_INSTANCE_NAME"]
        != services["chatql2"]["environment"]["CHATQL_INSTANCE_NAME"]
    )
    # both processes share the files volume
    assert "files:/var/lib/chatql/files" in services["chatql1"]["volumes"]
    assert "files:/var/lib/chatql/files" in services["chatql2"]["volumes"]
    assert "CHATQL_JWT_SECRET=" in (DEPLOY / "chatql.env.example").read_text()


def test_compose_nginx_fills_in_every_placeholder_and_reaches_every_server() -> None:
    services = compose()["services"]
    nginx = services["nginx"]
    template = TEMPLATE.read_text()
    needed = set(PLACEHOLDER.findall(template))
    assert needed <= set(nginx["environment"]), needed - set(nginx["environment"])
    assert nginx["environment"]["NGINX_ENVSUBST_FILTER"] == "^CHATQL_"
    mounts = {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in nginx["volumes"]
        if not volume.startswith("#")
    }
    conf = nginx["environment"]["CHATQL_NGINX_CONF"]
    assert mounts["/etc/nginx/templates"] == "./nginx/templates"
    assert mounts[f"{conf}/upstreams.conf"] == "./nginx/upstreams.conf"
    assert mounts[f"{conf}/locations.conf"] == "./nginx/locations.conf"
    upstreams = (NGINX_DIR / "upstreams.conf").read_text()
    servers = re.findall(r"server ([a-z0-9-]+):(\d+)", upstreams)
    assert ("chatql1", "8000") in servers and ("chatql2", "8000") in servers
    assert ("chatql1", "8088") in servers  # HLS from the process with the media plane
    for host, _port in servers:
        assert host in services
    assert "/etc/nginx/chatql/locations.conf" in (NGINX_DIR / "tls.conf.example").read_text()


def test_upload_size_in_nginx_is_at_least_chatqls_limit() -> None:
    from chatql.config import Settings

    locations = (NGINX_DIR / "locations.conf").read_text()
    uploads = re.search(r"location /files/uploads/ \{[^}]*client_max_body_size (\d+)m;", locations)
    assert uploads is not None
    assert int(uploads.group(1)) * 1024 * 1024 >= Settings().max_upload_bytes


def test_the_image_runs_as_a_user_and_checks_readiness() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    by_name = {stage.split("\n", 1)[0].split(" AS ")[-1].strip(): stage for stage in stages}
    assert {"web", "build", "runtime", "media"} <= set(by_name)
    for name in ("runtime", "media"):
        users = re.findall(r"^USER (\S+)", by_name[name], flags=re.M)
        assert users and users[-1].split(":")[0] not in ("root", "0"), (name, users)
    runtime = by_name["runtime"]
    assert "HEALTHCHECK" in runtime and "healthcheck.py" in runtime
    assert 'ENTRYPOINT ["python", "-m", "chatql"]' in runtime
    assert "-c constraints.txt" in by_name["build"]
    assert by_name["build"].startswith("python:${PYTHON_VERSION}-slim")
    assert runtime.startswith("python:${PYTHON_VERSION}-slim")
    assert "npm ci" in by_name["web"] and "npm run --silent build" in by_name["web"]
    assert "libnginx-mod-rtmp" in by_name["media"] and "ffmpeg" in by_name["media"]


async def test_the_health_check_says_ready_only_when_chatql_is(tmp_path: Path) -> None:
    port = free_port()
    down = await asyncio.to_thread(run_health_check, port)
    assert down.returncode == 1 and "not ready" in down.stderr
    process = start(tmp_path / "chat.db", port)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        up = await asyncio.to_thread(run_health_check, port)
        assert up.returncode == 0, up.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)


def test_the_systemd_units_verify_and_are_hardened(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "chatql.service").read_text()
    for option in (
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "EnvironmentFile=/etc/chatql/chatql.env",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "CapabilityBoundingSet=\n",
    ):
        assert option in unit, option
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    for name in ("chatql.service", "chatql-backup.service", "chatql-backup.timer"):
        text = (
            (DEPLOY / "systemd" / name)
            .read_text()
            .replace("/opt/chatql/bin/python", sys.executable)
        )
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            *(
                str(tmp_path / n)
                for n in ("chatql.service", "chatql-backup.service", "chatql-backup.timer")
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert problems == [], problems
