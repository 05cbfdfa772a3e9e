"""Partial copies: what the new per-asset features cost, how candidate generation grows, and
what verifying one pair costs.

    .venv/bin/python bench/partial.py [FOLDER] [--files N]

FOLDER holds JPEGs (default: builds one with ../shared/corpus/make_corpus.py --megapixels 12).
Per file, in one run on the same files: today's fingerprint (one reduced decode, hashes,
thumbnail), the same plus the mirror hashes and ORB features (`dedupe.sandbox._inspect`'s work),
and the naive imagehash calls. Candidate generation: same-property blocks over 100,000 and
1,000,000 assets with addresses drawn like an archive's (1-6 pictures a property), every asset new.
Verification: `dedupe.partial.relate` on each file against a crop of it and against another file.
"""

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()  # dedupe.partials sits beside the models

from dedupe import imaging, partial  # noqa: E402
from dedupe.partials import block_pairs  # noqa: E402


def decoded(data: bytes) -> Image.Image:
    probe = imaging.probe(io.BytesIO(data), max_pixels=200_000_000)
    return imaging.decode_upright(data, min_side=256, orientation=probe.orientation)


def per_file(files: list[Path]) -> dict[str, float]:
    blobs = [f.read_bytes() for f in files]
    timings = {}
    for name, work in {
        "today": lambda d: imaging.fingerprint(decoded(d), thumbnail_side=640),
        "with partial features": lambda d: (
            partial.local_features(im := decoded(d)) and imaging.fingerprint(im, thumbnail_side=640)
        ),
        "naive imagehash": lambda d: (
            imagehash.phash(Image.open(io.BytesIO(d))),
            imagehash.dhash(Image.open(io.BytesIO(d))),
        ),
    }.items():
        start = time.process_time()
        for data in blobs:
            work(data)
        timings[name] = (time.process_time() - start) / len(blobs)
    return timings


def archive_rows(n: int, rng: random.Random) -> list[tuple[int, str]]:
    rows, asset = [], 0
    while asset < n:
        number, street = rng.randrange(100, 10**6), rng.choice(["Figueroa St", "Temple Street", "Sunset Blvd"])
        for _ in range(rng.randint(1, 6)):
            rows.append((asset, f"{number} {street}, Los Angeles, CA"))
            asset += 1
    return rows[:n]


def candidate_growth() -> dict[int, tuple[float, int, float]]:
    out = {}
    for n in (100_000, 1_000_000):
        rows = archive_rows(n, random.Random(n))
        tracemalloc.start()
        start = time.perf_counter()
        pairs = block_pairs(rows, {a for a, _ in rows})
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[n] = (elapsed, len(pairs), peak / 2**20)
    return out


def verification(files: list[Path]) -> tuple[float, float]:
    feats = []
    for f in files:
        im = decoded(f.read_bytes())
        w, h = im.size
        crop = im.crop((int(w * 0.2), int(h * 0.1), int(w * 0.85), int(h * 0.8)))
        feats.append((partial.local_features(im), partial.local_features(crop)))
    times = []
    for k, (whole, crop) in enumerate(feats):
        for other in (crop, feats[(k + 1) % len(feats)][0]):
            start = time.perf_counter()
            partial.relate(other, whole)
            times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--files", type=int, default=12)
    args = parser.parse_args()
    folder = args.folder
    if folder is None:
        folder = Path(tempfile.mkdtemp()) / "corpus"
        subprocess.run(
            [sys.executable, str(ROOT.parent / "shared/corpus/make_corpus.py"), str(folder), "--originals",
             str(args.files), "--max-variants", "0", "--megapixels", "12", "--seed", "3"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    files = sorted(folder.rglob("*.jpg"))[: args.files]
    t = per_file(files)
    print(f"per file on {len(files)} JPEGs of {Image.open(files[0]).size}, CPU seconds:")
    for name, seconds in t.items():
        print(f"  {name:<24} {seconds * 1000:8.1f} ms")
    print(f"  ratio with features / today: {t['with partial features'] / t['today']:.2f}x")
    print(f"  naive imagehash / ours with features: {t['naive imagehash'] / t['with partial features']:.1f}x")
    growth = candidate_growth()
    for n, (elapsed, pairs, mib) in growth.items():
        print(f"candidate generation, {n:>9,} assets all new: {elapsed:6.2f} s, {pairs:,} pairs, peak {mib:,.0f} MiB")
    print(f"  growth 100k -> 1M: {growth[1_000_000][0] / growth[100_000][0]:.1f}x (linear would be 10x)")
    p50, p95 = verification(files)
    print(f"verification per pair (stored features): p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
