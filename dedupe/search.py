"""Pure pair search over 64-bit hashes: every pair within a Hamming radius, without trying all pairs.

Multi-index hashing (Norouzi et al.): cut each hash into m blocks. If two hashes differ in at
most r bits, at least one block differs in at most floor(r/m) bits (pigeonhole). So for each
block we look up the query's block and every value within that small radius in a
direct-address table of the block values, and verify the few hashes found there on all 64
bits. Nothing within the radius is missed; the index only decides how much is looked at.
No ORM here: callers hand in numpy arrays and get index pairs back.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

HASH_BITS = 64
# Block widths above this would need a direct-address table too large for the memory budget.
MAX_BLOCK_BITS = 24
# Queries looked up per step: bounds the temporary arrays to a few hundred MB at 2.5M hashes.
QUERY_STEP = 1 << 18


def to_uint64(signed: np.ndarray) -> np.ndarray:
    """Database BIGINTs are signed; the bit patterns are what matters."""
    return np.asarray(signed, dtype=np.int64).view(np.uint64)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.bitwise_count(np.bitwise_xor(a, b)), dtype=np.uint8)


@dataclass(frozen=True)
class Plan:
    """How the hash is cut: `blocks` widths in bits, and the radius searched inside each block."""

    blocks: tuple[int, ...]
    sub_radius: int

    @property
    def probes_per_query(self) -> int:
        return sum(_ball(bits, self.sub_radius) for bits in self.blocks)


def _ball(bits: int, radius: int) -> int:
    return sum(comb(bits, k) for k in range(radius + 1))


def plan_for(radius: int, n: int) -> Plan:
    """Pick the cut that minimises lookups plus verifications for n uniform hashes."""
    best: tuple[float, Plan] | None = None
    for m in range(2, 9):
        widths = tuple(HASH_BITS // m + (1 if i < HASH_BITS % m else 0) for i in range(m))
        if widths[0] > MAX_BLOCK_BITS:
            continue
        plan = Plan(widths, radius // m)
        expected_hits = sum(_ball(bits, plan.sub_radius) / 2**bits for bits in widths) * n
        cost = plan.probes_per_query + expected_hits
        if best is None or cost < best[0]:
            best = (cost, plan)
    assert best is not None
    return best[1]


def _flip_masks(bits: int, radius: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << i for i in positions) for positions in combinations(range(bits), k))
    return np.array(masks, dtype=np.uint32)


class BlockTable:
    """One block of every hash, as a direct-address table: value -> slice of `order`."""

    def __init__(self, values: np.ndarray, bits: int) -> None:
        self.order = np.argsort(values, kind="stable").astype(np.int64)
        self.counts = np.bincount(values, minlength=1 << bits).astype(np.int32)
        self.starts = np.zeros(1 << bits, dtype=np.int64)
        np.cumsum(self.counts[:-1], out=self.starts[1:])

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, the positions of hashes whose block equals it: (query index, hash index)."""
        counts = self.counts[keys]
        hit = np.flatnonzero(counts)  # most keys of a sparse table find nothing: skip them early
        counts = counts[hit]
        lo = self.starts[keys[hit]]
        single = counts == 1  # the common case needs no expansion
        query = [hit[single]]
        found = [self.order[lo[single]]]
        many = ~single
        if many.any():
            c, start = counts[many].astype(np.int64), lo[many]
            total = int(c.sum())
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
            query.append(np.repeat(hit[many], c))
            found.append(self.order[np.repeat(start, c) + offsets])
        return np.concatenate(query), np.concatenate(found)


def pairs_within(
    hashes: np.ndarray, radius: int, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, of positions in `hashes` whose Hamming distance is <= radius.

    With `queries` (positions), only pairs involving at least one query are returned: the
    incremental case, new assets against everything.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    query_ids = np.arange(n, dtype=np.int64) if queries is None else np.unique(np.asarray(queries, np.int64))
    is_query = np.zeros(n, dtype=bool)
    is_query[query_ids] = True
    plan = plan_for(radius, n)
    found_i, found_j = [], []
    shift = 0
    for bits in plan.blocks:
        mask = np.uint64((1 << bits) - 1)
        block = ((hashes >> np.uint64(shift)) & mask).astype(np.uint32)
        table = BlockTable(block, bits)
        # Queries in block order: the flipped keys then land near each other in the table.
        ordered = query_ids[np.argsort(block[query_ids], kind="stable")]
        for start in range(0, len(ordered), QUERY_STEP):
            q = ordered[start : start + QUERY_STEP]
            for flips in _flip_masks(bits, plan.sub_radius):
                qi, j = table.lookup(block[q] ^ flips)
                i = q[qi]
                # Each unordered pair once: i < j, or j is not a query (then only i reaches it).
                keep = (i < j) | ~is_query[j]
                i, j = i[keep], j[keep]
                near = distance(hashes[i], hashes[j]) <= radius
                found_i.append(i[near])
                found_j.append(j[near])
        shift += bits
    return _unique_pairs(hashes, found_i, found_j)


def _unique_pairs(hashes: np.ndarray, found_i: list, found_j: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not found_i:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0, np.uint8)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keys = np.unique(lo * len(hashes) + hi)  # a pair close in two blocks was found twice
    lo, hi = keys // len(hashes), keys % len(hashes)
    return lo, hi, distance(hashes[lo], hashes[hi])


def brute_force_pairs(hashes: np.ndarray, radius: int) -> Iterator[tuple[int, int]]:
    """All pairs compared: the reference the tests hold the index to. Quadratic; small inputs only."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    for i in range(len(hashes) - 1):
        d = distance(hashes[i], hashes[i + 1 :])
        for k in np.nonzero(d <= radius)[0]:
            yield i, i + 1 + int(k)
