"""chatql.services.file_types and .images: types from bytes, the upload allow-list, images made
safe to serve."""

from __future__ import annotations

import gzip
import io
import random
import struct
import wave
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageFile, PngImagePlugin, features

from chatql.errors import BadUserInput
from chatql.services import file_types
from chatql.services.file_types import (
    DEFAULT_UPLOAD_TYPES,
    INLINE_SAFE,
    is_allowed,
    parse_allowed_types,
    served_inline,
    sniff,
)
from chatql.services.images import RASTER_IMAGES, THUMBNAIL_MIME, ImageInfo, process_image

HAVE_AVIF = "image/avif" in RASTER_IMAGES
GPS_SECRET = b"51N-secret-place"


# ----------------------------------------------------------------------------- builders


def image_bytes(
    fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48), **save: Any
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode in ("RGB", "RGBA") else 1).save(out, format=fmt, **save)
    return out.getvalue()


def zip_bytes(entries: list[tuple[str, bytes]], *, stored_first: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            stored = stored_first and index == 0
            archive.writestr(name, data, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    return out.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Override PartName="/x" ContentType="application/vnd.openxmlformats-'
    b'officedocument.main+xml"/></Types>'
)
DOCM_TYPES = CONTENT_TYPES.replace(b"main+xml", b"document.macroEnabled.main+xml")


def ole_bytes(names: list[str], *, per_sector: int = 4) -> bytes:
    """A minimal compound file: sector 0 the FAT, directory sectors chained from sector 1."""
    entries = ["Root Entry", *names]
    directory_sectors = -(-len(entries) // per_sector)
    fat = [0xFFFFFFFD]  # sector 0 holds the FAT itself
    fat += [s + 1 for s in range(1, directory_sectors)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (128 - len(fat))
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<II", header, 0x2C, 1, 1)  # one FAT sector; directory starts at 1
    struct.pack_into("<III", header, 0x38, 4096, 0xFFFFFFFE, 0)
    struct.pack_into("<II", header, 0x44, 0xFFFFFFFE, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([0xFFFFFFFF] * 108))
    directory = bytearray(512 * directory_sectors)
    for index, name in enumerate(entries):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        offset = index * 128
        directory[offset : offset + len(encoded)] = encoded
        struct.pack_into("<HB", directory, offset + 64, len(encoded), 5 if index == 0 else 2)
    return bytes(header) + struct.pack("<128I", *fat) + bytes(directory)


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x01" * 800)
    return out.getvalue()


MP3_FRAME = b"\xff\xfb\x90\x00" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
ID3_TAG = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08free"


def ebml(doc_type: bytes) -> bytes:
    body = (
        b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"
        + b"\x42\x82"
        + bytes([0x80 | len(doc_type)])
        + doc_type
        + b"\x42\x87\x81\x02\x42\x85\x81\x02"
    )
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67\x01"


def ogg(codec_packet: bytes) -> bytes:
    page = b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8 + b"\x01\x1e"
    return page + codec_packet + b"\x00" * 30


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
SVG_PROLOG = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    b"<!-- Created with a drawing program -->\n"
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [ <!ENTITY x "y"> ]>\n' + SVG
)


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


def png_bomb(width: int, height: int) -> bytes:
    """A real 1-bit PNG of width x height blank pixels: a few KB, gigabytes when decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" * (1 + (width + 7) // 8)
    squeeze = zlib.compressobj(9)
    rows_per_block = max(1, 4_000_000 // len(row))
    block = row * rows_per_block
    data, left = [], height
    while left > 0:
        count = min(left, rows_per_block)
        data.append(squeeze.compress(block if count == rows_per_block else row * count))
        left -= count
    data.append(squeeze.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(data))
        + chunk(b"IEND", b"")
    )


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0131] = "secret-software"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (51.0, 30.0, 12.5)  # GPSLatitude
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.0)
    gps[0x1B] = GPS_SECRET  # GPSProcessingMethod: a string we can look for in the bytes
    return exif


def srgb_icc() -> bytes:
    """A fresh sRGB profile; its header holds the second it was made, so make it once per test."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Not flat, so encoders cannot shrink it to nothing and orientation is visible."""
    image = Image.linear_gradient("L").resize(size)
    return image.convert(mode) if mode != "L" else image


def grey(image: Image.Image, xy: tuple[int, int]) -> int:
    value = image.convert("L").getpixel(xy)
    assert isinstance(value, int)
    return value


def rgba(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.convert("RGBA").getpixel(xy)
    assert isinstance(value, tuple)
    return value


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run(tmp_path: Path, data: bytes, **options: Any) -> tuple[ImageInfo, Path, Path]:
    src = write(tmp_path, "source", data)
    dst, thumb = tmp_path / "clean", tmp_path / "thumb"
    options.setdefault("max_pixels", 50_000_000)
    return process_image(src, dst, thumb, **options), dst, thumb


# ----------------------------------------------------------------------------- sniffing

SAMPLES: list[tuple[str, Callable[[], bytes], str]] = [
    ("jpeg", lambda: image_bytes("JPEG"), "image/jpeg"),
    ("png", lambda: image_bytes("PNG"), "image/png"),
    ("gif", lambda: image_bytes("GIF"), "image/gif"),
    ("webp", lambda: image_bytes("WEBP"), "image/webp"),
    ("bmp", lambda: image_bytes("BMP"), "image/bmp"),
    ("tiff", lambda: image_bytes("TIFF"), "image/tiff"),
    ("tiff-big-endian", lambda: b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 64, "image/tiff"),
    ("avif-ftyp", lambda: ftyp(b"avif", b"avif", b"mif1", b"miaf"), "image/avif"),
    ("avif-mif1", lambda: ftyp(b"mif1", b"avif", b"miaf"), "image/avif"),
    ("heic", lambda: ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
    ("heic-mif1", lambda: ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),
    ("heif", lambda: ftyp(b"mif1", b"mif1", b"miaf"), "image/heif"),
    ("pdf", lambda: PDF, "application/pdf"),
    ("wav", wav_bytes, "audio/wav"),
    ("mp3-id3", lambda: ID3_TAG + MP3_FRAME * 3, "audio/mpeg"),
    ("mp3-frames", lambda: MP3_FRAME * 3, "audio/mpeg"),
    ("flac", lambda: b"fLaC\x00\x00\x00\x22" + b"\x00" * 34, "audio/flac"),
    ("flac-id3", lambda: ID3_TAG + b"fLaC\x00\x00\x00\x22" + b"\x00" * 34, "audio/flac"),
    ("ogg-vorbis", lambda: ogg(b"\x01vorbis"), "audio/ogg"),
    ("ogg-opus", lambda: ogg(b"OpusHead"), "audio/ogg"),
    ("ogg-theora", lambda: ogg(b"\x80theora"), "video/ogg"),
    ("m4a", lambda: ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio/mp4"),
    ("mp4-isom", lambda: ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
    ("mp4-mp42", lambda: ftyp(b"mp42", b"mp42", b"isom"), "video/mp4"),
    ("mp4-other-major", lambda: ftyp(b"abcd", b"isom"), "video/mp4"),
    ("quicktime", lambda: ftyp(b"qt  ", b"qt  "), "video/quicktime"),
    ("canon-raw-not-video", lambda: ftyp(b"crx ", b"crx "), "application/octet-stream"),
    ("webm", lambda: ebml(b"webm"), "video/webm"),
    ("matroska", lambda: ebml(b"matroska"), "video/x-matroska"),
    ("gzip", lambda: gzip.compress(b"hello" * 100), "application/gzip"),
    ("svg", lambda: SVG, "image/svg+xml"),
    ("svg-prolog", lambda: SVG_PROLOG, "image/svg+xml"),
    ("svg-bom-prefixed", lambda: b"\xef\xbb\xbf  \n<svg:svg xmlns:svg='x'/>", "image/svg+xml"),
    ("html-doctype", lambda: b"<!DOCTYPE html><title>x</title>", "text/html"),
    ("html-doctype-lower", lambda: b"\n\n <!doctype html>\n<p>x", "text/html"),
    ("html-upper", lambda: b"<HTML><BODY>hi</BODY></HTML>", "text/html"),
    ("html-mixed", lambda: b"<HtMl lang='en'>", "text/html"),
    ("html-script", lambda: b"<ScRiPt>alert(document.cookie)</script>", "text/html"),
    ("html-head", lambda: b"<head>\n<meta charset=utf-8>", "text/html"),
    ("html-body", lambda: b"<BODY onload=alert(1)>", "text/html"),
    ("html-after-text", lambda: b"Dear reader,\n<script src=//evil.example></script>", "text/html"),
    ("xhtml", lambda: b'<?xml version="1.0"?>\n<html xmlns="x"/>', "text/html"),
    ("html-comment", lambda: b"<!-- generated --> <div>x</div>", "text/html"),
    ("text", lambda: b"Hello, world!\nSecond line.\tTabbed.\r\n", "text/plain"),
    ("text-utf8", lambda: "Grüße, 東京, emoji 😀\n".encode(), "text/plain"),
    ("text-bom", lambda: b"\xef\xbb\xbfplain text with a BOM\n", "text/plain"),
    ("text-lookalike-tags", lambda: b"<header> and <bodyguard> are no HTML.\n", "text/plain"),
    ("text-xml-not-svg", lambda: b'<?xml version="1.0"?><note><to>x</to></note>', "text/plain"),
    ("text-bm-prefix", lambda: b"BMW drivers, this is plain text, not a bitmap.\n", "text/plain"),
    ("empty", lambda: b"", "text/plain"),
    ("junk", lambda: random.Random(7).randbytes(4096), "application/octet-stream"),
    ("nul-bytes", lambda: b"abc\x00def" * 10, "application/octet-stream"),
    ("latin-1", lambda: "café crème".encode("latin-1"), "application/octet-stream"),
    ("controls", lambda: bytes(range(1, 32)) * 20, "application/octet-stream"),
    ("lone-mpeg-sync", lambda: MP3_FRAME[:4] + b"\x01" * 500, "application/octet-stream"),
    ("elf", lambda: b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56, "application/octet-stream"),
    ("windows-exe", lambda: b"MZ\x90\x00\x03\x00" + b"\x00" * 120, "application/octet-stream"),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in SAMPLES], ids=[n for n, _, _ in SAMPLES]
)
def test_sniff_from_bytes(make: Callable[[], bytes], expected: str) -> None:
    data = make()
    assert sniff(data[: file_types.HEAD_BYTES]) == expected


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in SAMPLES], ids=[n for n, _, _ in SAMPLES]
)
def test_sniff_with_a_path_agrees(tmp_path: Path, make: Callable[[], bytes], expected: str) -> None:
    data = make()
    assert sniff(data[: file_types.HEAD_BYTES], write(tmp_path, "f", data)) == expected


@pytest.mark.skipif(not HAVE_AVIF, reason="this Pillow has no AVIF encoder")
def test_sniff_real_avif() -> None:
    assert sniff(image_bytes("AVIF")[: file_types.HEAD_BYTES]) == "image/avif"


def test_sniff_looks_at_nothing_but_bytes(tmp_path: Path) -> None:
    """There is no name or claimed type to pass: the path is only read, whatever it is called."""
    png = image_bytes("PNG")
    assert sniff(png, write(tmp_path, "notes.txt", png)) == "image/png"
    html = b"<html><script>alert(1)</script></html>"
    assert sniff(html, write(tmp_path, "cat.png", html)) == "text/html"
    # A polyglot is what its first bytes are; re-encoding (below) drops the rest.
    assert sniff(png + html) == "image/png"


def test_svg_after_a_long_prolog(tmp_path: Path) -> None:
    """The root is past `head`: read on when we can, else refuse to call it anything."""
    data = b'<?xml version="1.0"?>\n<!--' + b" padding" * 1000 + b" -->\n" + SVG
    head = data[: file_types.HEAD_BYTES]
    assert sniff(head, write(tmp_path, "drawing", data)) == "image/svg+xml"
    assert sniff(head) == "application/octet-stream"
    assert not served_inline(sniff(head))


def test_utf8_cut_at_the_end_of_head(tmp_path: Path) -> None:
    emoji = "😀".encode()
    data = b"a" * (file_types.HEAD_BYTES - 2) + emoji  # the emoji straddles the 4096-byte head
    head = data[: file_types.HEAD_BYTES]
    assert sniff(head) == "text/plain"
    assert sniff(head, write(tmp_path, "long", data)) == "text/plain"
    # ...but a file that really ends in half a character is not UTF-8.
    assert sniff(head, write(tmp_path, "short", head)) == "application/octet-stream"
    assert sniff(b"abc\xe2\x82" + b"def") == "application/octet-stream"  # cut mid-text


# ZIP-based formats need the path: the central directory is at the end of the file.


def ooxml(*parts: str, types: bytes = CONTENT_TYPES) -> bytes:
    """An Office Open XML-like package: the content types, relations, and `parts`."""
    entries = [("[Content_Types].xml", types), ("_rels/.rels", b"<r/>")]
    return zip_bytes(entries + [(part, b"<x/>") for part in parts])


def odf(mime: str) -> bytes:
    """An OpenDocument-like package: `mimetype` first and stored, as the format requires."""
    entries = [("mimetype", mime.encode()), ("content.xml", b"<x/>")]
    return zip_bytes(entries, stored_first=True)


def docx() -> bytes:
    return ooxml("word/document.xml")


ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"

ZIPS: list[tuple[str, Callable[[], bytes], str]] = [
    ("zip", lambda: zip_bytes([("a.txt", b"hi"), ("b/c", b"\x00" * 99)]), "application/zip"),
    ("docx", docx, file_types.DOCX),
    ("xlsx", lambda: ooxml("xl/workbook.xml"), file_types.XLSX),
    ("pptx", lambda: ooxml("ppt/presentation.xml"), file_types.PPTX),
    ("docm", lambda: ooxml("word/document.xml", types=DOCM_TYPES), file_types.DOCM),
    ("xlsm-by-vba-part", lambda: ooxml("xl/workbook.xml", "xl/vbaProject.bin"), file_types.XLSM),
    ("word-without-types", lambda: zip_bytes([("word/document.xml", b"<w/>")]), "application/zip"),
    ("odt", lambda: odf(ODT), ODT),
    ("ods", lambda: odf(ODS), ODS),
    ("epub", lambda: odf("application/epub+zip"), "application/epub+zip"),
    ("bogus-mimetype-entry", lambda: odf("text/html"), "application/zip"),
    ("empty-zip", lambda: zip_bytes([]), "application/zip"),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in ZIPS], ids=[n for n, _, _ in ZIPS]
)
def test_sniff_zip_containers(tmp_path: Path, make: Callable[[], bytes], expected: str) -> None:
    data = make()
    assert sniff(data[: file_types.HEAD_BYTES], write(tmp_path, "upload", data)) == expected


def test_zip_without_a_path() -> None:
    """Only ODF says what it is in its first entry; OOXML needs the directory at the end."""
    assert sniff(odf(ODT)[: file_types.HEAD_BYTES]) == ODT
    assert sniff(docx()[: file_types.HEAD_BYTES]) == "application/zip"


def test_broken_zip_is_still_a_zip(tmp_path: Path) -> None:
    data = docx()[:200]
    assert sniff(data, write(tmp_path, "cut", data)) == "application/zip"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["WordDocument", "1Table", "\x05SummaryInformation"], "application/msword"),
        (["Workbook", "\x05SummaryInformation"], "application/vnd.ms-excel"),
        (["Book"], "application/vnd.ms-excel"),
        (["PowerPoint Document", "Current User"], "application/vnd.ms-powerpoint"),
        (["\x05SummaryInformation", "\x05DigitalSignature"], file_types.OLE_STORAGE),  # e.g. MSI
        # The directory spans three chained sectors; the stream is in the last.
        ([f"Stream{i}" for i in range(8)] + ["WordDocument"], "application/msword"),
    ],
    ids=["doc", "xls", "xls-old", "ppt", "unknown-ole", "chained-directory"],
)
def test_sniff_legacy_office(tmp_path: Path, names: list[str], expected: str) -> None:
    data = ole_bytes(names)
    assert sniff(data[: file_types.HEAD_BYTES]) == expected  # small: the directory is in head
    padded = data + b"\x00" * 8192
    assert sniff(padded[:512], write(tmp_path, "doc", padded)) == expected  # read via path
    assert sniff(padded[:512]) == file_types.OLE_STORAGE  # header only, no path: cannot tell


# ----------------------------------------------------------------------------- allow-list


def test_parse_allowed_types() -> None:
    assert parse_allowed_types(" image/png ,Image/*,\ttext/plain,  ") == {
        "image/png",
        "image/*",
        "text/plain",
    }
    assert parse_allowed_types("*/*") == {"*/*"}
    assert parse_allowed_types("") == frozenset()
    assert parse_allowed_types(f"{file_types.DOCX}, application/vnd.ms-excel.sheet.macroEnabled.12")


@pytest.mark.parametrize(
    "spec",
    [
        "image",
        "image/",
        "/png",
        "*/png",
        "image/jp*g",
        "image/**",
        "text/plain; charset=utf-8",
        "image/png image/gif",
        "a/b/c",
        "image/png,,,évil/x",
    ],
)
def test_parse_allowed_types_rejects_malformed(spec: str) -> None:
    with pytest.raises(ValueError, match="is not a MIME type"):
        parse_allowed_types(spec)


def test_default_upload_types() -> None:
    allowed = parse_allowed_types(DEFAULT_UPLOAD_TYPES)
    for mime in (
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/avif",
        "image/bmp", "image/tiff", "application/pdf", "text/plain",
        file_types.DOCX, file_types.XLSX, file_types.PPTX,
        "application/vnd.oasis.opendocument.text", "application/msword",
        "application/vnd.ms-excel", "application/vnd.ms-powerpoint", "audio/mpeg", "audio/ogg",
        "audio/wav", "audio/flac", "audio/mp4", "video/mp4", "video/webm", "video/quicktime",
        "video/x-matroska", "application/zip", "application/gzip",
    ):  # fmt: skip
        assert is_allowed(mime, allowed), mime
    for mime in (
        "image/svg+xml", "text/html", "application/octet-stream", file_types.OLE_STORAGE,
        "image/heic", "image/heif",  # not processed here: they would keep their EXIF
        file_types.DOCM, file_types.XLSM, "application/x-msdownload",
    ):  # fmt: skip
        assert not is_allowed(mime, allowed), mime


def test_is_allowed_with_wildcards() -> None:
    allowed = parse_allowed_types("image/*, application/pdf")
    assert is_allowed("image/png", allowed)
    assert is_allowed("IMAGE/SVG+XML", allowed)
    assert is_allowed("application/pdf; x=y", allowed)
    assert not is_allowed("application/zip", allowed)
    assert not is_allowed("video/mp4", allowed)
    assert is_allowed("application/anything", parse_allowed_types("*/*"))
    assert not is_allowed("image/png", frozenset())


def test_served_inline() -> None:
    for mime in ("image/jpeg", "image/png", "application/pdf", "audio/mpeg", "video/mp4"):
        assert served_inline(mime)
    assert served_inline("Text/Plain; charset=utf-8")
    assert served_inline(THUMBNAIL_MIME)
    for mime in ("image/svg+xml", "text/html", "application/octet-stream", "application/zip", ""):
        assert not served_inline(mime)
    assert RASTER_IMAGES <= INLINE_SAFE


# ----------------------------------------------------------------------------- images


def test_jpeg_metadata_is_gone_and_orientation_applied(tmp_path: Path) -> None:
    stored = gradient((640, 400))
    stored.paste((255, 0, 0), (0, 0, 40, 40))  # a red mark in the stored top-left corner
    icc = srgb_icc()
    out = io.BytesIO()
    stored.save(
        out,
        "JPEG",
        exif=gps_exif(orientation=6),
        comment=b"secret comment",
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret-xmp</x:xmpmeta>",
        icc_profile=icc,
        dpi=(300, 300),
    )
    info, dst, thumb = run(tmp_path, out.getvalue())
    assert info == ImageInfo(width=400, height=640, mime="image/jpeg", thumb_mime=THUMBNAIL_MIME)
    data = dst.read_bytes()
    for secret in (b"Exif", b"GPS", GPS_SECRET, b"SpyCam", b"secret", b"xmpmeta", b"adobe:ns"):
        assert secret not in data
    with Image.open(dst) as clean:
        assert clean.format == "JPEG"
        assert clean.size == (400, 640)  # orientation 6: turned upright, sides swapped
        assert not clean.getexif()
        assert "comment" not in clean.info and "xmp" not in clean.info
        assert clean.info.get("icc_profile") == icc  # colour is kept
        # Orientation 6: the camera was turned, so the stored top-left is the upright top-right.
        assert rgba(clean, (390, 10))[0] > 200 and rgba(clean, (390, 10))[1] < 60
    with Image.open(thumb) as small:
        assert small.format == THUMBNAIL_MIME.split("/")[1].upper()
        assert small.size == (200, 320)
        assert not small.getexif()
        assert GPS_SECRET not in thumb.read_bytes()


def test_png_text_chunks_and_exif_are_stripped(tmp_path: Path) -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "secret comment")
    text.add_text("Location", "secret place", zip=True)
    text.add_itxt("Author", "secret author", lang="en")
    out = io.BytesIO()
    see_through = gradient((100, 50), "RGBA")
    see_through.putalpha(gradient((100, 50), "L"))
    see_through.save(out, "PNG", pnginfo=text, exif=gps_exif())
    info, dst, thumb = run(tmp_path, out.getvalue() + b"<script>alert(1)</script>")
    data = dst.read_bytes()
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"secret", GPS_SECRET, b"<script"):
        assert chunk not in data
    with Image.open(dst) as clean:
        assert clean.mode == "RGBA"
        assert isinstance(clean, PngImagePlugin.PngImageFile) and clean.text == {}
        assert not clean.getexif()
    assert (info.width, info.height) == (100, 50)
    with Image.open(thumb) as small:
        assert small.size == (100, 50)  # never enlarged
        assert small.mode == "RGBA"  # transparency survives in the thumbnail


@pytest.mark.parametrize(
    ("fmt", "mime", "options"),
    [
        ("WEBP", "image/webp", {"exif": gps_exif(3), "xmp": b"<x>secret-xmp</x>"}),
        ("TIFF", "image/tiff", {"exif": gps_exif(3), "description": "secret"}),
        ("GIF", "image/gif", {"comment": b"secret comment"}),
        ("BMP", "image/bmp", {}),
    ],
)
def test_other_formats_are_reencoded_clean(
    tmp_path: Path, fmt: str, mime: str, options: dict[str, Any]
) -> None:
    out = io.BytesIO()
    gradient((60, 40)).save(out, fmt, **options)
    info, dst, _ = run(tmp_path, out.getvalue())
    assert info.mime == mime
    data = dst.read_bytes()
    assert GPS_SECRET not in data and b"secret" not in data
    with Image.open(dst) as clean:
        assert clean.format == fmt
        assert 0x8825 not in clean.getexif()  # no GPS IFD (a TIFF's own tags are its header)
        assert 0x0112 not in clean.getexif()
    if "exif" in options:  # orientation 3 is a half turn: the dark end moves
        with Image.open(dst) as clean:
            assert grey(clean, (30, 0)) > grey(clean, (30, 39))


@pytest.mark.skipif(not HAVE_AVIF, reason="this Pillow has no AVIF codec")
def test_avif_is_processed(tmp_path: Path) -> None:
    out = io.BytesIO()
    gradient((64, 32)).save(out, "AVIF", exif=gps_exif(6))
    info, dst, _ = run(tmp_path, out.getvalue())
    assert (info.mime, info.width, info.height) == ("image/avif", 32, 64)
    assert GPS_SECRET not in dst.read_bytes()


def test_heic_is_not_processed(tmp_path: Path) -> None:
    assert "image/heic" not in RASTER_IMAGES
    with pytest.raises(BadUserInput, match="not processed as images"):
        run(tmp_path, ftyp(b"heic", b"mif1", b"heic"))


def test_cmyk_and_16_bit_images(tmp_path: Path) -> None:
    cmyk = io.BytesIO()
    gradient((50, 50)).convert("CMYK").save(cmyk, "JPEG")
    info, _, thumb = run(tmp_path, cmyk.getvalue())
    assert info.mime == "image/jpeg"
    with Image.open(thumb) as small:
        assert small.mode == "RGB"
    deep = io.BytesIO()
    Image.new("I;16", (20, 20), 32768).save(deep, "PNG")
    (tmp_path / "thumb").unlink()
    run(tmp_path, deep.getvalue())
    with Image.open(tmp_path / "thumb") as small:
        assert 120 <= grey(small, (10, 10)) <= 136  # mid grey, not clipped to white


def test_animated_gif_keeps_its_frames(tmp_path: Path) -> None:
    frames = [Image.new("P", (40, 30), i) for i in (1, 50, 100)]
    for frame in frames:
        frame.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0,
        comment=b"secret comment",
    )  # fmt: skip
    info, dst, thumb = run(tmp_path, out.getvalue())
    assert (info.mime, info.width, info.height) == ("image/gif", 40, 30)
    assert b"secret" not in dst.read_bytes()
    with Image.open(dst) as clean:
        assert getattr(clean, "n_frames", 1) == 3
        durations = []
        for index in range(3):
            clean.seek(index)
            durations.append(clean.info["duration"])
        assert durations == [100, 200, 300]
        assert clean.info.get("loop") == 0
    with Image.open(thumb) as small:
        assert not getattr(small, "is_animated", False)


def test_transparent_animation_keeps_its_colours(tmp_path: Path) -> None:
    frames = [Image.new("RGBA", (60, 60), (0, 0, 0, 0)) for _ in range(3)]
    for index, frame in enumerate(frames):
        frame.paste((255, 0, 0, 255), (index * 20, 0, index * 20 + 20, 20))
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, disposal=2)
    _, dst, thumb = run(tmp_path, out.getvalue())
    with Image.open(dst) as clean:
        for index in range(3):
            clean.seek(index)
            assert rgba(clean, (index * 20 + 5, 5)) == (255, 0, 0, 255)
            assert rgba(clean, ((index * 20 + 25) % 60, 5))[3] == 0
    with Image.open(thumb) as small:
        assert small.mode == "RGBA"


def test_animated_webp_keeps_its_frames(tmp_path: Path) -> None:
    frames = [gradient((32, 32)).rotate(angle) for angle in (0, 90, 180, 270)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=80, loop=3)
    info, dst, _ = run(tmp_path, out.getvalue())
    assert info.mime == "image/webp"
    with Image.open(dst) as clean:
        assert getattr(clean, "n_frames", 1) == 4
        assert clean.info.get("loop") == 3


def test_animation_frames_count_against_the_pixel_budget(tmp_path: Path) -> None:
    frames = [Image.new("L", (100, 100), shade) for shade in (0, 100, 200)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    run(tmp_path, out.getvalue(), max_pixels=30_000)
    with pytest.raises(BadUserInput, match="frames together"):
        run(tmp_path, out.getvalue(), max_pixels=25_000)


def test_small_images_are_not_enlarged(tmp_path: Path) -> None:
    info, _, thumb = run(tmp_path, image_bytes("PNG", size=(50, 30)), thumb_size=320)
    assert (info.width, info.height) == (50, 30)
    with Image.open(thumb) as small:
        assert small.size == (50, 30)
    _, _, thumb = run(tmp_path, image_bytes("PNG", size=(1000, 10)), thumb_size=100)
    with Image.open(thumb) as small:
        assert small.size == (100, 1)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decoding fails the test: refusals must come from the header alone."""

    def load(self: ImageFile.ImageFile) -> Any:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.usefixtures("no_decoding")
def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    bomb = png_bomb(9000, 9000)  # 81 megapixels: under Pillow's own limit, over ours
    assert len(bomb) < 100_000
    with pytest.raises(BadUserInput, match=r"too many pixels \(9000x9000") as caught:
        run(tmp_path, bomb, max_pixels=50_000_000)
    assert caught.value.code == "BAD_USER_INPUT"


@pytest.mark.usefixtures("no_decoding")
def test_huge_bomb_is_refused(tmp_path: Path) -> None:
    bomb = png_bomb(30000, 30000)  # 900 megapixels in a few hundred KB
    assert len(bomb) < 500_000
    with pytest.raises(BadUserInput, match="too many pixels"):
        run(tmp_path, bomb, max_pixels=50_000_000)
    # Pillow's own limit (2 x MAX_IMAGE_PIXELS) is an error too, even under a laxer setting.
    with pytest.raises(BadUserInput, match="too many pixels"):
        run(tmp_path, bomb, max_pixels=2_000_000_000)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # never changed by the module


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("JPEG", size=(300, 200), quality=95)[:600],
        image_bytes("PNG", size=(300, 200))[:80],
        image_bytes("GIF", size=(300, 200))[:40],
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"\xff\xd8\xff\xe0" + random.Random(1).randbytes(2000),
    ],
    ids=["truncated-jpeg", "truncated-png", "truncated-gif", "bogus-png", "bogus-jpeg"],
)
def test_damaged_images_are_bad_input(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(BadUserInput, match="could not be decoded"):
        run(tmp_path, data)


def test_only_images_are_processed(tmp_path: Path) -> None:
    with pytest.raises(BadUserInput, match="application/pdf"):
        run(tmp_path, b"%PDF-1.4\n")
    with pytest.raises(BadUserInput, match="image/svg"):
        run(tmp_path, SVG)


def test_raster_images_follow_this_pillow() -> None:
    assert {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"} <= RASTER_IMAGES
    assert ("image/webp" in RASTER_IMAGES) == bool(features.check_module("webp"))
    assert "image/svg+xml" not in RASTER_IMAGES
