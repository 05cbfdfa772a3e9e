"""Pure scoring: how sure we are that two assets are one photograph, and which pairs hang together.

No ORM here: `weigh` reads plain attributes of a fingerprint and an asset (the models have them,
so do the tests' stand-ins), and `components` takes pairs of ids. `dedupe.candidates` does the
queries and writes around them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .search import distance, to_uint64

# A candidate's kind, strongest evidence first; `Candidate.Kind` is built from these.
EXACT, PIXEL, NEAR, PARTIAL = "exact", "pixel", "near", "partial"
KIND_ORDER = {EXACT: 0, PIXEL: 1, NEAR: 2, PARTIAL: 3}


class Prints(Protocol):
    """What weighing reads of a fingerprint (`dedupe.models.Fingerprint`)."""

    @property
    def phash(self) -> int: ...
    @property
    def dhash(self) -> int: ...
    @property
    def phash_zoom(self) -> int: ...
    @property
    def phash256(self) -> bytes | memoryview: ...
    @property
    def phash256_zoom(self) -> bytes | memoryview: ...
    @property
    def pixel_sha256(self) -> str: ...


class Picture(Protocol):
    """What weighing reads of an asset (`dedupe.models.Asset`)."""

    @property
    def sha256(self) -> str: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...


@dataclass(frozen=True)
class Evidence:
    kind: str
    score: float
    facts: dict[str, Any]


def weigh(fa: Prints, fb: Prints, a: Picture, b: Picture) -> Evidence:
    """Why two assets may be one photograph, and how sure we are (1.0 = same bytes)."""
    views = {
        "picture": bits(fa.phash256, fb.phash256),
        "a cropped": bits(fa.phash256, fb.phash256_zoom),
        "b cropped": bits(fa.phash256_zoom, fb.phash256),
    }
    alignment, best = min(views.items(), key=lambda kv: kv[1])
    facts = {
        "phash": bits64(fa.phash, fb.phash),
        "dhash": bits64(fa.dhash, fb.dhash),
        "phash_zoom": min(bits64(fa.phash, fb.phash_zoom), bits64(fa.phash_zoom, fb.phash)),
        "phash256": best,
        "alignment": alignment,
        "same_dimensions": (a.width, a.height) == (b.width, b.height),
    }
    if a.sha256 == b.sha256:
        return Evidence(EXACT, 1.0, facts | {"sha256": True})
    if fa.pixel_sha256 and fa.pixel_sha256 == fb.pixel_sha256:
        return Evidence(PIXEL, 0.99, facts | {"pixels": True})
    return Evidence(NEAR, round(max(0.0, min(0.98, 1 - best / 128)), 4), facts)


def bits(x: bytes | memoryview, y: bytes | memoryview) -> int:
    """Bits that differ between two equally long byte strings (the 256-bit hashes)."""
    return int(np.unpackbits(np.frombuffer(bytes(x), np.uint8) ^ np.frombuffer(bytes(y), np.uint8)).sum())


def bits64(x: int, y: int) -> int:
    """Bits that differ between two 64-bit hashes as the database stores them (signed)."""
    return int(distance(to_uint64(np.array([x])), to_uint64(np.array([y])))[0])


def components(pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """The positions in `pairs` of each connected component, in order of first appearance.

    Pairs that share an asset, directly or through others, are one component: three copies of
    one photograph are reviewed as one group. Sparse-graph labelling, so the scan's global pass
    over every open pair costs about as much as sorting them.
    """
    if not pairs:
        return []
    ends = np.asarray(pairs, dtype=np.int64)
    nodes, inverse = np.unique(ends.ravel(), return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    n = len(nodes)
    graph = coo_matrix((np.ones(len(ends)), (inverse[:, 0], inverse[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for position, comp in enumerate(label[inverse[:, 0]].tolist()):
        members.setdefault(comp, []).append(position)
    return list(members.values())
