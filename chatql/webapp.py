"""The built web app (web/app, a Vite single-page app), served at `/`.

Vite writes `index.html` and content-hashed files under `assets/` into one directory
(`CHATQL_WEB_DIR`, by default chatql/static/app). A hashed name never changes content, so those
are cached for a year; every other file, index.html first, is revalidated on each use (ETag,
304). A GET of a path without a file extension is a route of the app and gets index.html; a
path that looks like a file and is missing is a 404, never index.html, so a stale chunk fails
loudly instead of being parsed as HTML.

Each file is read and compressed once (gzip; br too when `brotli` is importable; or the
`.gz`/`.br` file a build left next to it) and kept in memory until its mtime or size changes.
The route comes after every other route, so /graphql pays nothing for it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import importlib
import logging
import mimetypes
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from starlette.datastructures import URLPath
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from chatql.blobs import upload_origins
from chatql.config import Settings
from chatql.media_plane.settings import media_origins
from chatql.security.headers import HTML_HEADERS

__all__ = ["DEFAULT_DIR", "NOT_BUILT", "WebAppRoute", "content_security_policy"]

log = logging.getLogger("chatql.webapp")

DEFAULT_DIR: Final[Path] = Path(__file__).resolve().parent / "static" / "app"
NOT_BUILT: Final[str] = (
    "The web app is not built: run `make install` (npm ci + vite build in web/app)"
)
ASSETS: Final[str] = "assets"
INDEX: Final[str] = "index.html"
IMMUTABLE: Final[bytes] = b"public, max-age=31536000, immutable"
REVALIDATE: Final[bytes] = b"no-cache"
MAX_CACHED_FILE: Final[int] = 8 * 1024 * 1024  # larger files are streamed from disk as they are
CACHE_BUDGET: Final[int] = 64 * 1024 * 1024  # past it the cache starts again (old builds go)

# (Content-Type, worth compressing), by the file's last extension.
_TYPES: Final[dict[str, tuple[str, bool]]] = {
    ".html": ("text/html; charset=utf-8", True),
    ".js": ("text/javascript; charset=utf-8", True),
    ".mjs": ("text/javascript; charset=utf-8", True),
    ".css": ("text/css; charset=utf-8", True),
    ".json": ("application/json", True),
    ".map": ("application/json", True),
    ".webmanifest": ("application/manifest+json", True),
    ".svg": ("image/svg+xml", True),
    ".txt": ("text/plain; charset=utf-8", True),
    ".xml": ("application/xml", True),
    ".wasm": ("application/wasm", True),
    ".ico": ("image/x-icon", True),
    ".ttf": ("font/ttf", True),
    ".otf": ("font/otf", True),
    ".woff2": ("font/woff2", False),
    ".woff": ("font/woff", False),
    ".png": ("image/png", False),
    ".jpg": ("image/jpeg", False),
    ".jpeg": ("image/jpeg", False),
    ".gif": ("image/gif", False),
    ".webp": ("image/webp", False),
    ".avif": ("image/avif", False),
    ".gz": ("application/gzip", False),
    ".br": ("application/octet-stream", False),
}

_CSP_SCRIPTS: Final[str] = "default-src 'self'; script-src 'self'; style-src 'self'; "
_CSP_END: Final[str] = (
    "; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
    "manifest-src 'self'; worker-src 'self'"
)
_HOST: Final[re.Pattern[str]] = re.compile(
    r"(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
)
_SECURITY_HEADERS: Final[list[tuple[bytes, bytes]]] = [
    (name.lower().encode(), value.encode())
    for name, value in {
        **HTML_HEADERS,
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }.items()
]


def _brotli() -> Callable[[bytes], bytes] | None:
    """br when the optional `brotli` package is installed (it is no dependency of ChatQL)."""
    try:
        module: Any = importlib.import_module("brotli")
    except ImportError:
        return None
    return lambda data: bytes(module.compress(data, quality=11))


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


# Preferred first; a `.br`/`.gz` file next to the original counts even without the library.
_COMPRESSORS: Final[dict[str, Callable[[bytes], bytes] | None]] = {
    "br": _brotli(),
    "gzip": _gzip,
}


def content_security_policy(
    host: str,
    secure: bool,
    upload_origins: Sequence[str] = (),
    media_origins: Sequence[str] = (),
) -> str:
    """The app's policy: nothing inline, nothing evaluated, sockets only to this host.

    `connect-src 'self'` covers same-origin ws:/wss: in current browsers only, so the socket
    URL is listed as well, from the Host header (when it is a plausible host). wss: is always
    allowed, for a TLS proxy that does not tell this process the scheme. `upload_origins` are
    where the browser PUTs files itself (an S3 endpoint's presigned URLs). `media_origins` serve
    live video: hls.js fetches their playlists and segments, plays them from a `blob:`
    MediaSource, and shows their thumbnails (plain http in development, so named here).
    """
    uploads = "".join(f" {origin}" for origin in upload_origins)
    media = "".join(f" {origin}" for origin in media_origins)
    images = f"img-src 'self' data: blob: https:{media}; font-src 'self'; "
    video = f"; media-src 'self' blob:{media}"
    host = host.lower()
    sockets = ""
    if _HOST.fullmatch(host):
        sockets = f" wss://{host}" if secure else f" ws://{host} wss://{host}"
    return (
        _CSP_SCRIPTS + images + "connect-src 'self'" + sockets + uploads + media + video + _CSP_END
    )


@dataclass(frozen=True, slots=True)
class _Variant:
    body: bytes
    etag: bytes


@dataclass(frozen=True, slots=True)
class _File:
    """One file in memory: its encodings, and the (mtime, size) they were read at."""

    version: tuple[int, int]
    media_type: bytes
    compressible: bool
    variants: dict[str, _Variant]  # "identity", and "gzip"/"br" when smaller

    @property
    def size(self) -> int:
        return sum(len(v.body) for v in self.variants.values())


@dataclass(frozen=True, slots=True)
class _Target:
    """A file to answer with, and how long browsers may keep it."""

    root: str
    real: str
    found: os.stat_result
    cache: bytes


def _media_type(name: str) -> tuple[str, bool]:
    suffix = os.path.splitext(name)[1].lower()
    known = _TYPES.get(suffix)
    if known is not None:
        return known
    guessed = mimetypes.guess_type(f"file{suffix}")[0]
    return (guessed or "application/octet-stream", False)


def _inside(root: str, real: str) -> bool:
    return real.startswith(root.rstrip(os.sep) + os.sep)


def _precompressed(root: str, real: str, coding: str, original: os.stat_result) -> bytes | None:
    """The `file.gz` / `file.br` a build wrote, if it is inside the directory and not stale."""
    path = os.path.realpath(real + (".gz" if coding == "gzip" else ".br"))
    if not _inside(root, path):
        return None
    try:
        with open(path, "rb") as packed:
            found = os.fstat(packed.fileno())
            if not stat.S_ISREG(found.st_mode) or found.st_mtime_ns < original.st_mtime_ns:
                return None
            return packed.read()
    except OSError:
        return None


def _load(root: str, real: str) -> _File:
    """Read and compress one file (in a worker thread: compression takes milliseconds)."""
    with open(real, "rb") as source:
        found = os.fstat(source.fileno())
        raw = source.read()
    media_type, compressible = _media_type(real)
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    variants = {"identity": _Variant(raw, f'"{digest}"'.encode())}
    if compressible:
        for coding, compress in _COMPRESSORS.items():
            packed = _precompressed(root, real, coding, found)
            if packed is None and compress is not None:
                packed = compress(raw)
            if packed is not None and len(packed) < len(raw):
                variants[coding] = _Variant(packed, f'"{digest}-{coding}"'.encode())
    return _File((found.st_mtime_ns, found.st_size), media_type.encode(), compressible, variants)


def _accepted(header: str) -> set[str]:
    """The codings of `Accept-Encoding` with a weight above zero (`*` included)."""
    weights: dict[str, float] = {}
    for item in header.lower().split(","):
        coding, *params = item.split(";")
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    anything = weights.get("*", 0.0)
    return {coding for coding in _COMPRESSORS if weights.get(coding, anything) > 0}


def _etag_matches(header: str, etag: bytes) -> bool:
    if header.strip() == "*":
        return True
    wanted = etag.decode()
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _route_path(scope: Scope) -> str:
    """The path below the application's root path (as Starlette's router sees it)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


def _toggle_slash(path: str) -> str:
    return path.rstrip("/") if path.endswith("/") else path + "/"


class WebAppRoute(BaseRoute):
    """The last route: GET and HEAD of every path the others leave; other methods get 405."""

    def __init__(
        self,
        directory: Path,
        before: Sequence[BaseRoute] = (),
        upload_origins: Sequence[str] = (),
        media_origins: Sequence[str] = (),
    ) -> None:
        self._directory = str(directory)
        self._upload_origins = tuple(upload_origins)
        self._media_origins = tuple(media_origins)
        # Starlette redirects /graphql/ to /graphql when no route matches: keep it that way.
        self._before = tuple(before)
        self._files: dict[str, _File] = {}
        self._cached_bytes = 0
        if not os.path.isfile(os.path.join(self._directory, INDEX)):
            log.warning("%s; %s has no %s", NOT_BUILT, self._directory, INDEX)

    @classmethod
    def from_settings(cls, settings: Settings, before: Sequence[BaseRoute] = ()) -> WebAppRoute:
        directory = Path(settings.web_dir) if settings.web_dir else DEFAULT_DIR
        return cls(directory, before, upload_origins(settings.files_url), media_origins(settings))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path = _route_path(scope)
        if path != "/":
            moved = {**scope, "path": _toggle_slash(scope["path"])}
            if any(route.matches(moved)[0] is not Match.NONE for route in self._before):
                return Match.NONE, {}
        return (Match.FULL if scope["method"] in ("GET", "HEAD") else Match.PARTIAL), {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = _Request(scope, receive, self._upload_origins, self._media_origins)
        if scope["method"] not in ("GET", "HEAD"):
            await request.error(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        target = self._locate(_route_path(scope))
        if target == 503:
            await request.error(send, 503, f"{NOT_BUILT}.\n".encode(), text=True)
        elif isinstance(target, int):
            await request.error(send, target, b"Not Found")
        else:
            await self._serve(request, send, target)

    def _locate(self, path: str) -> _Target | int:
        """The file `path` names, index.html for a route of the app, else an error status.

        A few stat calls: fast enough for the event loop, like Starlette's own routing."""
        root = os.path.realpath(self._directory)  # per request: a deploy may swap a symlink
        segments = path.split("/")[1:]
        if any(s.startswith(".") or "\\" in s or "\x00" in s for s in segments):
            return 404  # `..`, dot files, odd separators
        parts = [s for s in segments if s]
        under_assets = bool(parts) and parts[0] == ASSETS
        if parts:
            found = self._regular_file(root, os.path.join(root, *parts))
            if found is not None:
                cache = IMMUTABLE if under_assets and len(parts) > 1 else REVALIDATE
                return _Target(root, *found, cache)
            _, dot, extension = parts[-1].rpartition(".")
            if under_assets or (dot and extension):
                return 404  # a file that is not there: never index.html
        index = self._regular_file(root, os.path.join(root, INDEX))
        return 503 if index is None else _Target(root, *index, REVALIDATE)

    @staticmethod
    def _regular_file(root: str, candidate: str) -> tuple[str, os.stat_result] | None:
        """The real path and stat of `candidate` if it is a regular file inside `root`
        (after following symlinks), else None."""
        try:
            real = os.path.realpath(candidate)
            if not _inside(root, real):
                return None
            found = os.stat(real)
        except (OSError, ValueError):
            return None
        return (real, found) if stat.S_ISREG(found.st_mode) else None

    async def _serve(self, request: _Request, send: Send, target: _Target) -> None:
        root, real, found, cache = target.root, target.real, target.found, target.cache
        if found.st_size > MAX_CACHED_FILE:
            media_type, _ = _media_type(real)
            streamed = {k.decode(): v.decode() for k, v in request.security_headers()}
            streamed["cache-control"] = cache.decode()
            response = FileResponse(
                real, stat_result=found, media_type=media_type, headers=streamed
            )
            await response(request.scope, request.receive, send)
            return
        entry = self._files.get(real)
        if entry is None or entry.version != (found.st_mtime_ns, found.st_size):
            try:
                entry = await asyncio.to_thread(_load, root, real)
            except OSError:  # removed or replaced since the stat
                await request.error(send, 404, b"Not Found")
                return
            self._remember(real, entry)
        coding = next((c for c in request.codings() if c in entry.variants), "identity")
        variant = entry.variants[coding]
        headers = [(b"cache-control", cache), (b"etag", variant.etag)]
        if entry.compressible:
            headers.append((b"vary", b"Accept-Encoding"))
        if request.if_none_match and _etag_matches(request.if_none_match, variant.etag):
            await request.respond(send, 304, headers, b"")
            return
        headers.append((b"content-type", entry.media_type))
        if coding != "identity":
            headers.append((b"content-encoding", coding.encode()))
        await request.respond(send, 200, headers, variant.body)

    def _remember(self, real: str, entry: _File) -> None:
        old = self._files.pop(real, None)
        if old is not None:
            self._cached_bytes -= old.size
        if self._cached_bytes + entry.size > CACHE_BUDGET:
            self._files.clear()
            self._cached_bytes = 0
        self._files[real] = entry
        self._cached_bytes += entry.size


class _Request:
    """The few request headers this module reads, and the way it answers."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        upload_origins: tuple[str, ...],
        media_origins: tuple[str, ...] = (),
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.upload_origins = upload_origins
        self.media_origins = media_origins
        self.head = scope["method"] == "HEAD"
        self.host = ""
        self.accept_encoding: list[str] = []
        self.if_none_match = ""
        for name, value in scope["headers"]:
            if name == b"host":
                self.host = value.decode("latin-1")
            elif name == b"accept-encoding":
                self.accept_encoding.append(value.decode("latin-1"))
            elif name == b"if-none-match":
                self.if_none_match = value.decode("latin-1")

    def codings(self) -> list[str]:
        """Compressed encodings the client accepts, preferred first."""
        if not self.accept_encoding:
            return []
        accepted = _accepted(",".join(self.accept_encoding))
        return [coding for coding in _COMPRESSORS if coding in accepted]

    def security_headers(self) -> list[tuple[bytes, bytes]]:
        secure = self.scope.get("scheme") == "https"
        csp = content_security_policy(
            self.host, secure, self.upload_origins, self.media_origins
        ).encode()
        return [*_SECURITY_HEADERS, (b"content-security-policy", csp)]

    async def respond(
        self, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        raw = [*headers, *self.security_headers()]
        if status != 304:
            raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if self.head else body})

    async def error(
        self,
        send: Send,
        status: int,
        message: bytes,
        extra: Sequence[tuple[bytes, bytes]] = (),
        text: bool = False,
    ) -> None:
        """A refusal: JSON like every ChatQL error, or plain text meant for a person."""
        if text:
            media_type, body = b"text/plain; charset=utf-8", message
        else:
            media_type = b"application/json"
            body = b'{"errors":[{"message":"' + message + b'"}]}'
        headers = [(b"content-type", media_type), (b"cache-control", b"no-store"), *extra]
        await self.respond(send, status, headers, body)
