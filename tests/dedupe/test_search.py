"""The hash index finds exactly the pairs an all-pairs comparison finds, in full and incrementally."""

import numpy as np
import pytest

from dedupe.search import brute_force_pairs, pairs_within, plan_for


def clustered_hashes(seed: int, originals: int = 1500, copies: int = 600, max_flips: int = 10) -> np.ndarray:
    """Random originals plus copies with a few bits flipped, like perceptual hashes of re-encodes."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, size=originals, dtype=np.int64).view(np.uint64)
    picks = rng.integers(0, originals, size=copies)
    flips = np.zeros(copies, dtype=np.uint64)
    for k in range(copies):
        for bit in rng.choice(64, rng.integers(0, max_flips + 1), replace=False):
            flips[k] |= np.uint64(1) << np.uint64(bit)
    return np.concatenate([base, base[picks] ^ flips])


def as_set(i: np.ndarray, j: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(i.tolist(), j.tolist(), strict=True))


@pytest.mark.parametrize("radius", [0, 2, 4, 6, 8, 10])
def test_it_finds_every_pair_within_the_radius_and_no_other(radius):
    hashes = clustered_hashes(radius)

    i, j, d = pairs_within(hashes, radius)

    assert as_set(i, j) == set(brute_force_pairs(hashes, radius))
    assert (i < j).all()
    assert (d <= radius).all()


@pytest.mark.parametrize("radius", [3, 8])
def test_incremental_search_finds_the_pairs_that_involve_new_hashes(radius):
    hashes = clustered_hashes(7)
    new = np.arange(1800, 2100)

    i, j, _ = pairs_within(hashes, radius, queries=new)

    fresh = set(new.tolist())
    expected = {p for p in brute_force_pairs(hashes, radius) if p[0] in fresh or p[1] in fresh}
    assert as_set(i, j) == expected


def test_identical_hashes_in_a_large_group_are_all_paired():
    hashes = np.array([12345] * 40 + [99999], dtype=np.uint64)

    i, _, _ = pairs_within(hashes, 0)

    assert len(i) == 40 * 39 // 2


def test_signed_and_unsigned_hashes_are_the_same_bits():
    hashes = np.array([-1, -2, 2**62], dtype=np.int64).view(np.uint64)

    i, j, d = pairs_within(hashes, 1)

    assert as_set(i, j) == {(0, 1)} and d.tolist() == [1]


def test_the_plan_keeps_tables_within_the_memory_budget():
    for radius in range(0, 13):
        for n in (10, 10_000, 2_500_000):
            plan = plan_for(radius, n)
            assert sum(plan.blocks) == 64
            assert max(plan.blocks) <= 24
