"""Images made safe to serve: decoded, oriented, re-encoded, and given a thumbnail.

Images that Pillow can decode are re-encoded, which drops every byte the pixels do not need:
EXIF (GPS positions, camera serials), XMP, comments, text chunks, and anything appended to the
file (polyglots). Only the ICC profile survives, as colour depends on it. Pure and synchronous,
like `file_types.py`: the files service runs it in a worker thread.

HEIC/HEIF needs the pillow-heif plugin, which ChatQL does not depend on: such files are
recognised but not on the default list, since they would be stored as they came, metadata
(GPS) included, without re-encoding or a thumbnail; CHATQL_UPLOAD_TYPES can allow them.
AVIF is processed when this Pillow build has libavif (`PIL.features`), otherwise it is stored
as it came, like HEIC.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, JpegImagePlugin, features

from chatql.errors import BadUserInput
from chatql.services.file_types import HEAD_BYTES, sniff

_PIL_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/avif": "AVIF",
}


def _has_module(name: str) -> bool:
    """`features.check` warns about features an older Pillow does not know; this does not."""
    return name in features.modules and bool(features.check_module(name))


_WEBP = _has_module("webp")
RASTER_IMAGES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"}
    | ({"image/webp"} if _WEBP else set())
    | ({"image/avif"} if _has_module("avif") else set())
)
"""Image types decoded, re-encoded and given a thumbnail here (HEIC never: no plugin)."""

THUMBNAIL_MIME = "image/webp" if _WEBP else "image/jpeg"
"""WebP keeps transparency (PNG, GIF) and is about a third smaller than JPEG at the same
quality; every current browser shows it. JPEG only if this Pillow lacks libwebp."""
_THUMB_FORMAT = "WEBP" if _WEBP else "JPEG"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A processed image: its dimensions once oriented, its type, its thumbnail's type."""

    width: int
    height: int
    mime: str
    thumb_mime: str


# ------------------------------------------------------------------------- images

_ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP"})
_MAX_FRAMES = 1000
# Each EXIF orientation as the transposition that undoes it (as ImageOps.exif_transpose).
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What each encoder takes without converting; GIF and TIFF take what their decoders give.
_SAVE_MODES = {
    "JPEG": frozenset({"L", "RGB", "CMYK"}),
    "PNG": frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "P", "RGB", "RGBA"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
    "BMP": frozenset({"1", "L", "P", "RGB", "RGBA"}),
    "AVIF": frozenset({"RGB", "RGBA"}),
}
# Failures of a decoder on a truncated or malformed file. Pillow's plugins raise all of these.
# Pillow warns of big images on open; CHATQL_MAX_IMAGE_PIXELS is checked from the header before
# anything is decoded, so its warning would only repeat that (and its hard error still counts).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    ZeroDivisionError,
)


@dataclass(slots=True)
class _Picture:
    """Decoded, oriented frames with nothing from the source but pixels and colour."""

    frames: list[Image.Image]
    durations: list[int] = field(default_factory=list)
    loop: int | None = None
    icc: bytes | None = None
    options: dict[str, Any] = field(default_factory=dict)


def process_image(
    src: Path, dst: Path, thumb: Path, *, max_pixels: int, thumb_size: int = 320
) -> ImageInfo:
    """Decode `src` (an image Pillow processes, see RASTER_IMAGES), write it to `dst` in the
    same format, oriented and without metadata, and a thumbnail of it to `thumb`.

    Refused with BadUserInput: a type not in RASTER_IMAGES, more than `max_pixels` pixels (an
    animation's frames together; checked from the header, before anything is decoded), and
    any file the decoder chokes on. Animated GIF, PNG and WebP stay animated (up to
    1000 frames); a multi-page TIFF keeps its first page. The thumbnail is the first frame.
    """
    if max_pixels < 1 or thumb_size < 1:
        raise ValueError("max_pixels and thumb_size must be positive")
    with src.open("rb") as source:
        head = source.read(HEAD_BYTES)
    mime = sniff(head)
    pil_format = _PIL_FORMATS.get(mime) if mime in RASTER_IMAGES else None
    if pil_format is None:
        raise BadUserInput(f"Files of type {mime} are not processed as images", mimeType=mime)
    try:
        # Only the plugin for the type the bytes show may parse them.
        with Image.open(src, formats=[pil_format]) as image:
            picture = _decode(image, pil_format, max_pixels, head)
            preview, preview_icc = _thumbnail(picture.frames[0], picture.icc, thumb_size)
    except BadUserInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadUserInput(
            f"The image has too many pixels (the limit is {max_pixels})", maxPixels=max_pixels
        ) from None
    except _DECODE_ERRORS:
        raise BadUserInput("The image could not be decoded: it is damaged or truncated") from None
    _save(picture, dst, pil_format)
    thumb_options: dict[str, Any] = {"quality": 80}
    if preview_icc:
        thumb_options["icc_profile"] = preview_icc
    preview.save(thumb, format=_THUMB_FORMAT, **thumb_options)
    width, height = picture.frames[0].size
    return ImageInfo(width=width, height=height, mime=mime, thumb_mime=THUMBNAIL_MIME)


def _decode(image: Image.Image, pil_format: str, max_pixels: int, head: bytes) -> _Picture:
    """All frames decoded within the pixel budget, oriented and stripped of metadata.

    The budget is checked against the sizes in the headers before each `load()`, so a small
    file claiming 30000x30000 pixels is refused without the memory being touched. Pillow's own
    global bomb limit (Image.MAX_IMAGE_PIXELS) still applies on top, and is left alone.
    """
    _check_pixels(image, max_pixels, max_pixels)
    icc = image.info.get("icc_profile")
    picture = _Picture(frames=[], icc=icc if isinstance(icc, bytes) and icc else None)
    picture.options = _encoder_options(image, pil_format, head)
    if pil_format not in _ANIMATED_FORMATS or not getattr(image, "is_animated", False):
        image.load()
        picture.frames.append(_oriented(image, _orientation(image)))
        return picture
    budget, orientation = max_pixels, None
    for index in range(_MAX_FRAMES + 1):
        try:
            image.seek(index)
        except EOFError:
            break
        if index == _MAX_FRAMES:
            raise BadUserInput(f"The animation has more than {_MAX_FRAMES} frames")
        budget -= _check_pixels(image, budget, max_pixels)
        image.load()
        if index == 0:
            orientation = _orientation(image)
            loop = image.info.get("loop")
            picture.loop = loop if isinstance(loop, int) else None
            if pil_format == "PNG" and image.info.get("default_image"):
                picture.options["default_image"] = True
        picture.frames.append(_oriented(image, orientation))
        duration = image.info.get("duration", 0)
        picture.durations.append(round(duration) if isinstance(duration, int | float) else 0)
    return picture


def _check_pixels(image: Image.Image, budget: int, max_pixels: int) -> int:
    width, height = image.size
    if width * height > budget:
        raise BadUserInput(
            f"The image has too many pixels ({width}x{height}"
            f"{', in frames together' if budget < max_pixels else ''}; "
            f"the limit is {max_pixels})",
            maxPixels=max_pixels,
        )
    return width * height


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The transposition the EXIF orientation asks for; a broken EXIF block means none."""
    try:
        value = image.getexif().get(0x0112)
    except _DECODE_ERRORS:
        return None
    return _ORIENTATIONS.get(value) if isinstance(value, int) else None


def _oriented(image: Image.Image, orientation: Image.Transpose | None) -> Image.Image:
    """A copy of the current frame, turned upright, with an info dict holding only what the
    encoders need to keep transparency: no EXIF, XMP, comments, text chunks or DPI."""
    frame = image.transpose(orientation) if orientation is not None else image.copy()
    frame.info = {
        key: image.info[key] for key in ("transparency", "background") if key in image.info
    }
    return frame


def _encoder_options(image: Image.Image, pil_format: str, head: bytes) -> dict[str, Any]:
    """Encoder settings that keep the source's quality level, or close to it."""
    if pil_format == "JPEG":
        options: dict[str, Any] = {"quality": 90, "optimize": True}
        if isinstance(image, JpegImagePlugin.JpegImageFile) and image.quantization:
            # The source's own tables: as fine as it was, and no larger.
            options = {"qtables": image.quantization, "optimize": True}
            sampling = JpegImagePlugin.get_sampling(image)
            if sampling >= 0:
                options["subsampling"] = sampling
        if image.info.get("progressive"):
            options["progressive"] = True
        return options
    if pil_format == "WEBP":
        # VP8L chunks only: the source was lossless, keep it so.
        lossless = b"VP8L" in head and b"VP8 " not in head
        return {"lossless": True} if lossless else {"quality": 90}
    if pil_format == "TIFF" and features.check_codec("libtiff"):
        return {"compression": "tiff_adobe_deflate"}
    if pil_format == "AVIF":
        return {"quality": 90}
    return {}


def _save(picture: _Picture, dst: Path, pil_format: str) -> None:
    modes = _SAVE_MODES.get(pil_format)
    frames = picture.frames
    if modes is not None:
        frames = [frame if frame.mode in modes else _convert_for(frame, modes) for frame in frames]
    options = dict(picture.options)
    if picture.icc and pil_format not in ("GIF", "BMP"):
        options["icc_profile"] = picture.icc
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=picture.durations)
        if picture.loop is not None:
            options["loop"] = picture.loop
        if pil_format == "GIF" and any(frame.has_transparency_data for frame in frames):
            options["disposal"] = 2  # frames are whole pictures: clear before drawing each
    frames[0].save(dst, format=pil_format, **options)


def _convert_for(frame: Image.Image, modes: frozenset[str]) -> Image.Image:
    mode = "RGBA" if frame.has_transparency_data and "RGBA" in modes else "RGB"
    converted = frame.convert(mode)
    converted.info = {}
    return converted


def _thumbnail(
    frame: Image.Image, icc: bytes | None, size: int
) -> tuple[Image.Image, bytes | None]:
    """At most `size` pixels on the long side (never enlarged), in RGB(A) for the thumbnail
    encoder, and the ICC profile that still describes it (None once colours were converted)."""
    image = frame
    if image.mode in ("1", "P", "PA", "LA", "F") or image.mode.startswith("I"):
        image = _display(image)  # resizing these modes would be nearest-neighbour or fail
    if image is frame:
        image = frame.copy()
    image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    keep_icc = icc if frame.mode in ("RGB", "RGBA", "P", "PA") else None
    if image.mode == "CMYK" and icc:
        image = _cmyk_to_srgb(image, icc)
    image = _display(image)
    if _THUMB_FORMAT == "JPEG" and image.mode == "RGBA":
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    image.info = {}
    return image, keep_icc


def _display(image: Image.Image) -> Image.Image:
    """RGB or RGBA, scaling 16-bit grey down rather than clipping it to white."""
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode.startswith("I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode in ("P", "PA"):
        # Converting a palette image with transparency rewrites its palette in place (Pillow
        # 13), which garbles frame 0 of an animated GIF saved afterwards: convert a copy.
        image = image.copy()
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _cmyk_to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """CMYK through its own profile, as a plain conversion gets the colours badly wrong."""
    try:
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image.convert("RGB")
    return converted if converted is not None else image.convert("RGB")
