"""What an uploaded file really is, and which types are welcome.

The type of a file comes from its bytes only (magic numbers, and for ZIP and OLE containers a
look at their directory): the name and the type the client claimed are never trusted, so a page
of HTML called `cat.png` is still HTML, and is served as an attachment. Everything here is pure
and synchronous: the files service runs it in a worker thread.

HEIC/HEIF are recognised but not on the default list (see `images.py`); CHATQL_UPLOAD_TYPES can
allow them.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

HEAD_BYTES = 4096
"""How much of a file `sniff` wants to see; the files service reads at least this much."""

OCTET_STREAM = "application/octet-stream"
OLE_STORAGE = "application/x-ole-storage"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
# The macro-enabled variants get their own (official, here lower-cased) types, so that the
# default allow-list can leave them out.
DOCM = "application/vnd.ms-word.document.macroenabled.12"
XLSM = "application/vnd.ms-excel.sheet.macroenabled.12"
PPTM = "application/vnd.ms-powerpoint.presentation.macroenabled.12"

DEFAULT_UPLOAD_TYPES = ",".join(
    (
        "image/jpeg,image/png,image/gif,image/webp,image/avif",
        "image/bmp,image/tiff",
        "application/pdf,text/plain",
        f"{DOCX},{XLSX},{PPTX}",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.graphics",
        # Legacy Office, recognised inside the OLE container. A bare OLE container
        # (application/x-ole-storage: MSI installers, Outlook messages...) is not allowed.
        "application/msword,application/vnd.ms-excel,application/vnd.ms-powerpoint",
        "audio/mpeg,audio/ogg,audio/wav,audio/flac,audio/mp4",
        "video/mp4,video/webm,video/quicktime,video/x-matroska",
        "application/zip,application/gzip",
    )
)
"""The default of `CHATQL_UPLOAD_TYPES`. No SVG or HTML (they run script), no executables."""

INLINE_SAFE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/heic",
        "image/heif",
        "image/bmp",
        "image/tiff",
        "application/pdf",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/flac",
        "audio/mp4",
        "audio/aac",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "video/x-matroska",
        "video/ogg",
        "text/plain",
    }
)
"""Types a browser may show inline: they cannot run script in our origin. Anything else (SVG,
HTML, XML, octet-stream...) is served as an attachment."""


# ------------------------------------------------------------------------- sniffing


class _Source:
    """The first bytes of a file, and (when there is a path) random access to the rest."""

    def __init__(self, head: bytes, path: Path | None) -> None:
        self.head = head
        self.path = path
        self._file: BinaryIO | None = None

    def read(self, offset: int, size: int) -> bytes:
        if offset + size <= len(self.head) or self.path is None:
            return self.head[offset : offset + size]
        if self._file is None:
            self._file = self.path.open("rb")
        self._file.seek(offset)
        return self._file.read(size)

    def complete(self) -> bool:
        """Whether `head` is the whole file (a cut UTF-8 sequence at its end is then real)."""
        if self.path is None:
            return False
        try:
            return self.path.stat().st_size <= len(self.head)
        except OSError:
            return False

    def __enter__(self) -> _Source:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._file is not None:
            self._file.close()


def sniff(head: bytes, path: Path | None = None) -> str:
    """The MIME type (lower case, no parameters) the bytes show, or application/octet-stream.

    `head` is the file's first `HEAD_BYTES` (or all of it, if shorter). With `path`, ZIP
    archives are opened to tell Office documents from plain archives, and OLE containers are
    read further; without it they are application/zip (or ODF, whose type is in the first
    entry) and application/x-ole-storage unless the directory happens to be in `head`.
    """
    with _Source(head, path) as source:
        try:
            return _binary_type(source) or _text_type(source)
        except OSError:  # the file went away or could not be read further: say what we know
            return _binary_type(_Source(head, None)) or _text_type(_Source(head, None))


_SIMPLE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"fLaC", "audio/flac"),
    (b"\x1f\x8b\x08", "application/gzip"),
)


def _binary_type(source: _Source) -> str | None:
    head = source.head
    for magic, mime in _SIMPLE_MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12], OCTET_STREAM
        )
    if head[4:8] == b"ftyp":
        return _ftyp_type(head)
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(source)
    if head.startswith((b"PK\x05\x06", b"PK\x07\x08")):  # empty or spanned archive
        return "application/zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _ole_type(source)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _ebml_type(head)
    if head.startswith(b"OggS"):
        return "video/ogg" if head[28:35] == b"\x80theora" else "audio/ogg"
    # "BM" alone starts plenty of text files: the DIB header size must be a known one too.
    if head.startswith(b"BM") and len(head) >= 18 and head[14:18] in _BMP_HEADER_SIZES:
        return "image/bmp"
    if head.startswith(b"ID3") and len(head) >= 10 and head[3] in (2, 3, 4):
        # An ID3v2 tag precedes MP3 audio, and occasionally FLAC: look past it.
        size = 0
        for byte in head[6:10]:
            size = (size << 7) | (byte & 0x7F)
        end = 10 + size + (10 if head[5] & 0x10 else 0)
        return "audio/flac" if source.read(end, 4) == b"fLaC" else "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:
            return "audio/aac"  # ADTS
        if _mpeg_frames(head):
            return "audio/mpeg"
    return None


_BMP_HEADER_SIZES = {struct.pack("<I", n) for n in (12, 16, 40, 52, 56, 64, 108, 124)}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"miaf"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
    b"mp41", b"mp42", b"mp71", b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"mmp4",
    b"f4v ", b"F4V ", b"F4P ", b"MSNV", b"NDAS", b"XAVC",
}  # fmt: skip


def _ftyp_type(head: bytes) -> str:
    """ISO base media files: the brands in the leading `ftyp` box say what they hold."""
    size = struct.unpack_from(">I", head, 0)[0]
    major = head[8:12]
    brands = {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and brands & _AVIF_BRANDS):
        return "image/avif"
    if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
        return "image/heic"
    if major in _HEIF_BRANDS:
        return "image/heif"
    if major in _M4A_BRANDS:
        return "audio/mp4"
    if major == b"qt  ":
        return "video/quicktime"
    if major.startswith(b"3gp"):
        return "video/3gpp"
    if major.startswith(b"3g2"):
        return "video/3gpp2"
    if major in _MP4_BRANDS or brands & _MP4_BRANDS:
        return "video/mp4"
    return OCTET_STREAM  # e.g. Canon CR3 raw photos, JPEG 2000 in ISO boxes


def _ebml_type(head: bytes) -> str:
    """Matroska and WebM share the EBML header; its DocType element tells them apart."""
    at = head.find(b"\x42\x82", 4, 128)
    if at < 0 or at + 3 > len(head):
        return "video/x-matroska"  # DocType defaults to "matroska"
    length = head[at + 2]
    if not length & 0x80:
        return "video/x-matroska"
    doc_type = head[at + 3 : at + 3 + (length & 0x7F)]
    return {b"webm": "video/webm", b"matroska": "video/x-matroska"}.get(doc_type, OCTET_STREAM)


_MPEG_BITRATES = {  # kbit/s by (MPEG-1?, layer), indexes 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(header: bytes) -> int | None:
    """The length of the MPEG audio frame this 4-byte header starts, if it is a valid one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _MPEG_BITRATES[(mpeg1, min(layer, 2) if not mpeg1 else layer)][bitrate_index - 1]
    rate, padding = _MPEG_RATES[version][rate_index], (header[2] >> 1) & 1
    if layer == 1:
        return (12 * bitrate * 1000 // rate + padding) * 4
    per_frame = 144 if mpeg1 or layer == 2 else 72
    return per_frame * bitrate * 1000 // rate + padding


def _mpeg_frames(head: bytes) -> bool:
    """MP3 without a tag starts with a frame; a second one must follow where the first says
    (a lone 0xFFEx is too common in binary data to trust)."""
    length = _mpeg_frame_length(head[:4])
    if length is None:
        return False
    if length + 4 > len(head):
        return True  # all we have is one good header
    return _mpeg_frame_length(head[length : length + 4]) is not None


# ZIP containers ------------------------------------------------------------------

_ODF_TYPE = re.compile(rb"application/vnd\.oasis\.opendocument\.[a-z][a-z.-]{0,60}")
_MAX_MEMBER_READ = 256 * 1024


def _zip_type(source: _Source) -> str:
    if source.path is None:
        # Only the first entry is at a known place: ODF puts its type there, uncompressed.
        return _odf_from_head(source.head) or "application/zip"
    try:
        with zipfile.ZipFile(source.path) as archive:
            return _archive_type(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        return "application/zip"
    except (RuntimeError, NotImplementedError, KeyError):  # encrypted, odd compression...
        return "application/zip"


def _odf_from_head(head: bytes) -> str | None:
    if len(head) < 30:
        return None
    (method,) = struct.unpack_from("<H", head, 8)
    (compressed,) = struct.unpack_from("<I", head, 18)
    name_length, extra_length = struct.unpack_from("<HH", head, 26)
    if head[30 : 30 + name_length] != b"mimetype" or method != 0:
        return None
    start = 30 + name_length + extra_length
    return _member_type(head[start : start + min(compressed, 100)])


def _member_type(value: bytes) -> str | None:
    value = value.strip()
    if _ODF_TYPE.fullmatch(value) or value == b"application/epub+zip":
        return value.decode("ascii")
    return None


def _archive_type(archive: zipfile.ZipFile) -> str:
    names = archive.namelist()
    if "mimetype" in names:
        with archive.open("mimetype") as member:
            found = _member_type(member.read(100))
        if found:
            return found
    if "[Content_Types].xml" in names:
        with archive.open("[Content_Types].xml") as member:
            content_types = member.read(_MAX_MEMBER_READ).lower()
        macros = b"macroenabled" in content_types or any(
            name.lower().endswith("vbaproject.bin") for name in names
        )
        for prefix, plain, with_macros in (
            ("word/", DOCX, DOCM),
            ("xl/", XLSX, XLSM),
            ("ppt/", PPTX, PPTM),
        ):
            if any(name.startswith(prefix) for name in names):
                return with_macros if macros else plain
    return "application/zip"


# OLE (compound file) containers -----------------------------------------------------

_OLE_END = 0xFFFFFFFA  # sector numbers from here up are markers (end of chain, free...)
_OLE_MAX_DIRECTORY_SECTORS = 64
_OLE_STREAMS = (
    ("WordDocument", "application/msword"),
    ("Workbook", "application/vnd.ms-excel"),
    ("Book", "application/vnd.ms-excel"),
    ("PowerPoint Document", "application/vnd.ms-powerpoint"),
)


def _ole_type(source: _Source) -> str:
    """Legacy Office files and MSI installers share one container; the stream names in its
    directory tell Word, Excel and PowerPoint apart. Anything else stays x-ole-storage."""
    names = _ole_names(source)
    for stream, mime in _OLE_STREAMS:
        if stream in names:
            return mime
    return OLE_STORAGE


def _ole_names(source: _Source) -> set[str]:
    header = source.read(0, 512)
    if len(header) < 512:
        return set()
    shift = struct.unpack_from("<H", header, 0x1E)[0]
    if shift not in (9, 12):
        return set()
    size = 1 << shift
    fat_count, first_directory = struct.unpack_from("<II", header, 0x2C)
    fat_sectors = struct.unpack_from("<109I", header, 0x4C)[: min(fat_count, 109)]
    per_sector = size // 4
    fat_cache: dict[int, bytes] = {}

    def next_sector(sector: int) -> int:
        index = sector // per_sector
        if index >= len(fat_sectors) or fat_sectors[index] >= _OLE_END:
            return _OLE_END
        if index not in fat_cache:
            fat_cache[index] = source.read((fat_sectors[index] + 1) * size, size)
        fat = fat_cache[index]
        offset = (sector % per_sector) * 4
        return _OLE_END if offset + 4 > len(fat) else struct.unpack_from("<I", fat, offset)[0]

    names: set[str] = set()
    sector, seen = first_directory, set[int]()
    while sector < _OLE_END and sector not in seen and len(seen) < _OLE_MAX_DIRECTORY_SECTORS:
        seen.add(sector)
        data = source.read((sector + 1) * size, size)
        if len(data) < size:
            break
        for entry in range(0, size, 128):
            length = struct.unpack_from("<H", data, entry + 64)[0]
            if 2 <= length <= 64:
                names.add(data[entry : entry + length - 2].decode("utf-16-le", "replace"))
        sector = next_sector(sector)
    return names


# Text ------------------------------------------------------------------------------

_XML_PROLOG = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!doctype\b[^\[>]*(?:\[.*?\])?\s*>)", re.IGNORECASE | re.DOTALL
)
_FIRST_TAG = re.compile(r"\s*<([A-Za-z_][\w.:-]*)")
# The WHATWG sniffing patterns: a document starting with one of these is HTML.
_HTML_START = re.compile(
    r"\s*<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|"
    r"br|p|!--)(?=[\s>])",
    re.IGNORECASE,
)
# Tags that make a document HTML wherever they appear near its start.
_HTML_MARKER = re.compile(r"<(?:!doctype\s+html|html|head|body|script|iframe)(?=[\s>/])", re.I)
_HTML_WINDOW = 512
_MARKUP_WINDOW = 64 * 1024
_WHITESPACE_CONTROLS = frozenset("\t\n\r\f\v\x1b")


def _text_type(source: _Source) -> str:
    data = source.head.removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in data:
        return OCTET_STREAM
    text = _utf8(data, cut_allowed=not source.complete())
    if text is None:
        return OCTET_STREAM
    root = _root_tag(text)
    if root == "" and source.path is not None:  # the prolog runs on past `head`: read on
        more = _utf8(source.read(0, _MARKUP_WINDOW).removeprefix(b"\xef\xbb\xbf"), cut_allowed=True)
        root = _root_tag(more) if more is not None and len(more) > len(text) else root
    if root == "":
        return OCTET_STREAM  # markup whose root we cannot see: could be SVG, never inline
    if root is not None and (root == "svg" or root.endswith(":svg")):
        return "image/svg+xml"
    if _HTML_START.match(text) or _HTML_MARKER.search(text, 0, _HTML_WINDOW):
        return "text/html"
    controls = sum(
        1
        for char in text
        if (char < " " and char not in _WHITESPACE_CONTROLS) or "\x7f" <= char <= "\x9f"
    )
    return "text/plain" if controls * 100 <= len(text) else OCTET_STREAM


def _utf8(data: bytes, *, cut_allowed: bool) -> str | None:
    """Strict UTF-8, except that a multi-byte character cut by the end of `head` is fine."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut_allowed and exc.reason == "unexpected end of data" and len(data) - exc.start < 4:
            return data[: exc.start].decode("utf-8")
        return None


def _root_tag(text: str) -> str | None:
    """The root element's name after the XML declaration, comments and DOCTYPE; None for
    text that is not markup, "" when a declaration or comment runs past the end of `text`."""
    position = 0
    while match := _XML_PROLOG.match(text, position):
        position = match.end()
    tag = _FIRST_TAG.match(text, position)
    if tag:
        return tag.group(1).lower()
    return "" if text[position:].lstrip().startswith(("<?", "<!")) else None


# ------------------------------------------------------------------------- allow-list

_MIME_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_ALLOWED_ENTRY = re.compile(rf"(?:{_MIME_TOKEN}/(?:{_MIME_TOKEN}|\*)|\*/\*)")


def parse_allowed_types(spec: str) -> frozenset[str]:
    """`CHATQL_UPLOAD_TYPES`: MIME types separated by commas, `type/*` and `*/*` wildcards.

    Empty entries (a trailing comma, an empty setting) are ignored; anything that is not a
    bare type/subtype (parameters, `*/png`, `image/jp*`) is a ValueError naming it.
    """
    allowed = set()
    for raw in spec.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if not _ALLOWED_ENTRY.fullmatch(entry):
            raise ValueError(f"{raw.strip()!r} is not a MIME type (type/subtype, type/* or */*)")
        allowed.add(entry)
    return frozenset(allowed)


def is_allowed(mime: str, allowed: frozenset[str]) -> bool:
    """Whether `mime` is in the allow-list, directly or through a wildcard."""
    mime = _bare(mime)
    major = mime.partition("/")[0]
    return mime in allowed or f"{major}/*" in allowed or "*/*" in allowed


def served_inline(mime: str) -> bool:
    """Whether a download may be shown by the browser rather than saved (see INLINE_SAFE)."""
    return _bare(mime) in INLINE_SAFE


def _bare(mime: str) -> str:
    return mime.partition(";")[0].strip().lower()
