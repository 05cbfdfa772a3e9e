"""Pure pixel work for the review desk: a JPEG's quality estimated from its tables, and where two
images differ. No ORM, no storage: callers open the files and pass them in.

Images are opened only through an allow-list of formats, so a hostile file never reaches a
decoder Pillow would otherwise guess for it.
"""

import io
from collections.abc import Sequence
from typing import BinaryIO

from PIL import Image, ImageChops, ImageOps

FORMATS = ["JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP"]
# libjpeg's standard luminance table at quality 50, row by row, in the order Pillow reports tables
# (natural order; a zig-zag copy of it made every estimate several points low).
_STD_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip


def quality_from_table(table: Sequence[int]) -> int:
    """libjpeg's quality scaling run backwards: the table's average ratio to the standard one."""
    scale = sum(t * 100 / s for t, s in zip(table, _STD_LUMA, strict=False)) / len(_STD_LUMA)
    quality = 5000 / scale if scale > 100 else (200 - scale) / 2
    return max(1, min(100, round(quality)))


def jpeg_quality(fp: BinaryIO) -> int | None:
    """An estimate of a JPEG's quality from its luminance table (no decode): re-saved copies score lower.

    None for anything that is not a readable JPEG with a luminance table.
    """
    try:
        with Image.open(fp, formats=FORMATS) as image:
            table = getattr(image, "quantization", None) or {}
    except (OSError, SyntaxError, ValueError):
        return None
    luma = table.get(0)
    return quality_from_table(luma) if luma else None


def difference_png(a: BinaryIO, b: BinaryIO) -> bytes:
    """Where two images differ, amplified, as PNG bytes; `b` is scaled to `a`'s size first."""
    images = []
    for fp in (a, b):
        with Image.open(fp, formats=FORMATS) as image:
            images.append(image.convert("RGB"))
    difference = ImageChops.difference(images[0], images[1].resize(images[0].size))
    difference = ImageOps.autocontrast(difference.convert("L"), cutoff=1)
    out = io.BytesIO()
    difference.save(out, "PNG")
    return out.getvalue()
