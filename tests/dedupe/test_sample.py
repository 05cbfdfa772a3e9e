"""The sample archive the demo imports: labelled, deterministic, with every kind of bad file."""

import csv
import hashlib
from itertools import combinations

import imagehash
from PIL import Image, ImageOps

from dedupe.sample import build_sample_archive


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_it_writes_a_manifest_the_import_reads(tmp_path):
    archive = build_sample_archive(tmp_path, originals=12, seed=4)

    manifest = rows(archive.manifest)
    assert list(manifest[0]) == ["path", "source", "record_id", "slot", "address", "captured_at"]
    missing = [r["path"] for r in manifest if not (tmp_path / r["path"]).is_file()]
    assert missing == ["images/housing-cases/missing-photo.jpg", "../outside.jpg"]
    slots = [(r["source"], r["record_id"], r["slot"]) for r in manifest]
    assert len(slots) == len(set(slots))
    assert archive.files == len(manifest) == len(rows(archive.truth))


def test_the_same_seed_gives_the_same_files(tmp_path):
    def digest(root):
        return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}

    build_sample_archive(tmp_path / "a", originals=6, seed=9)
    build_sample_archive(tmp_path / "b", originals=6, seed=9)

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_distinct_originals_look_distinct_to_a_perceptual_hash(tmp_path):
    archive = build_sample_archive(tmp_path, originals=16, seed=2, bad=False)
    originals = [r["path"] for r in rows(archive.truth) if r["transform"] == "original"]
    hashes = [imagehash.phash(Image.open(tmp_path / p)) for p in originals]

    assert min(a - b for a, b in combinations(hashes, 2)) > 12


def test_exif_rotated_copies_show_upright(tmp_path):
    archive = build_sample_archive(tmp_path, originals=40, seed=5, bad=False)
    truth = rows(archive.truth)
    original = {r["group"]: r["path"] for r in truth if r["transform"] == "original"}
    rotated = [r for r in truth if r["transform"] == "exif-rotated"]

    assert rotated
    for r in rotated:
        upright = ImageOps.exif_transpose(Image.open(tmp_path / r["path"]))
        assert imagehash.phash(upright) - imagehash.phash(Image.open(tmp_path / original[r["group"]])) <= 6


def test_every_bad_file_is_there_and_none_loads(tmp_path):
    build_sample_archive(tmp_path, originals=3, seed=1)
    bad = sorted((tmp_path / "images/housing-cases/bad").iterdir())

    assert [p.name for p in bad] == [
        "bomb.png", "corrupt-middle.jpg", "gateway-error.png", "scanned-form.jpg", "truncated.jpg", "zero-bytes.jpg",
    ]  # fmt: skip
    for path in bad:
        if path.name == "corrupt-middle.jpg":
            continue  # Pillow decodes it without a word: that is why the import checks JPEGs strictly
        try:
            Image.open(path).load()
        except (OSError, Image.DecompressionBombError):
            continue
        raise AssertionError(f"{path.name} loaded")
