"""Weighing a pair's evidence and grouping pairs: pure functions, no database."""

from dataclasses import dataclass

import numpy as np

from dedupe.models import Candidate
from dedupe.scoring import EXACT, NEAR, PIXEL, bits, bits64, components, weigh


@dataclass
class Prints:
    phash: int = 0
    dhash: int = 0
    phash_zoom: int = 0
    phash256: bytes = bytes(32)
    phash256_zoom: bytes = bytes(32)
    pixel_sha256: str = ""


@dataclass
class Picture:
    sha256: str = "a" * 64
    width: int | None = 800
    height: int | None = 600


def flipped(count: int) -> bytes:
    """A 256-bit hash with the first `count` bits set."""
    return np.packbits([1] * count + [0] * (256 - count)).tobytes()


def test_bits_counts_differing_bits_of_the_long_hashes():
    assert bits(bytes(32), bytes(32)) == 0
    assert bits(bytes(32), flipped(37)) == 37
    assert bits(memoryview(flipped(5)), flipped(9)) == 4


def test_bits64_reads_signed_database_integers_as_bit_patterns():
    assert bits64(-1, 0) == 64
    assert bits64(0b1011, 0b0001) == 2


def test_same_bytes_is_exact_with_full_confidence():
    evidence = weigh(Prints(), Prints(phash256=flipped(3)), Picture(), Picture(width=801))

    assert (evidence.kind, evidence.score) == (EXACT, 1.0)
    assert evidence.facts["sha256"] is True
    assert evidence.facts["same_dimensions"] is False


def test_same_pixels_under_different_bytes_is_pixel():
    a, b = Prints(pixel_sha256="p" * 64), Prints(pixel_sha256="p" * 64)

    evidence = weigh(a, b, Picture(sha256="a" * 64), Picture(sha256="b" * 64))

    assert (evidence.kind, evidence.score) == (PIXEL, 0.99)
    assert evidence.facts["pixels"] is True


def test_a_near_pair_scores_by_its_best_alignment():
    """A crop matches the other's centre better than the whole picture: that alignment is the one scored."""
    a = Prints(phash256=bytes(32), phash256_zoom=flipped(40))
    b = Prints(phash256=flipped(64), phash256_zoom=flipped(16), phash=0b111, phash_zoom=0b1)

    evidence = weigh(a, b, Picture(sha256="a" * 64), Picture(sha256="b" * 64))

    assert evidence.kind == NEAR
    assert evidence.facts["alignment"] == "a cropped"
    assert evidence.facts["phash256"] == 16
    assert evidence.score == round(1 - 16 / 128, 4)
    assert evidence.facts["phash"] == 3 and evidence.facts["phash_zoom"] == 1


def test_a_near_pair_never_scores_above_a_pixel_pair_nor_below_zero():
    same = weigh(Prints(), Prints(), Picture(sha256="a" * 64), Picture(sha256="b" * 64))
    far = weigh(
        Prints(),
        Prints(phash256=flipped(256), phash256_zoom=flipped(256)),
        Picture(sha256="a" * 64),
        Picture(sha256="b" * 64),
    )

    assert same.score == 0.98
    assert far.score == 0.0


def test_scoring_kinds_are_the_candidate_kinds():
    assert [EXACT, PIXEL, NEAR] == [Candidate.Kind.EXACT, Candidate.Kind.PIXEL, Candidate.Kind.NEAR]


def test_components_joins_pairs_that_share_an_asset_through_others():
    pairs = [(1, 2), (7, 8), (2, 3), (9, 7), (3, 1), (20, 21)]

    assert components(pairs) == [[0, 2, 4], [1, 3], [5]]


def test_components_of_nothing_is_nothing():
    assert components([]) == []


def test_components_lists_them_in_order_of_first_appearance_not_by_asset_id():
    """group_refresh keeps the largest component, ties broken by which came first."""
    assert components([(50, 60), (1, 2)]) == [[0], [1]]
