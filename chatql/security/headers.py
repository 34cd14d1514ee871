"""Response headers for every page a browser renders, shared by GraphiQL and the web app."""

from __future__ import annotations

from typing import Final

HTML_HEADERS: Final[dict[str, str]] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
