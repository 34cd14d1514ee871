"""The text of an attached file, for the assistant's context: text files as they are, PDFs
through pypdf. Anything else has no text to give; a file that cannot be read says so.

Extraction is bounded (bytes read, pages, characters) and runs off the event loop, since a
PDF is a program of sorts and can take a while to interpret.
"""

from __future__ import annotations

import asyncio
import io
import logging

from pypdf import PdfReader

log = logging.getLogger("chatql.file_text")

PDF = "application/pdf"
TEXT_LIKE = frozenset({"application/json", "application/xml", "application/x-ndjson"})
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PDF_PAGES = 50


def has_text(mime_type: str | None) -> bool:
    mime = mime_type or ""
    return mime == PDF or mime.startswith("text/") or mime in TEXT_LIKE


def _pdf_text(data: bytes, max_chars: int) -> str:
    reader = PdfReader(io.BytesIO(data))
    parts: list[str] = []
    size = 0
    for page in reader.pages[:MAX_PDF_PAGES]:
        text = page.extract_text() or ""
        parts.append(text)
        size += len(text)
        if size >= max_chars:
            break
    return "\n".join(parts)[:max_chars]


def _extract(mime_type: str, data: bytes, max_chars: int) -> str:
    if mime_type == PDF:
        return _pdf_text(data, max_chars)
    return data[: max_chars * 4].decode("utf-8", errors="replace")[:max_chars]


async def extract_text(mime_type: str | None, data: bytes, max_chars: int) -> str | None:
    """Up to `max_chars` of the file's text; None when the type has none or it is unreadable."""
    if not has_text(mime_type) or max_chars <= 0:
        return None
    assert mime_type is not None
    try:
        text = await asyncio.to_thread(_extract, mime_type, data, max_chars)
    except Exception as exc:  # a damaged or hostile file: no text, and the answer goes on
        log.info("could not read the text of a %s file: %s", mime_type, exc)
        return None
    return text.strip()
