"""Pure: a compact code of what a picture shows, from its stored ORB descriptors, and the nearest codes.

Partial copies filed under another property's record (a wrong or differently spelled address, or
none) share no address with their original, so the address blocks of `dedupe.partials` never
propose them. Whole-frame hashes cannot either (README, "Partial copies": hashes of a centred grid
of 28 windows met 0.03 of tight crops and none of the mirror images at radius 10). The ORB
descriptors already stored per asset can: a crop, a framed copy, a turned or re-photographed copy
keeps many of its original's local features, whatever its frame. So each picture gets one VLAD
code (Jégou et al.): its descriptors' residuals to a small vocabulary learned from the archive
itself (nothing is downloaded), power- and intra-normalised, projected by PCA to `DIMS` numbers.
A new asset is verified only against its `NEIGHBOURS` nearest codes, found with an inverted file
(coarse k-means lists, `PROBES` lists searched), so the search grows with the archive, not its
square.

No ORM here; `dedupe.partials` loads and stores codes and the vocabulary around it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

WORDS = 16  # vocabulary size: 16 x 256 residual dimensions before projection
DIMS = 64  # stored code length (float16): 128 bytes per asset
SAMPLE = 30_000  # descriptors the words are learned from
LEARN_PICTURES = 2_000  # pictures the projection is learned from
NEIGHBOURS = 5  # nearest codes verified per new asset
LIST_SIZE = 1_000  # assets per inverted list, on average
PROBES = 8  # inverted lists searched per query
SEED = 12  # learning is deterministic: one archive, one vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """What turns descriptors into a code: the words, and the projection learned on their codes."""

    words: np.ndarray  # float32 (WORDS, 256): centres of the descriptors' bits
    mean: np.ndarray  # float32 (WORDS * 256,)
    basis: np.ndarray  # float32 (DIMS, WORDS * 256)

    def to_bytes(self) -> bytes:
        return b"".join(a.astype("<f4").tobytes() for a in (self.words, self.mean, self.basis))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Vocabulary":
        values = np.frombuffer(bytes(data), dtype="<f4")
        full = WORDS * 256
        if len(values) != full * (2 + DIMS):
            raise ValueError(f"a vocabulary of {len(values)} numbers, not {full * (2 + DIMS)}")
        return cls(values[:full].reshape(WORDS, 256), values[full : 2 * full], values[2 * full :].reshape(DIMS, full))


def _bits(descriptors: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.asarray(descriptors, np.uint8).reshape(-1, 32), axis=1).astype(np.float32)


def _vlad(bits: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Residuals to the nearest word, summed per word, signed square root, each word's part unit length."""
    out = np.zeros((len(words), bits.shape[1]), np.float32)
    if len(bits):
        nearest = ((words * words).sum(1)[None] - 2 * bits @ words.T).argmin(1)
        one_hot = np.zeros((len(bits), len(words)), np.float32)
        one_hot[np.arange(len(bits)), nearest] = 1.0
        out = one_hot.T @ bits - one_hot.sum(0)[:, None] * words  # residuals summed per word
    out = np.sign(out) * np.sqrt(np.abs(out))
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
    return out.ravel()


def vocabulary_learn(descriptor_sets: list[np.ndarray]) -> Vocabulary | None:
    """Words by k-means over a sample of the descriptors, then PCA over the pictures' full codes.

    None when there is too little to learn from (fewer descriptors than words).
    """
    sets = [d for d in descriptor_sets if len(d)]
    every = np.concatenate([_bits(d) for d in sets]) if sets else np.zeros((0, 256), np.float32)
    if len(every) < WORDS * 4:
        return None
    rng = np.random.default_rng(SEED)
    sample = every[rng.choice(len(every), min(SAMPLE, len(every)), replace=False)]
    cv2.setRNGSeed(SEED)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 20, 1e-3)
    _, _, words = cv2.kmeans(sample, WORDS, None, criteria, 1, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    picked = rng.choice(len(sets), min(len(sets), LEARN_PICTURES), replace=False)
    full = np.stack([_vlad(_bits(sets[i]), words) for i in sorted(picked)])
    mean = full.mean(0)
    _, _, vt = np.linalg.svd(full - mean, full_matrices=False)
    basis = np.zeros((DIMS, full.shape[1]), np.float32)
    basis[: min(DIMS, len(vt))] = vt[:DIMS]  # a tiny archive has fewer components: the rest stay zero
    return Vocabulary(words.astype(np.float32), mean.astype(np.float32), basis)


def content_code(descriptors: np.ndarray, vocabulary: Vocabulary) -> bytes:
    """The stored code of one picture: DIMS float16, unit length (empty without descriptors)."""
    if not len(descriptors):
        return b""
    code = vocabulary.basis @ (_vlad(_bits(descriptors), vocabulary.words) - vocabulary.mean)
    code /= max(float(np.linalg.norm(code)), 1e-9)
    return bytes(code.astype("<f2").tobytes())


def codes_from_bytes(stored: Sequence[bytes | memoryview]) -> np.ndarray:
    """Stored codes as one float32 (n, DIMS) array; raises ValueError on a code of another length."""
    data = b"".join(bytes(c) for c in stored)
    if len(data) != len(stored) * DIMS * 2:
        raise ValueError("a content code of the wrong length")
    return np.frombuffer(data, dtype="<f2").reshape(len(stored), DIMS).astype(np.float32)


def nearest(codes: np.ndarray, queries: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """For each query position, the positions of its k most similar other codes (cosine) and the
    similarities, best first, with -1 where fewer exist: `InvertedFile(codes).nearest`."""
    return InvertedFile(codes).nearest(queries, k)


class InvertedFile:
    """Codes put in lists by their nearest coarse centre (k-means on a sample); a query compares
    itself only with the members of its PROBES nearest lists. With LIST_SIZE fixed, the work per
    query does not grow with the archive, so searching every new asset grows with the archive.
    Built once per scan and process (`dedupe.partials`): every partial chunk of a scan sees the
    same codes."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = np.ascontiguousarray(codes, np.float32)
        self.lists = max(1, len(self.codes) // LIST_SIZE)
        self.centres = _coarse_centres(self.codes, self.lists) if len(self.codes) else np.zeros((1, DIMS), np.float32)
        member_of = _nearest_centre(self.codes, self.centres)
        self.order = np.argsort(member_of, kind="stable")
        self.starts = np.searchsorted(member_of[self.order], np.arange(self.lists + 1))

    def nearest(self, queries: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest other codes of each query position (see `nearest`)."""
        queries = np.asarray(queries, np.int64)
        best_j = np.full((len(queries), k), -1, np.int64)
        best_s = np.full((len(queries), k), -np.inf, np.float32)
        if len(self.codes) < 2 or not len(queries):
            return best_j, best_s
        probes = _probed_lists(self.codes[queries], self.centres, min(PROBES, self.lists)).ravel()
        by_list = np.argsort(probes, kind="stable")  # (query, list) pairs grouped by list
        bounds = np.searchsorted(probes[by_list], np.arange(self.lists + 1))
        asker = by_list // min(PROBES, self.lists)
        for lst in range(self.lists):
            asking = asker[bounds[lst] : bounds[lst + 1]]
            members = self.order[self.starts[lst] : self.starts[lst + 1]]
            if not len(asking) or not len(members):
                continue
            sims = self.codes[queries[asking]] @ self.codes[members].T
            sims[queries[asking][:, None] == members[None, :]] = -np.inf  # not itself
            _merge_top(best_j, best_s, asking, members, sims, k)
        return best_j, best_s


def _coarse_centres(codes: np.ndarray, lists: int) -> np.ndarray:
    if lists == 1:
        return np.asarray(codes.mean(0, keepdims=True), np.float32)
    rng = np.random.default_rng(SEED)
    sample = codes[rng.choice(len(codes), min(len(codes), lists * 32), replace=False)]
    cv2.setRNGSeed(SEED)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 1e-3)
    _, _, centres = cv2.kmeans(sample, lists, None, criteria, 1, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    return np.asarray(centres, np.float32)


def _nearest_centre(codes: np.ndarray, centres: np.ndarray, step: int = 65_536) -> np.ndarray:
    out = np.empty(len(codes), np.int64)
    norms = (centres * centres).sum(1)
    for lo in range(0, len(codes), step):
        out[lo : lo + step] = (norms[None] - 2 * codes[lo : lo + step] @ centres.T).argmin(1)
    return out


def _probed_lists(queries: np.ndarray, centres: np.ndarray, probes: int, step: int = 65_536) -> np.ndarray:
    out = np.empty((len(queries), probes), np.int64)
    norms = (centres * centres).sum(1)
    for lo in range(0, len(queries), step):
        d = norms[None] - 2 * queries[lo : lo + step] @ centres.T
        if probes < len(centres):
            out[lo : lo + step] = np.argpartition(d, probes - 1, axis=1)[:, :probes]
        else:
            out[lo : lo + step] = np.arange(probes)
    return out


def _merge_top(
    best_j: np.ndarray, best_s: np.ndarray, rows: np.ndarray, members: np.ndarray, sims: np.ndarray, k: int
) -> None:
    """Keep, per query row, the k best of what it had and this list's members."""
    take = min(k, sims.shape[1])
    # k rounds of argmax: several times faster than argpartition on rows of a thousand for k = 5
    top = np.empty((len(rows), take), np.int64)
    picked = np.empty((len(rows), take), np.float32)
    every = np.arange(len(rows))
    for t in range(take):
        top[:, t] = sims.argmax(axis=1)
        picked[:, t] = sims[every, top[:, t]]
        sims[every, top[:, t]] = -np.inf
    cand_s = np.concatenate([best_s[rows], picked], axis=1)
    cand_j = np.concatenate([best_j[rows], members[top]], axis=1)
    keep = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
    best_s[rows] = np.take_along_axis(cand_s, keep, axis=1)
    best_j[rows] = np.where(np.isinf(best_s[rows]), -1, np.take_along_axis(cand_j, keep, axis=1))  # never itself
