"""Pure partial-copy work: local features per picture, and how two pictures relate geometrically.

A crop, a screenshot with the photo inside it, a scanned page, a photo straightened by a few
degrees or re-photographed at an angle: whole-frame hashes cannot see these. ORB keypoints and
descriptors are computed once per asset, in the sandbox's inspection pass, on the reduced
upright decode; a pair is verified from the stored features alone (no file is decoded): matched
descriptors and a RANSAC homography or similarity, or, where they find no model, where the
smaller picture fits in the other by its pixels (`overlay.pixel_fit`: a flat facade of repeated
windows has too few distinct corners); then checks that separate one photograph from two:

- **containment**: one picture's frame must land inside the other's. Two framings of one scene
  that only overlap are different photographs, however many points they share.
- **pixel agreement**: the smaller picture, warped onto the larger through the model, must agree
  with it almost everywhere (small grey and colour images are stored for this), and no part of
  it may disagree throughout (`overlay.changed_region`). The same site after a large change
  (scaffolding over a third of the frame) matches in its unchanged part only.

No ORM here; `dedupe.partials` does the queries and writes around it.
"""

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from . import overlay

cv2.setNumThreads(1)  # workers and the sandbox run one per core already
cv2.ocl.setUseOpenCL(False)  # never load an OpenCL driver (the sandbox may open no file)

# Features are detected on the upright decode with its long side at most this (never upscaled).
FEATURE_SIDE = 640
MAX_FEATURES = 700
# The small grey picture kept for pixel agreement: long side in pixels.
GREY_SIDE = 96
# Lowe's ratio test and the RANSAC reprojection error (pixels of the feature frame).
RATIO = 0.8
REPROJECTION = 5.0
# Chosen on make_corpus.py --partial (README, "Partial copies").
MIN_INLIERS = 10
FREE_PARAMETERS = {"similarity": 4, "homography": 8}
# How far (share of the larger picture's side) a corner may land outside it and still be inside.
CONTAIN_SLACK = 0.04
# The share of the inner picture that may fall outside the outer one, when it is flat fill.
MAX_FILL = 0.2
# A side kept whole: nearer both edges than a crop keeping 95 % of the side (the widest) can
# reach; a feature model places an edge to a pixel or two of the feature frame.
WHOLE_SIDE = 0.97
CUT_SIDE = 0.9  # a side cut by a tenth or more, as a crop's coverage is (`_relation_name`)


@dataclass(frozen=True)
class Features:
    """What verification needs of one picture: keypoints, descriptors, and a small grey image."""

    width: int  # the feature frame; keypoints are in its pixels
    height: int
    points: np.ndarray  # float32 (n, 2)
    descriptors: np.ndarray  # uint8 (n, 32)
    grey: np.ndarray  # uint8 (h, w), long side GREY_SIDE
    # uint8 (ceil(h / 2), ceil(w / 2), 2): Lab a* and b* at half the grey image's size; empty for
    # assets inspected before it was kept. Grey alone cannot see a change painted in a similar grey.
    chroma: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.uint8))

    def to_fields(self) -> dict[str, Any]:
        """The stored form: raw little-endian bytes (no pickle, nothing to decode but arrays)."""
        return {
            "feature_width": self.width,
            "feature_height": self.height,
            "keypoints": self.points.astype("<f4").tobytes(),
            "descriptors": self.descriptors.astype(np.uint8).tobytes(),
            "grey": self.grey.astype(np.uint8).tobytes(),
            "grey_width": self.grey.shape[1],
            "chroma": self.chroma.astype(np.uint8).tobytes(),
        }


def features_from_fields(
    *,
    feature_width: int,
    feature_height: int,
    keypoints: bytes,
    descriptors: bytes,
    grey: bytes,
    grey_width: int,
    chroma: bytes = b"",
) -> Features:
    """Arrays back from their stored bytes; raises ValueError when the sizes do not agree."""
    points = np.frombuffer(bytes(keypoints), dtype="<f4").reshape(-1, 2).astype(np.float32)
    desc = np.frombuffer(bytes(descriptors), dtype=np.uint8).reshape(-1, 32)
    if len(points) != len(desc) or len(points) > MAX_FEATURES:
        raise ValueError(f"{len(points)} keypoints but {len(desc)} descriptors")
    if not 0 < grey_width <= GREY_SIDE or len(grey) % grey_width or len(grey) // grey_width > GREY_SIDE:
        raise ValueError(f"a grey image of {len(grey)} bytes cannot be {grey_width} wide")
    if not (0 < feature_width <= FEATURE_SIDE and 0 < feature_height <= FEATURE_SIDE):
        raise ValueError(f"a feature frame of {feature_width}x{feature_height}")
    pixels = np.frombuffer(bytes(grey), dtype=np.uint8).reshape(-1, grey_width)
    ch, cw = _chroma_shape(pixels.shape)
    if len(chroma) not in (0, ch * cw * 2):
        raise ValueError(f"{len(chroma)} bytes of colour for a {grey_width}-wide grey image")
    colour = np.frombuffer(bytes(chroma), dtype=np.uint8).reshape(ch if chroma else 0, cw if chroma else 0, 2)
    return Features(feature_width, feature_height, points, desc, pixels, colour)


def _chroma_shape(grey_shape: tuple[int, ...]) -> tuple[int, int]:
    return (grey_shape[0] + 1) // 2, (grey_shape[1] + 1) // 2


def local_features(im: Image.Image) -> Features:
    """ORB keypoints and descriptors of the upright picture, and its small grey and colour images."""
    rgb = np.asarray(im.convert("RGB"))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    scale = min(1.0, FEATURE_SIDE / max(h, w))
    if scale < 1:
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    orb = cv2.ORB_create(  # type: ignore[attr-defined]  # the stubs miss the factory
        nfeatures=MAX_FEATURES, scaleFactor=1.2, nlevels=8, edgeThreshold=19, fastThreshold=10
    )
    keypoints, descriptors = orb.detectAndCompute(grey, None)
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    if descriptors is None:
        descriptors = np.zeros((0, 32), np.uint8)
    gh, gw = grey.shape
    small_scale = GREY_SIDE / max(gh, gw)
    small = cv2.resize(
        grey, (max(1, round(gw * small_scale)), max(1, round(gh * small_scale))), interpolation=cv2.INTER_AREA
    )
    ch, cw = _chroma_shape(small.shape)
    lab = cv2.cvtColor(cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)
    colour = np.ascontiguousarray(lab[..., 1:])
    return Features(gw, gh, points[:MAX_FEATURES], descriptors[:MAX_FEATURES], small, colour)


def mirrored(f: Features) -> Features:
    """The small images of the mirror picture (keypoints are left out: ORB's are not mirror-invariant)."""
    none = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    return Features(f.width, f.height, *none, f.grey[:, ::-1].copy(), f.chroma[:, ::-1].copy())


def mirror_agrees(a: Features, b: Features, *, min_side: float = 0.0) -> bool:
    """Whether `a` flipped left to right is `b`'s picture, pixel for pixel (colour too), at a
    re-encode's standard (`overlay.FLIP_MAX_DISAGREEING`).

    Frames of one shape are laid over each other whole. Frames of two shapes (a flipped copy
    letterboxed, or put on a page) cannot be: the flipped picture is fitted inside the other by its
    pixels and held to the same checks as any partial copy. Before, frames of two shapes were
    not compared at all, so a pair passed on its mirror hash alone (which is taken after trimming
    borders): two facades of one template, one letterboxed.
    """
    flipped = mirrored(a)
    if overlay.same_shape(flipped, b):
        if overlay.pixels_disagreeing(flipped, b) > overlay.FLIP_MAX_PIXELS:
            return False
        return not overlay.whole_frames_disagree(flipped, b, max_disagreeing=overlay.FLIP_MAX_DISAGREEING)
    return relate(flipped, b, max_disagreeing=overlay.FLIP_MAX_DISAGREEING, min_side=min_side) is not None


@dataclass(frozen=True)
class Relation:
    """How the smaller picture (`inner`, "a" or "b") sits in the larger one (`outer`)."""

    inner: str
    relation: str  # crop | framed | rotated | perspective | whole (see _relation_name)
    inliers: int  # feature correspondences the model explains (0 for a fit by pixels)
    model: str  # homography | similarity | pixels (scale and shift found by correlation)
    matrix: list[list[float]]  # homography, inner's feature frame -> outer's feature frame
    region: list[list[float]]  # inner's corners in outer's feature frame (x, y), clockwise from top left
    coverage: float  # share of the outer picture's frame that the inner one covers
    angle: float  # degrees, the rotation part of the model
    disagreeing: float  # share of the overlap's cells whose pixels disagree


def relate(
    a: Features,
    b: Features,
    *,
    max_disagreeing: float = overlay.MAX_DISAGREEING,
    min_side: float = 0.0,
    alternatives: bool = True,
) -> Relation | None:
    """How `a` and `b` are one photograph (one contains the other), or None: not shown to be.

    The features propose models, best supported first: support is the correspondences a model
    explains less what its free parameters could fit by themselves (two numbers place a point:
    2 for a similarity, 4 for a homography). With `alternatives`, every proposal is checked and
    the pixels choose: of those that pass, the one under which the fewest cells disagree, the
    best supported on a tie. Support alone cannot choose: a homography bends to take in a few
    mismatched windows of a repetitive facade, and then its pixels disagree. Where no feature
    model passes, the smaller picture is looked for by its pixels (a tight crop of a flat facade).

    Pictures that share no property are held to more (`dedupe.partials`): `max_disagreeing` lower,
    the inner one must span at least `min_side` of the outer one's width and height, and without
    `alternatives` only the best supported model is checked, or the pixels where features propose
    none: each further model checked is one more chance for two look-alikes to pass.
    """
    fits = _feature_fits(a, b)
    passed = [
        found
        for model, inliers, model_name in (fits if alternatives else fits[:1])
        if (found := _checked(a, b, model, inliers, model_name, max_disagreeing=max_disagreeing, min_side=min_side))
    ]
    if passed:
        return min(passed, key=lambda r: (r.disagreeing, -_support(r.inliers, r.model)))
    if (alternatives or not fits) and (fitted := _pixel_fit(a, b)) is not None:
        return _checked(a, b, *fitted, max_disagreeing=max_disagreeing, min_side=min_side)
    return None


def _support(inliers: int, model_name: str) -> float:
    return inliers - FREE_PARAMETERS[model_name] / 2


def _checked(
    a: Features,
    b: Features,
    model: np.ndarray,
    inliers: int,
    model_name: str,
    *,
    max_disagreeing: float,
    min_side: float,
) -> Relation | None:
    """The relation a model a -> b shows, when the checks pass: one frame inside the other, the
    inner spanning `min_side` of the outer, and the pixels agreeing."""  # fmt: skip
    a_in_b = _corners_in(model, a, b)
    b_in_a = _corners_in(np.linalg.inv(model), b, a)
    if a_in_b is not None and (
        b_in_a is None or _area(a_in_b) <= _area(b_in_a) * (b.width * b.height) / (a.width * a.height)
    ):
        inner, outer, matrix, region = a, b, model, a_in_b
        name = "a"
    elif b_in_a is not None:
        inner, outer, matrix, region = b, a, np.linalg.inv(model), b_in_a
        name = "b"
    else:
        return None  # they overlap, neither contains the other: two framings, two photographs
    if _spans(region, outer) < min_side:
        return None  # a detail of the other picture: another photograph
    disagreeing = overlay.disagreement(inner, outer, matrix)
    if disagreeing > max_disagreeing or overlay.changed_region(inner, outer, matrix) > overlay.MAX_CHANGED:
        return None  # the pixels say two photographs, however well the geometry fits
    matrix = matrix / matrix[2, 2]
    coverage = _area(region) / (outer.width * outer.height)
    angle = float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))
    return Relation(
        inner=name,
        relation=_relation_name(matrix, coverage, angle, outer, _rest_is_flat(inner, outer, matrix)),
        inliers=inliers,
        model=model_name,
        matrix=[[round(float(v), 6) for v in row] for row in matrix],
        region=[[round(float(x), 1), round(float(y), 1)] for x, y in region],
        coverage=round(coverage, 4),
        angle=round(angle, 2),
        disagreeing=round(disagreeing, 4),
    )


def _feature_fits(a: Features, b: Features) -> list[tuple[np.ndarray, int, str]]:
    """The models a -> b that matched local features support, with their inliers and names, best
    supported first; none when too few match."""
    if len(a.descriptors) < MIN_INLIERS or len(b.descriptors) < MIN_INLIERS:
        return []
    src, dst = _matches(a, b)
    if len(src) < MIN_INLIERS:
        return []
    named = [
        (model, inliers, "homography" if model[2, :2].any() else "similarity") for model, inliers in _fit(src, dst)
    ]
    return sorted(named, key=lambda fit: -_support(fit[1], fit[2]))  # stable: similarities first on a tie


def _pixel_fit(a: Features, b: Features) -> tuple[np.ndarray, int, str] | None:
    """Where features fail (a tight crop of a flat, repetitive facade): the better of a in b and
    b in a by their pixels, as a model a -> b."""
    a_in_b, b_in_a = overlay.pixel_fit(a, b), overlay.pixel_fit(b, a)
    if a_in_b is None and b_in_a is None:
        return None
    if b_in_a is None or (a_in_b is not None and a_in_b[1] >= b_in_a[1]):
        return a_in_b[0], 0, "pixels"  # type: ignore[index]  # not None: checked above
    return np.linalg.inv(b_in_a[0]), 0, "pixels"


def _matches(a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
    """Putative correspondences (a's points, b's points): descriptors passing Lowe's ratio test."""
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    return a.points[[m.queryIdx for m in good]], b.points[[m.trainIdx for m in good]]


def _fit(src: np.ndarray, dst: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Plausible models with at least MIN_INLIERS: RANSAC's similarity (4 degrees of freedom,
    robust with few inliers, as on repetitive facades), the similarity fitted to the homography's
    inliers, and the homography, in that order.

    RANSAC's similarity is the best through two sampled points, not the best similarity: on a pure
    crop it explained 34 of 50 correspondences, the homography 46 with a spurious shear (the crop
    was named `perspective`), and the similarity fitted to those 46 explained 47."""
    fits = []
    similarity, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION)
    if similarity is not None and mask is not None:
        fits.append((np.vstack([similarity, [0, 0, 1]]), int(mask.sum())))
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, REPROJECTION, maxIters=2000, confidence=0.995)
    if homography is not None and mask is not None and _plausible(homography):
        inliers = mask.ravel().astype(bool)
        refitted = _similarity_fitted(src[inliers], dst[inliers])
        fits += [(refitted, _explained(refitted, src, dst)), (homography, int(mask.sum()))]
    return [(model, n) for model, n in fits if n >= MIN_INLIERS and _plausible(model)]


def _similarity_fitted(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity (scale, turn, shift) nearest to mapping `src` onto `dst`, by least squares."""
    x, y = src[:, 0].astype(np.float64), src[:, 1].astype(np.float64)
    one, zero = np.ones_like(x), np.zeros_like(x)
    # u = a x - b y + tx, v = b x + a y + ty
    rows = np.vstack([np.stack([x, -y, one, zero], axis=1), np.stack([y, x, zero, one], axis=1)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, np.concatenate([dst[:, 0], dst[:, 1]]).astype(np.float64))
    return np.array([[a, -b, tx], [b, a, ty], [0.0, 0.0, 1.0]])


def _explained(model: np.ndarray, src: np.ndarray, dst: np.ndarray) -> int:
    """How many correspondences the model maps within the reprojection error, as RANSAC counts them."""
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2).astype(np.float64), model).reshape(-1, 2)
    return int((np.linalg.norm(mapped - dst, axis=1) <= REPROJECTION).sum())


def _plausible(model: np.ndarray) -> bool:
    """A copy is scaled, turned a little, tilted a little; never folded or wildly sheared."""
    m = model / model[2, 2]
    linear = m[:2, :2]
    det = float(np.linalg.det(linear))
    if det <= 0:  # a mirror image or a fold: not what a homography between copies looks like
        return False
    sx, sy = float(np.linalg.norm(linear[:, 0])), float(np.linalg.norm(linear[:, 1]))
    return 0.15 < sx < 7 and 0.15 < sy < 7 and 0.6 < sx / sy < 1.66 and float(np.abs(m[2, :2]).max()) < 0.002


def _corners_in(model: np.ndarray, inner: Features, outer: Features) -> np.ndarray | None:
    corners = np.array([[0, 0], [inner.width, 0], [inner.width, inner.height], [0, inner.height]], np.float32)
    mapped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), model).reshape(-1, 2)
    sx, sy = CONTAIN_SLACK * outer.width, CONTAIN_SLACK * outer.height
    inside = (
        (mapped[:, 0] >= -sx)
        & (mapped[:, 0] <= outer.width + sx)
        & (mapped[:, 1] >= -sy)
        & (mapped[:, 1] <= outer.height + sy)
    )
    if bool(inside.all()):
        return mapped
    return mapped if _outside_is_fill(model, inner, outer) else None


def _outside_is_fill(model: np.ndarray, inner: Features, outer: Features) -> bool:
    """Whether what falls outside the outer frame is only flat fill: a photo turned on its canvas,
    or re-photographed with a dark surround. Two framings of one scene have buildings there."""
    gh, gw = inner.grey.shape
    ys, xs = np.mgrid[0:gh, 0:gw]
    pts = np.stack([(xs + 0.5) * inner.width / gw, (ys + 0.5) * inner.height / gh], axis=-1).astype(np.float32)
    mapped = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), model).reshape(gh, gw, 2)
    sx, sy = CONTAIN_SLACK * outer.width, CONTAIN_SLACK * outer.height
    outside = (mapped[..., 0] < -sx) | (mapped[..., 0] > outer.width + sx)
    outside |= (mapped[..., 1] < -sy) | (mapped[..., 1] > outer.height + sy)
    if outside.mean() > MAX_FILL:
        return False
    return not outside.any() or float(inner.grey[outside].std()) < 10.0


def keeps_one_whole_side(found: Relation, outer: Features) -> bool:
    """Whether the inner picture, a crop of the outer one, reaches two opposite edges of it (its
    whole height or width, to WHOLE_SIDE) and cuts at least a tenth of the other side: what another
    framing of the scene looks like, the camera turned along one axis, rather than a crop, which
    cuts every side. Not asked of a copy turned, re-photographed or framed whole: a keystone's or
    a turned copy's model reaches two edges of the other and falls a few per cent short of two."""
    width, height = _side_shares(np.asarray(found.region, np.float64), outer)
    return found.relation == "crop" and max(width, height) >= WHOLE_SIDE and min(width, height) < CUT_SIDE


def _spans(region: np.ndarray, outer: Features) -> float:
    """The smaller of the shares of the outer picture's width and height that the region spans."""
    return min(_side_shares(region, outer))


def _side_shares(region: np.ndarray, outer: Features) -> tuple[float, float]:
    """The shares of the outer picture's width and height that the region spans, within its frame."""
    width = float(min(region[:, 0].max(), outer.width) - max(region[:, 0].min(), 0))
    height = float(min(region[:, 1].max(), outer.height) - max(region[:, 1].min(), 0))
    return width / outer.width, height / outer.height


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _rest_is_flat(inner: Features, outer: Features, model: np.ndarray) -> bool:
    """Whether the outer picture outside the inner one is plain (a page, a window's chrome with
    some text) rather than more of the photograph: a framed copy, not the original of a crop."""
    oh, ow = outer.grey.shape
    to_small = np.diag([ow / outer.width, oh / outer.height, 1.0]) @ model
    scale = np.diag([inner.width / inner.grey.shape[1], inner.height / inner.grey.shape[0], 1.0])
    covered = cv2.warpPerspective(np.full(inner.grey.shape, 255, np.uint8), to_small @ scale, (ow, oh)) > 0
    rest = ~cv2.dilate(covered.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if rest.mean() < 0.05 or covered.mean() < 0.05:
        return False
    values = outer.grey[rest].astype(np.int16)
    return float((np.abs(values - np.median(values)) <= 8).mean()) >= 0.8  # mostly one colour


def _relation_name(matrix: np.ndarray, coverage: float, angle: float, outer: Features, rest_flat: bool) -> str:
    """crop: the inner picture is part of the outer photo; framed: the outer is the inner photo
    on a page or in a window; rotated, perspective: a copy turned or re-photographed; whole: a copy."""
    if coverage <= 0.9 and rest_flat:
        return "framed"
    if abs(angle) >= 1.5 and coverage > 0.5:
        return "rotated"
    if float(np.abs(matrix[2, :2]).max()) * max(outer.width, outer.height) > 0.02:
        return "perspective"
    if coverage > 0.9:
        return "whole"
    return "crop"
