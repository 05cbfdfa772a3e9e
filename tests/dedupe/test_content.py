"""Content codes: what they are learned from, what they find, and the inverted file's search."""

import numpy as np
import pytest

from dedupe import content, partial
from tests.factories import photo


def brute_force(codes: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    sims = codes[queries] @ codes.T
    sims[np.arange(len(queries)), queries] = -np.inf
    return [set(np.argsort(-row, kind="stable")[:k]) for row in sims]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_nearest_finds_what_brute_force_finds_when_every_list_is_probed(monkeypatch):
    monkeypatch.setattr(content, "LIST_SIZE", 50)
    monkeypatch.setattr(content, "PROBES", 100)
    rng = np.random.default_rng(3)
    codes = unit(rng.normal(size=(600, content.DIMS)))
    queries = np.array([0, 5, 77, 599])

    found, sims = content.nearest(codes, queries, k=4)

    assert [set(row) for row in found] == brute_force(codes, queries, 4)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # best first


def test_nearest_keeps_near_copies_when_few_lists_are_probed(monkeypatch):
    """Clustered codes (copies of one picture): the probed lists hold the copies."""
    monkeypatch.setattr(content, "LIST_SIZE", 40)
    rng = np.random.default_rng(4)
    centres = unit(rng.normal(size=(100, content.DIMS)))
    codes = unit(np.repeat(centres, 4, axis=0) + 0.04 * rng.normal(size=(400, content.DIMS)))
    queries = np.arange(0, 400, 4)

    found, _ = content.nearest(codes, queries, k=3)

    hits = sum({q + 1, q + 2, q + 3} == set(row) for q, row in zip(queries, found, strict=True))
    assert hits >= 0.95 * len(queries)


def test_nearest_never_returns_the_query_and_pads_a_tiny_archive():
    codes = unit(np.eye(3, content.DIMS, dtype=np.float32) + 0.01)
    found, sims = content.nearest(codes, np.array([1]), k=5)
    assert set(found[0]) == {0, 2, -1} and 1 not in found[0]
    assert np.isinf(sims[0][found[0] == -1]).all()


def test_a_crop_and_a_framed_copy_are_nearer_their_original_than_other_photographs():
    originals = [photo(200 + i) for i in range(8)]
    features = [partial.local_features(im).descriptors for im in originals]
    vocabulary = content.vocabulary_learn(features)
    assert vocabulary is not None
    archive = content.codes_from_bytes([content.content_code(d, vocabulary) for d in features])
    crop = originals[3].crop((150, 100, 560, 420))  # 64 % of each side, off the centre
    framed = originals[5].resize((400, 300))
    page = photo(999, (640, 560)).convert("L").convert("RGB")
    page.paste(framed, (120, 60))
    for im, expected in ((crop, 3), (page, 5)):
        code = content.codes_from_bytes([content.content_code(partial.local_features(im).descriptors, vocabulary)])
        assert int(np.argmax(archive @ code[0])) == expected


def test_a_vocabulary_survives_its_stored_form_and_a_wrong_one_is_refused():
    rng = np.random.default_rng(5)
    sets = [rng.integers(0, 256, size=(200, 32), dtype=np.uint8) for _ in range(6)]
    vocabulary = content.vocabulary_learn(sets)
    assert vocabulary is not None
    again = content.Vocabulary.from_bytes(vocabulary.to_bytes())
    assert content.content_code(sets[0], again) == content.content_code(sets[0], vocabulary)
    with pytest.raises(ValueError):
        content.Vocabulary.from_bytes(vocabulary.to_bytes()[:-4])
    with pytest.raises(ValueError):
        content.codes_from_bytes([b"\x00" * (content.DIMS * 2 - 2)])


def test_too_few_descriptors_learn_no_vocabulary_and_none_give_no_code():
    assert content.vocabulary_learn([np.zeros((3, 32), np.uint8)]) is None
    rng = np.random.default_rng(6)
    vocabulary = content.vocabulary_learn([rng.integers(0, 256, size=(100, 32), dtype=np.uint8)])
    assert vocabulary is not None
    assert content.content_code(np.zeros((0, 32), np.uint8), vocabulary) == b""


def test_a_list_holding_only_the_query_gives_it_no_neighbour(monkeypatch):
    monkeypatch.setattr(content, "LIST_SIZE", 1)
    monkeypatch.setattr(content, "PROBES", 1)
    codes = unit(np.eye(2, content.DIMS, dtype=np.float32))  # two codes, two lists, each probes its own

    found, _ = content.nearest(codes, np.array([0, 1]), k=2)

    assert (found == -1).all()
