"""HTTP for files: the local store's upload endpoint, and downloads with ranges.

Bytes stream through in chunks both ways, never held whole. Every file response says
`nosniff` and carries a sandboxing Content-Security-Policy; types a browser should not render
from our origin (SVG, HTML, anything unknown) are sent as attachments. A tampered or expired
URL gets 403, a file that is gone (its message deleted) 404.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chatql.blobs import BlobNotFound, BlobTooLarge
from chatql.errors import Conflict, NotFound
from chatql.security.body_limit import drain_body, waits_for_continue
from chatql.services.files import Download, Files

log = logging.getLogger("chatql.files")

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
    "Referrer-Policy": "no-referrer",
}
UPLOAD_PREFIX = "/files/uploads/"
_RANGE = re.compile(r"bytes=([0-9]{0,15})-([0-9]{0,15})")


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end exclusive) of a single-range `Range` header; None to send the whole file;
    "unsatisfiable" for a range outside it. Several ranges are answered whole (allowed)."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored, the whole file is sent (RFC 9110)
    end = min(size, int(last) + 1) if last else size
    if start >= size:
        return "unsatisfiable"
    return start, end


def _disposition(download: Download) -> str:
    kind = "inline" if download.inline else "attachment"
    ascii_name = download.filename.encode("ascii", "replace").decode().replace('"', "'")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(download.filename)}"


def file_routes(files: Files) -> list[Route]:
    async def upload(request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        length_header = request.headers.get("content-length")
        length = int(length_header) if length_header and length_header.isdigit() else None

        source = request.stream()
        reading = False

        async def body() -> AsyncIterator[bytes]:
            nonlocal reading
            reading = True
            async for chunk in source:  # closing body() leaves `source` open for the drain
                if chunk:
                    yield chunk

        try:
            await files.receive(
                upload_id,
                request.query_params.get("exp", ""),
                request.query_params.get("sig", ""),
                length,
                body(),
            )
        except PermissionError as exc:
            return _error(403, str(exc))
        except NotFound:
            return _error(404, "Upload not found")
        except Conflict as exc:
            return _error(409, exc.message)
        except BlobTooLarge:
            # A client a little over reads the 413; one that waits for `100 Continue` (refused
            # on its declared length, before any reading) is not asked for the body.
            if reading or not waits_for_continue(request.scope):
                await drain_body(source)
            return _error(413, "More bytes than the upload declared", Connection="close")
        except ClientDisconnect:  # nothing was kept; the same ticket may be used again
            log.info("upload %s: the client went away before the end", upload_id)
            return Response(status_code=400)
        return Response(status_code=204)

    async def download(request: Request) -> Response:
        params = request.path_params
        try:
            found = await files.download(
                params["upload_id"],
                params["variant"],
                request.query_params.get("exp"),
                request.query_params.get("sig"),
            )
        except PermissionError as exc:
            return _error(403, str(exc))
        except NotFound:
            return _error(404, "File not found")
        headers = {
            **FILE_HEADERS,
            "Content-Disposition": _disposition(found),
            "Cache-Control": f"private, max-age={found.cache_seconds}",
            "Accept-Ranges": "bytes",
            "ETag": f'"{params["upload_id"]}-{params["variant"]}-{found.size}"',
        }
        wanted = byte_range(request.headers.get("range"), found.size)
        if wanted == "unsatisfiable":
            return _error(
                416, "Range not satisfiable", **{"Content-Range": f"bytes */{found.size}"}
            )
        status = 200
        start, end = 0, found.size
        if isinstance(wanted, tuple):
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=found.mime_type)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in files.stream(found.key, start, end):
                    yield chunk
            except BlobNotFound:  # removed between the check and the read
                log.info("file %s vanished while being sent", found.key)

        return StreamingResponse(
            body(), status_code=status, headers=headers, media_type=found.mime_type
        )

    return [
        Route(UPLOAD_PREFIX + "{upload_id}", upload, methods=["PUT"]),
        Route("/files/{upload_id}/{variant}", download, methods=["GET", "HEAD"]),
        Route("/files/{upload_id}/{variant}/{name:path}", download, methods=["GET", "HEAD"]),
    ]
