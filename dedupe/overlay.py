"""Pure: one small picture laid over another through a model, and where one fits in the other by its
pixels alone.

Local features decide most pairs (`dedupe.partial`); these checks decide whether the pixels then
agree, which is what separates one photograph from two: the same site after a change, a look-alike
facade, two framings of one scene. `pixel_fit` finds a crop where features cannot: a flat facade
of repeated windows offers too few distinct corners at the decoded size, but its pixels still sit
exactly in the original.

No ORM here.
"""

from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

if TYPE_CHECKING:
    from .partial import Features

# Cells of the overlap (GRID x GRID) whose pixels disagree: above this share, two photographs.
GRID = 12
MAX_DISAGREEING = 0.1
CELL_DISAGREES = 0.5  # mean absolute difference of the normalised grey values in a cell
# A changed region: the share of disagreeing pixels (grey or colour) in the worst window a third of
# the overlap's side. Copies measured at most 0.76 (misregistered edges, contrast and colour changes
# scattered over the frame); the same site after a change 1.0 (scaffolding over a fifth of it).
MAX_CHANGED = 0.9
# A flipped copy is laid over its original exactly (no fitted model, nothing to misregister), so
# at most one cell may disagree, as for a re-encode: 118 mirror copies measured 0 cells; two
# framings of a symmetric facade, flipped, 4 cells (their windows' shades differ).
FLIP_MAX_DISAGREEING = 1.5 / GRID**2
# ... and pixel for pixel: at most this share of the small grey image's pixels may differ by more
# than CELL_DISAGREES. Mirror copies measured at most 0.2 % (seeds 5 and 23 of make_corpus.py, 137
# pairs); two framings of a symmetric facade, one flipped, 1.6 %, in 0 cells: they differed only
# in things smaller than a cell (a bin on the pavement, a house number), which a cell's mean hides.
FLIP_MAX_PIXELS = 0.005
CHROMA_DISAGREES = 12.0  # distance of the Lab a*b* values (OpenCV's 8-bit scale) after a gain
GREYISH = 2.0  # mean chroma below this: a grayscale picture, which has no colour to compare
CHROMA_FLOOR = 4.0  # a*b* strength below this is too near grey for its gain to be measured
# Where features fail, a crop is looked for by its pixels: the inner picture scaled to each of
# these shares of the outer one's width, matched by normalised cross-correlation. A match is only a
# proposal: the agreement checks above decide, as for a feature fit.
FIT_SHARES = np.geomspace(0.45, 0.98, 24)
MIN_CORRELATION = 0.93  # crops measured 0.94-1.0; two photographs up to 0.97, so the checks decide
# Grey levels: a flatter template matches anything. The small grey image averages dozens of decoded
# pixels into each of its own, so its noise is under one level and two levels are detail: at 8 a
# tight crop of a near-black photograph (a black case at night, its detail within 4 levels, 3 ORB
# keypoints) was never tried, on its own property. Correlation and the checks, both normalised,
# still decide.
MIN_SPREAD = 2.0


def whole_frames_disagree(a: "Features", b: "Features", *, max_disagreeing: float = MAX_DISAGREEING) -> bool:
    """Two whole pictures laid over each other (scaled, not moved) disagree in more cells than one
    photograph's copies do: the same site after a large change, which whole-frame hashes pass."""
    if not (len(a.grey) and len(b.grey)) or not same_shape(a, b):
        return False
    scale = np.diag([b.width / a.width, b.height / a.height, 1.0])
    return disagreement(a, b, scale) > max_disagreeing or changed_region(a, b, scale) > MAX_CHANGED


def pixels_disagreeing(a: "Features", b: "Features") -> float:
    """Share of the small grey image's pixels where two whole pictures of one shape, laid over each
    other (scaled, not moved), differ by more than CELL_DISAGREES (normalised grey values)."""
    oh, ow = b.grey.shape
    here = cv2.resize(a.grey, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32)
    everywhere = np.ones((oh, ow), bool)
    difference = np.abs(normalised(here, everywhere) - normalised(b.grey.astype(np.float32), everywhere))
    return float((difference > CELL_DISAGREES).mean())


def same_shape(a: "Features", b: "Features") -> bool:
    """Whether two frames have one aspect ratio, so that one can be laid over the other whole."""
    return abs(a.width / a.height - b.width / b.height) <= 0.02


def changed_region(inner: "Features", outer: "Features", model: np.ndarray) -> float:
    """The share of disagreeing pixels in the worst window (a third of the overlap's side) when the
    inner picture is laid over the outer one: near 1 where a part of the scene was changed.

    A cell average (`disagreement`) misses a change painted in a grey like the one it covers;
    colour sees it, and a change is one solid block where a copy's differences (edges a pixel off,
    exposure, recompression) are scattered. Colour counts only when both pictures have some, after
    one gain (a contrast change scales it); without stored colour only grey is compared.
    """
    if not (inner.chroma.size and outer.chroma.size):
        return 0.0
    (ih, iw), (oh, ow) = inner.chroma.shape[:2], outer.chroma.shape[:2]
    to_inner = np.diag([iw / inner.width, ih / inner.height, 1.0])
    to_outer = np.diag([ow / outer.width, oh / outer.height, 1.0])
    forward = to_outer @ model @ np.linalg.inv(to_inner)
    inner_grey = cv2.resize(inner.grey, (iw, ih), interpolation=cv2.INTER_AREA)
    layers = np.dstack([inner_grey, inner.chroma]).astype(np.float32)
    warped = cv2.warpPerspective(layers, forward, (ow, oh), flags=cv2.INTER_LINEAR)
    covered = cv2.warpPerspective(np.full((ih, iw), 255, np.uint8), forward, (ow, oh), flags=cv2.INTER_NEAREST)
    valid = np.asarray(cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0)
    if valid.sum() < 16:
        return 1.0
    here = cv2.resize(outer.grey, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32)
    bad = np.abs(normalised(warped[..., 0], valid) - normalised(here, valid)) > CELL_DISAGREES
    a, b = warped[..., 1:] - 128, outer.chroma.astype(np.float32) - 128
    if min(float(np.abs(a[valid]).mean()), float(np.abs(b[valid]).mean())) >= GREYISH:
        bad |= np.linalg.norm(chroma_gain(a, b, valid) * a - b, axis=2) > CHROMA_DISAGREES
    ys, xs = np.nonzero(valid)
    side = max(3, int(min(np.ptp(ys), np.ptp(xs)) / 3))
    share = cv2.boxFilter((bad & valid).astype(np.float32), -1, (side, side))
    inside = cv2.boxFilter(valid.astype(np.float32), -1, (side, side))
    full = inside > 0.9  # windows within the overlap
    return float((share[full] / inside[full]).max()) if full.any() else 0.0


def chroma_gain(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """The one gain that takes the colour of `a` (a*b*, centred) to that of `b`: the median ratio of
    their strengths where `a` has colour, within [0.5, 2] (a contrast or saturation change).

    A least-squares gain over the whole overlap is pulled toward a changed region: scaffolding in a
    grey over a purple wall took it to 0.65, and the wall, shrunk by that much, agreed with the
    grey; laid the other way round the same pair measured a gain of 1.16 and a changed region of
    1.0 (an after-change picture proposed as a near copy). The median is the copy's gain while
    most of the picture is unchanged, whichever picture is laid over the other.
    """
    strength_a, strength_b = np.linalg.norm(a, axis=2), np.linalg.norm(b, axis=2)
    coloured = valid & (strength_a > CHROMA_FLOOR)
    if coloured.sum() < 16:
        return 1.0
    return min(2.0, max(0.5, float(np.median(strength_b[coloured] / strength_a[coloured]))))


def disagreement(inner: "Features", outer: "Features", model: np.ndarray) -> float:
    """Share of the overlap's cells (GRID x GRID over the overlap) where the pixels disagree.

    The inner grey image is warped onto the outer's small grey frame; both are normalised to
    zero mean and unit spread over the overlap, so exposure and contrast changes do not count.
    """
    to_small_inner = np.diag([inner.grey.shape[1] / inner.width, inner.grey.shape[0] / inner.height, 1.0])
    to_small_outer = np.diag([outer.grey.shape[1] / outer.width, outer.grey.shape[0] / outer.height, 1.0])
    # outer small -> inner small: sample the inner picture at each outer pixel it covers
    back = to_small_inner @ np.linalg.inv(model) @ np.linalg.inv(to_small_outer)
    oh, ow = outer.grey.shape
    warped = cv2.warpPerspective(
        inner.grey, back, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0
    ).astype(np.float32)
    covered = cv2.warpPerspective(
        np.full(inner.grey.shape, 255, np.uint8), back, (ow, oh), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )
    valid = np.asarray(cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0)
    if valid.sum() < 64:
        return 1.0
    here = outer.grey.astype(np.float32)
    x, y = normalised(warped, valid), normalised(here, valid)
    diff = np.abs(x - y) * valid
    diff = cv2.GaussianBlur(diff, (3, 3), 0)
    ys, xs = np.nonzero(valid)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cells, bad = 0, 0
    for gy in range(GRID):
        for gx in range(GRID):
            sl = (
                slice(y0 + (y1 - y0) * gy // GRID, y0 + (y1 - y0) * (gy + 1) // GRID),
                slice(x0 + (x1 - x0) * gx // GRID, x0 + (x1 - x0) * (gx + 1) // GRID),
            )
            inside = valid[sl]
            if inside.sum() < max(4, inside.size // 2):
                continue
            cells += 1
            bad += float(diff[sl][inside].mean()) > CELL_DISAGREES
    return bad / cells if cells else 1.0


def normalised(pixels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    values = pixels[valid]
    return np.asarray((pixels - float(values.mean())) / max(float(values.std()), 1.0))


def pixel_fit(inner: "Features", outer: "Features") -> tuple[np.ndarray, float] | None:
    """Where the whole inner picture sits in the outer one, unturned, by its small grey image: the
    model (inner's feature frame to outer's) and its correlation, or None when nothing fits well."""
    (ih, iw), (oh, ow) = inner.grey.shape, outer.grey.shape
    best = _best_placement(inner.grey, outer.grey, FIT_SHARES)
    if best is None:
        return None
    # The shares are 3.4 % apart: a misfit of up to 1.7 % of the width, a pixel or two at the far
    # edge of the grey image, enough to make a copy's edge cells disagree. Every template width
    # between the best share's neighbours is tried as well.
    step = float(FIT_SHARES[1] / FIT_SHARES[0])
    widths = np.arange(np.floor(best.width / step), np.ceil(best.width * step) + 1) / ow
    best = max(best, _best_placement(inner.grey, outer.grey, widths) or best)
    if best.correlation < MIN_CORRELATION:
        return None
    to_grey = np.diag([iw / inner.width, ih / inner.height, 1.0])
    from_grey = np.diag([outer.width / ow, outer.height / oh, 1.0])
    # the template's own scales: its height is rounded apart from its width, and a model that
    # scaled both by the width's share misplaced a copy's bottom edge by up to half a grey pixel
    placed = np.array([[best.width / iw, 0, best.x], [0, best.height / ih, best.y], [0, 0, 1]], dtype=np.float64)
    return from_grey @ placed @ to_grey, best.correlation


class _Placement(NamedTuple):
    correlation: float
    width: int  # the template's size in pixels of the outer grey image
    height: int
    x: int  # its top left there
    y: int


def _best_placement(inner: np.ndarray, outer: np.ndarray, shares: np.ndarray) -> _Placement | None:
    """The best correlation of the inner grey image scaled to each share of the outer one's width,
    or None when no share gives a template worth matching."""
    (ih, iw), (oh, ow) = inner.shape, outer.shape
    best: _Placement | None = None
    for share in shares:
        tw = round(share * ow)
        th = round(tw * ih / iw)
        if th > oh or tw > ow or min(tw, th) < 12:
            continue
        template = cv2.resize(inner, (tw, th), interpolation=cv2.INTER_AREA)
        if float(template.std()) < MIN_SPREAD:
            continue
        _, score, _, at = cv2.minMaxLoc(cv2.matchTemplate(outer, template, cv2.TM_CCOEFF_NORMED))
        if best is None or score > best.correlation:
            best = _Placement(float(score), tw, th, int(at[0]), int(at[1]))
    return best
