"""Pure image work: read headers, decode fast, fingerprint, make thumbnails. No ORM here.

Decoding is most of the cost of detection, so nothing decodes at full size: JPEGs are decoded
in the DCT domain at the smallest scale that still covers the thumbnail (libjpeg-turbo through
simplejpeg), other formats are decoded and then reduced by an integer factor.

Only the photo formats in ALLOWED_FORMATS are ever opened: Pillow would otherwise hand a
PostScript file to Ghostscript, which runs it as a program. Imported files reach these
functions only inside `dedupe.sandbox`'s capped child process.
"""

import functools
import io
import re
import warnings
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, BinaryIO

import imagehash
import numpy as np
import pillow_heif
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

from . import pixels

# The formats a photo may arrive in (HEIF: what tablets and phones upload, through pillow-heif).
# Everything else, however well Pillow could read it, is "not a supported image".
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP", "HEIF")
# Bytes a decode holds per pixel of each mode: 4 for every multi-band mode (Pillow pads RGB),
# 1 + 4 for palette and bilevel images (they become RGB before they can be reduced). WebP
# decodes through libwebp's frame buffers, holding the picture twice. Measured for every format
# by tests/dedupe/test_hostile_files.py: the worst case decodes within twice the limit.
MODE_BYTES = {"1": 5, "L": 1, "P": 5, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
FORMAT_FACTOR = {"WEBP": 2}

# EXIF tags: Orientation, DateTime (IFD0), DateTimeOriginal (Exif IFD), the Exif IFD pointer.
TAG_ORIENTATION = 0x0112
TAG_DATETIME = 0x0132
TAG_DATETIME_ORIGINAL = 0x9003
IFD_EXIF = 0x8769

# How to show pixels upright for each EXIF orientation value.
ORIENTATION_TRANSPOSE = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}

# A band counts as a letterbox bar while it stays this close (of 255) to the corner colour.
BAR_TOLERANCE = 24
# The centre kept by the zoomed hash: a copy cropped by 5% on each side hashes like it.
ZOOM_KEEP = 0.9

# libjpeg warnings that leave every pixel intact (padding after the image data): not corruption.
HARMLESS_JPEG_WARNINGS = ("extraneous bytes before marker",)


class UnreadableImage(Exception):
    """The file cannot be shown as a picture; the message says why, for a person to read."""


@dataclass(frozen=True)
class Probe:
    """What the header says, read without decoding a pixel; width and height as shown upright."""

    format: str
    width: int
    height: int
    orientation: int | None
    captured_at: datetime | None
    # JPEG quality estimated from the luminance table (None for other formats): keeper facts.
    jpeg_quality: int | None = None


@dataclass(frozen=True)
class Prints:
    """The fingerprints and thumbnail computed from one decode."""

    phash: int
    dhash: int
    phash_zoom: int
    phash256: bytes
    phash256_zoom: bytes
    thumbnail: bytes
    phash_mirror: int = 0  # of the mirror image: a copy flipped left to right meets its original
    phash256_mirror: bytes = b""
    # The share of the width and of the height that is picture, letterbox bars trimmed: a copy
    # padded with black bars has more pixels but no more picture (the keeper counts picture).
    content_width: float = 1.0
    content_height: float = 1.0


@functools.cache
def load_decoders() -> None:
    """Register HEIF and import every allowed plugin now, before a sandbox forbids opening files."""
    pillow_heif.register_heif_opener()
    Image.init()


def open_image(fp: IO[bytes]) -> Image.Image:
    """Image.open for the allowed photo formats only: the one way this project opens a file."""
    load_decoders()
    return Image.open(fp, formats=ALLOWED_FORMATS)


def probe_bytes(data: bytes, *, max_pixels: int, max_decoded_bytes: int) -> Probe:
    """`probe` of bytes in memory, as the sandbox reads them."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb check agrees with ours
    return probe(io.BytesIO(data), max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)


def probe(fp: BinaryIO, *, max_pixels: int, max_decoded_bytes: int | None = None) -> Probe:
    """Read format, size and EXIF from the header; refuse a decompression bomb before allocating it.

    A bomb is judged by pixels and by the bytes decoding would hold (pixels x bytes per pixel of
    the mode): a small PNG of 16-bit RGBA pixels needs four times the memory of a grey one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = open_image(fp)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(claimed.group(1)):,} pixels" if claimed else "more pixels"
            raise UnreadableImage(
                f"decompression bomb refused: the header claims {size}, over the limit of {max_pixels:,}"
            ) from None
        except UnidentifiedImageError:
            raise UnreadableImage(_not_an_image_reason(fp)) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise UnreadableImage(f"corrupt image header: {exc}") from None
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise UnreadableImage(
                f"decompression bomb refused: {width}x{height} is {width * height:,} pixels, "
                f"over the limit of {max_pixels:,}"
            )
        if width == 0 or height == 0:
            raise UnreadableImage("image has no pixels (width or height is 0)")
        decoded = decoded_bytes(im)
        if max_decoded_bytes is not None and decoded > max_decoded_bytes:
            raise UnreadableImage(
                f"decompression bomb refused: {width}x{height} {im.mode} pixels take {decoded / 2**20:,.0f} MiB "
                f"to decode, over the limit of {max_decoded_bytes / 2**20:,.0f} MiB"
            )
        try:
            exif = im.getexif()
        except Exception:  # noqa: BLE001 - broken EXIF must not make a good image unreadable
            exif = Image.Exif()
        orientation = _orientation(exif)
        if orientation in (5, 6, 7, 8):  # stored sideways: report the size as it is shown
            width, height = height, width
        luma = (getattr(im, "quantization", None) or {}).get(0)
        return Probe(
            format=(im.format or "").upper(),
            width=width,
            height=height,
            orientation=orientation,
            captured_at=_captured_at(exif),
            jpeg_quality=pixels.quality_from_table(luma) if luma and im.format == "JPEG" else None,
        )


def decoded_bytes(im: Image.Image) -> int:
    """The memory a full decode of `im` takes, from its header alone."""
    return im.width * im.height * MODE_BYTES.get(im.mode, 4) * FORMAT_FACTOR.get(im.format or "", 1)


def _not_an_image_reason(fp: BinaryIO) -> str:
    fp.seek(0)
    head = fp.read(64)
    if not head:
        return "empty file (0 bytes)"
    text = head.lstrip().lower()
    if text.startswith((b"<html", b"<!doctype html")):
        return "not an image: the file holds HTML text (an error page saved as an image?)"
    if text.startswith((b"<svg", b"<?xml")):
        return "not a supported image: SVG/XML drawings are not decoded"
    if head.startswith(b"%PDF"):
        return "not an image: the file is a PDF document"
    if head.startswith((b"%!", b"\xc5\xd0\xd3\xc6")):
        return "not a supported image: PostScript/EPS files are never decoded (they are programs)"
    return f"not a supported image: the content is none of {', '.join(ALLOWED_FORMATS)}"


def _orientation(exif: Image.Exif) -> int | None:
    value = exif.get(TAG_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _captured_at(exif: Image.Exif) -> datetime | None:
    raw = exif.get_ifd(IFD_EXIF).get(TAG_DATETIME_ORIGINAL) or exif.get(TAG_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def decode_upright(data: bytes, *, min_side: int, orientation: int | None) -> Image.Image:
    """Decode to RGB with the shorter side at least `min_side` (not more than 2x that), upright."""
    try:
        im = _decode_jpeg(data, min_side) if data[:3] == b"\xff\xd8\xff" else _decode_other(data, min_side)
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage(_not_an_image_reason(io.BytesIO(data))) from None
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"decompression bomb refused: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage(f"corrupt image data: {exc}") from None
    for step in ORIENTATION_TRANSPOSE.get(orientation or 1, []):
        im = im.transpose(step)
    return im


def _decode_jpeg(data: bytes, min_side: int) -> Image.Image:
    width, height, _, _ = simplejpeg.decode_jpeg_header(data)
    scale = {"min_width": min_side, "min_height": min_side} if min(width, height) > min_side else {}
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True, **scale)
    except ValueError as exc:
        message = str(exc)
        if "Corrupt JPEG data" in message and not any(w in message for w in HARMLESS_JPEG_WARNINGS):
            raise UnreadableImage(f"corrupt JPEG data: {message.removeprefix('Corrupt JPEG data: ')}") from None
        if "Corrupt JPEG data" in message:
            pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=False, **scale)
        else:
            # CMYK and other colour spaces libjpeg-turbo cannot convert: Pillow knows them.
            return _decode_other(data, min_side)
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def _decode_other(data: bytes, min_side: int) -> Image.Image:
    im = open_image(io.BytesIO(data))
    im.draft("RGB", (min_side, min_side))  # a no-op except for JPEG
    im.load()
    if im.mode in ("P", "1"):  # palette and bilevel images cannot be reduced as they are
        im = _flatten(im)
    factor = max(1, min(im.size) // min_side)
    if factor > 1:
        im = im.reduce(factor)
    if im.mode != "RGB":
        im = _flatten(im)
    return im


def _flatten(im: Image.Image) -> Image.Image:
    """Transparent pixels become white, as a viewer would show them on a page."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im, mask=im.getchannel("A"))
        return background
    return im.convert("RGB")


def hash_to_int(h: imagehash.ImageHash) -> int:
    """A 64-bit hash as a signed integer, the form a BIGINT column holds."""
    value = int.from_bytes(np.packbits(h.hash.flatten()).tobytes(), "big")
    return value - (1 << 64) if value >= 1 << 63 else value


def hash_to_bytes(h: imagehash.ImageHash) -> bytes:
    return np.packbits(h.hash.flatten()).tobytes()


def content_box(im: Image.Image) -> tuple[int, int, int, int]:
    """The picture without letterbox or pillarbox bars: uniform bands of equal width on opposite sides.

    Only symmetric bars count, so a photo with a plain sky along its top edge is left whole.
    """
    grey = np.asarray(im if im.mode == "L" else im.convert("L"), dtype=np.int16)
    h, w = grey.shape
    corner = int(np.median([grey[0, 0], grey[0, -1], grey[-1, 0], grey[-1, -1]]))
    deviation = np.abs(grey - corner)
    left, right = _bar(deviation.T), _bar(deviation.T[::-1])
    top, bottom = _bar(deviation), _bar(deviation[::-1])
    box = [0, 0, w, h]
    if _symmetric(left, right, w):
        box[0], box[2] = left, w - right
    if _symmetric(top, bottom, h):
        box[1], box[3] = top, h - bottom
    return tuple(box)


def _bar(lines: np.ndarray) -> int:
    """How many leading lines stay within BAR_TOLERANCE of the corner colour (2% may stray: JPEG noise)."""
    uniform = (lines <= BAR_TOLERANCE).mean(axis=1) >= 0.98
    return len(uniform) if uniform.all() else int(np.argmin(uniform))


def _symmetric(a: int, b: int, side: int) -> bool:
    return a > 0.02 * side and b > 0.02 * side and abs(a - b) <= 0.02 * side + 2 and a + b < 0.6 * side


def zoomed(im: Image.Image, keep: float = ZOOM_KEEP) -> Image.Image:
    """The centre of the picture: what a copy cropped by (1 - keep) / 2 on each side shows."""
    w, h = im.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def fingerprint(im: Image.Image, *, thumbnail_side: int) -> Prints:
    """All hashes and the WebP thumbnail from one upright decode."""
    thumb = shrunk(im, thumbnail_side)
    return replace(hashes(thumb), thumbnail=webp(thumb))


def shrunk(im: Image.Image, side: int) -> Image.Image:
    """The picture within `side` pixels: what the thumbnail shows and the hashes are taken from."""
    if max(im.size) > side:  # shrink only: the reduced decode is usually small enough
        return ImageOps.contain(im, (side, side), Image.Resampling.BILINEAR)
    return im


def webp(thumb: Image.Image) -> bytes:
    buf = io.BytesIO()
    thumb.save(buf, "WEBP", quality=80, method=0)
    return buf.getvalue()


def hashes(thumb: Image.Image) -> Prints:
    """Every hash of the (shrunk) picture, bars trimmed; `thumbnail` is left empty.

    pHash and dHash of the picture, pHash of its centre (so a cropped copy meets its original),
    of its mirror image, and 256-bit pHashes of these to verify. Apart from the thumbnail so the
    sandbox can send them ahead of it (the gate looks them up meanwhile).
    """
    grey = thumb.convert("L")  # every hash works on grey; convert once
    box = content_box(grey)
    content = grey.crop(box)
    centre = zoomed(content)
    mirrored = ImageOps.mirror(content)
    return Prints(
        phash=hash_to_int(imagehash.phash(content)),
        dhash=hash_to_int(imagehash.dhash(content)),
        phash_zoom=hash_to_int(imagehash.phash(centre)),
        phash256=hash_to_bytes(imagehash.phash(content, hash_size=16)),
        phash256_zoom=hash_to_bytes(imagehash.phash(centre, hash_size=16)),
        thumbnail=b"",
        phash_mirror=hash_to_int(imagehash.phash(mirrored)),
        phash256_mirror=hash_to_bytes(imagehash.phash(mirrored, hash_size=16)),
        content_width=(box[2] - box[0]) / grey.width,
        content_height=(box[3] - box[1]) / grey.height,
    )
