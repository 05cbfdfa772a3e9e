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


def mirror_matrix(inner_size: tuple[int, int], outer_size: tuple[int, int]) -> list[list[float]]:
    """A mirror image's alignment, in full-size pixels: flipped left to right and scaled to the other."""
    (iw, ih), (ow, oh) = inner_size, outer_size
    return [[-ow / iw, 0.0, float(ow)], [0.0, oh / ih, 0.0], [0.0, 0.0, 1.0]]


def aligned_pngs(
    inner: BinaryIO,
    outer: BinaryIO,
    matrix: Sequence[Sequence[float]],
    inner_size: tuple[int, int],
    outer_size: tuple[int, int],
) -> tuple[bytes, bytes]:
    """A partial copy laid over its region of the other picture, and where the two differ there.

    `matrix` maps the inner picture's full-size pixels to the outer's (the scan's evidence); the
    thumbnails are aligned through it, so a crop lands on the part of the original it shows. The
    first PNG is the inner picture on the outer thumbnail's frame, transparent outside its region
    (for flicker and the slider); the second, the difference inside the region, black outside.
    Raises ValueError for a matrix that is not a finite, invertible 3x3 (evidence is data: check it).
    """
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    if m.shape != (3, 3) or not np.isfinite(m).all() or min(inner_size + outer_size) <= 0:
        raise ValueError("not an alignment")
    with Image.open(inner, formats=FORMATS) as a, Image.open(outer, formats=FORMATS) as b:
        inner_image, outer_image = a.convert("RGBA"), b.convert("RGB")
    (iw, ih), (ow, oh) = inner_image.size, outer_image.size
    to_outer_thumb = np.diag([ow / outer_size[0], oh / outer_size[1], 1.0])
    from_inner_thumb = np.diag([inner_size[0] / iw, inner_size[1] / ih, 1.0])
    thumb = to_outer_thumb @ m @ from_inner_thumb
    if abs(np.linalg.det(thumb)) < 1e-12:
        raise ValueError("not an alignment")
    back = np.linalg.inv(thumb)  # Pillow asks, for each output pixel, where to read it from
    back = back / back[2, 2]
    laid = inner_image.transform(outer_image.size, Image.Transform.PERSPECTIVE, tuple(back.flatten()[:8]),
                                 Image.Resampling.BILINEAR)  # fmt: skip
    region = laid.getchannel("A")
    difference = ImageChops.difference(outer_image, laid.convert("RGB")).convert("L")
    difference = Image.composite(difference, Image.new("L", difference.size, 0), region)  # outside: nothing
    # A fixed gain, not autocontrast: a true copy's re-encoding noise stays dark instead of being
    # stretched to full brightness, so bright means a real difference.
    difference = difference.point(lambda v: min(255, v * 4))
    pngs = []
    for image in (laid, difference):
        out = io.BytesIO()
        image.save(out, "PNG")
        pngs.append(out.getvalue())
    return pngs[0], pngs[1]
