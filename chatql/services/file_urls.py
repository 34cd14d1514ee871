"""Signed file URLs: whoever was given one may fetch that file until it expires, nobody else.

A URL names the upload, the variant (the file, its thumbnail, or the upload target) and an
expiry, with an HMAC over the three. It is not bound to a viewer: the server hands URLs only to
people who may read the message, and the shared fan-out can serve one payload to every member.
Expiries are rounded up to a window, so the same file has the same URL for a while (browsers
cache it, and payloads stay identical across viewers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from urllib.parse import quote

VARIANTS = ("file", "thumb", "upload")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{27}")


class FileUrls:
    def __init__(self, secret: str, ttl: int) -> None:
        self._key = hashlib.sha256(b"chatql-file-urls\x00" + secret.encode()).digest()
        self.ttl = ttl
        self._window = max(1, min(ttl // 10, 300))

    def expiry(self, now: float | None = None, ttl: int | None = None) -> int:
        moment = time.time() if now is None else now
        return math.ceil((moment + (ttl or self.ttl)) / self._window) * self._window

    def signature(self, upload_id: str, variant: str, expires: int) -> str:
        message = f"{upload_id}\x00{variant}\x00{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:20]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def query(self, upload_id: str, variant: str, expires: int) -> str:
        return f"exp={expires}&sig={self.signature(upload_id, variant, expires)}"

    def download(
        self, upload_id: str, variant: str, filename: str, now: float | None = None
    ) -> str:
        """`/files/<id>/<variant>/<filename>?exp=…&sig=…` (the name is for people and
        browsers' "save as"; it is not signed and not used to find the file)."""
        expires = self.expiry(now)
        name = quote(filename, safe="")
        return f"/files/{upload_id}/{variant}/{name}?{self.query(upload_id, variant, expires)}"

    def valid(
        self, upload_id: str, variant: str, expires: str, signature: str, now: float | None = None
    ) -> bool:
        """A well-formed, untampered signature whose expiry has not passed."""
        if variant not in VARIANTS:
            return False
        if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
            return False  # ASCII only, before int() and compare_digest see them
        expected = self.signature(upload_id, variant, int(expires))
        if not hmac.compare_digest(expected, signature):
            return False
        return int(expires) > (time.time() if now is None else now)
