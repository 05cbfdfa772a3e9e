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
# How far (share of the larger picture's side) a corner may land outside it and still be inside.
CONTAIN_SLACK = 0.04
# The share of the inner picture that may fall outside the outer one, when it is flat fill.
MAX_FILL = 0.2


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
    a: Features, b: Features, *, max_disagreeing: float = overlay.MAX_DISAGREEING, min_side: float = 0.0
) -> Relation | None:
    """How `a` and `b` are one photograph (one contains the other), or None: not shown to be.

    Pictures that share no property are held to more (`dedupe.partials`): `max_disagreeing` lower,
    and the inner one must span at least `min_side` of the outer one's width and height.
    """
    fitted = _feature_fit(a, b) or _pixel_fit(a, b)
    if fitted is None:
        return None
    model, inliers, model_name = fitted
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


def _feature_fit(a: Features, b: Features) -> tuple[np.ndarray, int, str] | None:
    """The model a -> b from matched local features, with its inliers and name; None when too few."""
    if len(a.descriptors) < MIN_INLIERS or len(b.descriptors) < MIN_INLIERS:
        return None
    src, dst = _matches(a, b)
    fitted = _fit(src, dst) if len(src) >= MIN_INLIERS else None
    if fitted is None:
        return None
    model, inliers = fitted
    return model, inliers, "homography" if model[2, :2].any() else "similarity"


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


def _fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The homography when it is plausible and well supported, else the similarity (4 degrees of
    freedom: robust with few inliers, as on repetitive facades); None when neither holds."""
    fits = []
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, REPROJECTION, maxIters=2000, confidence=0.995)
    if homography is not None and mask is not None and _plausible(homography):
        fits.append((homography, int(mask.sum())))
    similarity, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION)
    if similarity is not None and mask is not None:
        model = np.vstack([similarity, [0, 0, 1]])
        if _plausible(model):
            fits.append((model, int(mask.sum())))
    fits = [fit for fit in fits if fit[1] >= MIN_INLIERS]
    if not fits:
        return None
    # the homography must earn its four extra degrees of freedom with clearly more support
    return max(fits, key=lambda fit: fit[1] * (1.0 if fit[0][2, :2].any() else 1.25))


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


def _spans(region: np.ndarray, outer: Features) -> float:
    """The smaller of the shares of the outer picture's width and height that the region spans."""
    width = float(min(region[:, 0].max(), outer.width) - max(region[:, 0].min(), 0))
    height = float(min(region[:, 1].max(), outer.height) - max(region[:, 1].min(), 0))
    return min(width / outer.width, height / outer.height)


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
