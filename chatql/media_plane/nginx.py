"""nginx for the media plane: its configuration, and a supervisor that keeps it running.

One nginx serves both sides: RTMP ingest (nginx-rtmp, whose `on_publish` hooks ask ChatQL
whether a key may go live) and HTTP playback of the HLS folder ffmpeg writes. Everything it
writes (pid, logs, temp files) stays under `<media dir>/nginx/`, so it needs no root and does
not touch a system nginx. The supervisor runs it in the foreground as ChatQL's child, in a
process group of its own so a dead master's workers can be cleaned up with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from chatql.config import Settings
from chatql.media_plane.settings import LOOPBACK_HOSTS, WILDCARD_HOSTS
from chatql.media_plane.tools import MediaTools

log = logging.getLogger("chatql.media.nginx")

HOOK_PREFIX = "/internal/media"
SEGMENT_CACHE = "public, max-age=31536000, immutable"  # segment names are never reused
THUMBNAIL_CACHE = "public, max-age=5"  # refreshed every few seconds while live
STOP_GRACE = 5.0
READY_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
STABLE_AFTER = 30.0  # a run this long resets the backoff


@dataclass(frozen=True, slots=True)
class MediaPaths:
    """Where the media plane keeps things; `root` is CHATQL_MEDIA_DIR, made absolute."""

    root: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPaths:
        return cls(Path(settings.media_dir).absolute())

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def conf(self) -> Path:
        return self.nginx / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.nginx / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.nginx / "error.log"

    @property
    def hls(self) -> Path:
        return self.root / "hls"

    def stream(self, stream_id: str) -> Path:
        return self.hls / stream_id

    def make(self) -> None:
        for folder in (self.nginx / "temp", self.hls):
            folder.mkdir(parents=True, exist_ok=True)


def hook_host(settings: Settings) -> str:
    """Where nginx reaches ChatQL: loopback unless ChatQL listens on one address only."""
    host = settings.host
    if host in WILDCARD_HOSTS or host in LOOPBACK_HOSTS:
        return "[::1]" if host == "::1" else "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> list[str]:
    """nginx `listen` values for ChatQL's host; loopback is always among them, since ffmpeg
    pulls and ChatQL drops publishers through 127.0.0.1."""
    if host in WILDCARD_HOSTS:
        return [str(port)]
    if host in LOOPBACK_HOSTS:
        return [f"127.0.0.1:{port}"]
    address = f"[{host}]" if ":" in host else host
    return [f"{address}:{port}", f"127.0.0.1:{port}"]


def _quoted(value: str) -> str:
    """A value nginx reads as one token whatever it holds (paths may have spaces)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    settings: Settings, tools: MediaTools, paths: MediaPaths, hook_secret: str
) -> str:
    """The whole nginx.conf; a pure function so tests can `nginx -t` exactly what runs."""
    hook = f"http://{hook_host(settings)}:{settings.port}{HOOK_PREFIX}"
    secret = quote(hook_secret, safe="")
    temp = paths.nginx / "temp"
    lines = ["# Written by ChatQL (chatql/media_plane/nginx.py) at every start; edits are lost."]
    if tools.rtmp_module:
        lines.append(f"load_module {_quoted(tools.rtmp_module)};")
    lines += [
        "daemon off;",
        "master_process on;",
        "worker_processes 1;  # one worker: rtmp_control and live streams are per worker",
        f"pid {_quoted(str(paths.pid))};",
        f"lock_file {_quoted(str(paths.nginx / 'nginx.lock'))};",
        f"error_log {_quoted(str(paths.error_log))} warn;",
    ]
    if os.geteuid() == 0:  # workers read ChatQL's files, so they run as ChatQL's user
        lines.append("user root;")
    lines += [
        "events { worker_connections 1024; }",
        "",
        "rtmp {",
        "    server {",
        *(f"        listen {value};" for value in _listen(settings.host, settings.rtmp_port)),
        "        chunk_size 4096;",
        "        application live {",
        "            live on;",
        "            record off;",
        "            idle_streams off;  # the publisher gone, players (ffmpeg) get EOF and end",
        "            meta copy;  # the publisher's metadata names its codecs: ffmpeg probes less",
        "            allow play 127.0.0.1;  # only the transcoder pulls; viewers get HLS",
        "            deny play all;",
        "            drop_idle_publisher 10s;",
        "            notify_method post;",
        f"            on_publish {_quoted(f'{hook}/on_publish?secret={secret}')};",
        f"            on_publish_done {_quoted(f'{hook}/on_publish_done?secret={secret}')};",
        "        }",
        "    }",
        "}",
        "",
        "http {",
        "    access_log off;",
        "    server_tokens off;",
        "    sendfile on;",
        "    tcp_nopush on;",
        *(
            f"    {kind}_temp_path {_quoted(str(temp / kind))};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "    types {",
        "        application/vnd.apple.mpegurl m3u8;",
        "        video/mp2t ts;",
        "        image/jpeg jpg;",
        "    }",
        "    default_type application/octet-stream;",
        "    gzip on;",
        "    gzip_types application/vnd.apple.mpegurl;",
        "    server {",
        *(f"        listen {value};" for value in _listen(settings.host, settings.media_http_port)),
        f"        root {_quoted(str(paths.root))};",
        "        location /hls/ {",
        "            location ~ \\.m3u8$ {",
        "                add_header Cache-Control no-cache always;",
        "                add_header Access-Control-Allow-Origin * always;",
        "            }",
        "            location ~ \\.ts$ {",
        f'                add_header Cache-Control "{SEGMENT_CACHE}" always;',
        "                add_header Access-Control-Allow-Origin * always;",
        "            }",
        "            location ~ \\.jpg$ {",
        f'                add_header Cache-Control "{THUMBNAIL_CACHE}" always;',
        "                add_header Access-Control-Allow-Origin * always;",
        "            }",
        "            return 404;",
        "        }",
        "        location /control {  # drop a publisher; ChatQL alone, from this machine",
        "            allow 127.0.0.1;",
        "            deny all;",
        "            rtmp_control all;",
        "        }",
        "        location / {",
        "            return 404;",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def write_config(
    settings: Settings, tools: MediaTools, paths: MediaPaths, hook_secret: str
) -> Path:
    paths.make()
    text = render_config(settings, tools, paths, hook_secret)
    # the hook secret is in it: readable by ChatQL's user only
    fd = os.open(paths.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(paths.conf, 0o600)
    return paths.conf


async def check_config(nginx: str, paths: MediaPaths) -> str | None:
    """nginx's own verdict on the written configuration: None when it is fine."""
    process = await asyncio.create_subprocess_exec(
        nginx,
        "-t",
        "-q",
        "-p",
        str(paths.nginx),
        "-c",
        str(paths.conf),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode == 0:
        return None
    return err.decode(errors="replace").strip() or f"nginx -t exited {process.returncode}"


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child waits as one until its parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_stale(paths: MediaPaths) -> bool:
    """An nginx left running from this folder by a ChatQL that was killed holds our ports:
    stop it (only if its command line names our configuration)."""
    try:
        pid = int(paths.pid.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return False
    if str(paths.conf) not in cmdline:
        return False
    log.warning("stopping nginx %d left over from an earlier run", pid)
    pgid = os.getpgid(pid) if pid > 0 else pid
    _kill_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    _kill_group(pgid, signal.SIGKILL)
    return True


async def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class NginxSupervisor:
    """Runs nginx in the foreground; restarts it with backoff if it dies; stops it on exit.

    `on_restart` runs after nginx died and before the new one starts: every publisher was
    connected to the dead one, so their streams are over."""

    def __init__(
        self,
        nginx: str,
        paths: MediaPaths,
        ready_ports: tuple[int, ...],
        on_restart: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._nginx = nginx
        self._paths = paths
        self._ready_ports = ready_ports
        self._on_restart = on_restart
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> bool:
        """Start nginx and wait until it accepts connections; False if it did not come up
        in time (the supervisor keeps trying)."""
        await asyncio.to_thread(stop_stale, self._paths)
        self._stopping = False
        await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name="nginx-supervisor")
        return await self.wait_ready()

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running:
                ready = [await port_open(port) for port in self._ready_ports]
                if all(ready):
                    return True
            await asyncio.sleep(0.05)
        return False

    async def _spawn(self) -> None:
        stderr = os.open(
            self._paths.nginx / "stderr.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        try:
            self._process = await asyncio.create_subprocess_exec(
                self._nginx,
                "-p",
                str(self._paths.nginx),
                "-c",
                str(self._paths.conf),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own group: we clean up its workers, Ctrl-C does not
            )
        finally:
            os.close(stderr)
        log.info("nginx started (pid %d)", self._process.pid)

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = await process.wait()
            _kill_group(process.pid, signal.SIGKILL)  # workers outlive a killed master
            if self._stopping:
                return
            if time.monotonic() - started >= STABLE_AFTER:
                backoff = BACKOFF_FIRST
            log.error(
                "nginx exited with status %s; restarting in %.1f s. Its log: %s",
                code,
                backoff,
                _tail(self._paths.error_log) or _tail(self._paths.nginx / "stderr.log"),
            )
            if self._on_restart is not None:
                try:
                    await self._on_restart()
                except Exception:
                    log.exception("cleaning up after nginx died failed")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            if self._stopping:
                return
            self.restarts += 1
            try:
                await self._spawn()
            except OSError:
                log.exception("could not start nginx")

    async def stop(self) -> None:
        """Fast shutdown (SIGTERM), then SIGKILL for the whole group if it lingers."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
            except TimeoutError:
                log.warning("nginx did not stop within %.0f s: killing it", STOP_GRACE)
            _kill_group(process.pid, signal.SIGKILL)  # its workers, whatever the master did
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(process.wait(), STOP_GRACE)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
