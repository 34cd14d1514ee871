"""The media plane's settings: checks that involve several values, and derived addresses.

`chatql.config` imports this lazily, so it must stay light (no nginx, no services).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from chatql.config import Settings

WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_rtmp_url(raw: str) -> str:
    """`rtmp://host[:port]/app`: what OBS is told to publish to (the key is added by OBS)."""
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("rtmp", "rtmps") or not parts.netloc or parts.query:
        raise ValueError("must be an rtmp(s) URL like rtmp://live.example.com:1935/live")
    return value


def problems(settings: Settings) -> list[str]:
    """What is wrong with the media settings, one sentence each (nothing when media is off)."""
    if not settings.media:
        return []
    found: list[str] = []
    if settings.port == 0:
        found.append("CHATQL_MEDIA=on needs a fixed CHATQL_PORT (nginx calls ChatQL back there)")
    ports = {
        "CHATQL_PORT": settings.port,
        "CHATQL_RTMP_PORT": settings.rtmp_port,
        "CHATQL_MEDIA_HTTP_PORT": settings.media_http_port,
    }
    names = list(ports)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if ports[first] and ports[first] == ports[second]:
                found.append(f"{first} and {second} must differ, both are {ports[first]}")
    directory_problem = _unwritable(Path(settings.media_dir))
    if directory_problem:
        found.append(f"CHATQL_MEDIA_DIR {settings.media_dir!r} {directory_problem}")
    if settings.media_hook_secret and len(settings.media_hook_secret) < 16:
        found.append("CHATQL_MEDIA_HOOK_SECRET must be at least 16 characters")
    return found


def _unwritable(path: Path) -> str | None:
    """Why ChatQL could not create files under `path` (None when it can); nothing is made."""
    probe = path.absolute()
    while not probe.exists():
        if probe.parent == probe:
            return "has no existing parent folder"
        probe = probe.parent
    if not probe.is_dir():
        return f"is not a folder ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"is not writable ({probe} belongs to someone else)"
    return None


def public_host(settings: Settings) -> str:
    """The host people reach this machine by: CHATQL_PUBLIC_URL's, else the listening address."""
    if settings.public_url:
        return urlsplit(settings.public_url).hostname or "127.0.0.1"
    if settings.host in WILDCARD_HOSTS or settings.host in LOOPBACK_HOSTS:
        return "127.0.0.1"
    return settings.host


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def playback_base(settings: Settings) -> str:
    """Base URL of the HLS server; playlists are at `<base>/hls/<stream id>/master.m3u8`."""
    if settings.media_public_url:
        return settings.media_public_url.rstrip("/")
    return f"http://{_netloc(public_host(settings), settings.media_http_port)}"


def media_origins(settings: Settings) -> tuple[str, ...]:
    """The HLS server's origin, for the web app's Content-Security-Policy (none when off)."""
    if not settings.media:
        return ()
    parts = urlsplit(playback_base(settings))
    return (f"{parts.scheme}://{parts.netloc}",)


def ingest_url(settings: Settings) -> str:
    """Where broadcasters publish; their stream key is the stream name after it."""
    if settings.rtmp_public_url:
        return settings.rtmp_public_url.rstrip("/")
    return f"rtmp://{_netloc(public_host(settings), settings.rtmp_port)}/live"
