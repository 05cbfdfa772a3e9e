"""Partial copies: what the new per-asset features cost, how candidate generation grows, and
what verifying one pair costs.

    .venv/bin/python bench/partial.py [FOLDER] [--files N]

FOLDER holds JPEGs (default: builds one with ../shared/corpus/make_corpus.py --megapixels 12).
Per file, in one run on the same files: today's fingerprint (one reduced decode, hashes,
thumbnail), the same plus the mirror hashes and ORB features (`dedupe.sandbox._inspect`'s work),
and the naive imagehash calls. Candidate generation over 100,000 and 1,000,000 assets, every
asset new, as the scan does it: same-property blocks with addresses drawn like an archive's (1-6
pictures a property), one chunk of DEDUPE_PARTIAL_CHUNK new assets at a time (each chunk reads
every address), and the mirror-hash search with pHashes drawn as bench/search.py draws them (1 %
mirrored copies), in 2 processes; each size in a fresh process for its peak RSS. Verification:
`dedupe.partial.relate` on each file against a crop of it (a copy) and against another file (two
photographs: features fail, so the pixel fit is tried too).
"""

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()  # dedupe.partials sits beside the models

from multiprocessing import Pool  # noqa: E402

from django.conf import settings  # noqa: E402
from search import _random_masks, realistic  # noqa: E402  # bench/search.py: hashes drawn like real ones

from dedupe import imaging, partial  # noqa: E402
from dedupe.addresses import address_key  # noqa: E402
from dedupe.candidates import DEFAULT_NEAR_RADIUS  # noqa: E402
from dedupe.partials import block_pairs  # noqa: E402
from dedupe.search import pairs_within  # noqa: E402


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


def _search_part(args: tuple) -> int:
    hashes, queries = args
    return len(pairs_within(hashes, DEFAULT_NEAR_RADIUS, queries=queries)[0])


def _searched_in_two(hashes: np.ndarray) -> float:
    """Seconds to search every hash against all, in 2 processes as the scan's search chunks run."""
    start = time.perf_counter()
    with Pool(2) as pool:
        pool.map(_search_part, [(hashes, part) for part in np.array_split(np.arange(len(hashes)), 2)])
    return time.perf_counter() - start


def candidates_at(n: int, timed_chunks: int) -> dict[str, float]:
    """The scan's candidate generation for n new assets, one chunk of new assets at a time.

    Now: a chunk reads the pictures of its own assets' properties (an index on the address key,
    here a dict built once as the index is kept at import). Baseline, before: every chunk read every
    address; its chunks beyond `timed_chunks` are estimated from the timed ones (all cost alike).
    """
    rows = archive_rows(n, random.Random(n))
    size = settings.DEDUPE_PARTIAL_CHUNK
    chunks = [set(range(start, min(n, start + size))) for start in range(0, n, size)]
    start = time.perf_counter()
    for chunk in chunks[:timed_chunks]:
        block_pairs(rows, chunk)
    before_chunk = (time.perf_counter() - start) / min(timed_chunks, len(chunks))
    index: dict[str, list[tuple[int, str]]] = {}
    key_of = {}
    for asset, address in rows:
        key_of[asset] = address_key(address)
        index.setdefault(key_of[asset], []).append((asset, key_of[asset]))
    start, pairs = time.perf_counter(), 0
    for chunk in chunks:
        pairs += len(block_pairs([row for key in {key_of[a] for a in chunk} for row in index[key]], chunk))
    per_chunk = (time.perf_counter() - start) / len(chunks)
    rng = np.random.default_rng(n)
    phash = realistic(n, seed=4)
    zoom = phash ^ _random_masks(rng, rng.binomial(64, 0.08, n))  # a picture's centre: a few bits off it
    mirror = realistic(n, seed=5)  # mirror images of unrelated pictures: hashes like any others
    flipped = np.flatnonzero(rng.random(n) < 0.01)
    mirror[flipped] = phash[rng.integers(0, n, len(flipped))]  # mirrored copies of another asset
    # now: the hash search indexes pHash, centre and mirror hashes together; baseline: without mirror
    search_s = _searched_in_two(np.concatenate([phash, zoom]))
    with_mirror_s = _searched_in_two(np.concatenate([phash, zoom, mirror]))
    # before: each partial chunk searched its assets' two hashes against all 2n, indexing them all
    # again; two chunks timed, the rest estimated
    both = np.concatenate([phash, mirror])
    start = time.perf_counter()
    for first in (0, size):
        pairs_within(both, DEFAULT_NEAR_RADIUS, queries=np.r_[first : first + size, n + first : n + first + size])
    mirror_chunk = (time.perf_counter() - start) / 2
    return {
        "block_chunk_s": per_chunk, "chunks": len(chunks), "blocks_2_cores_s": per_chunk * len(chunks) / 2,
        "before_2_cores_s": before_chunk * len(chunks) / 2, "block_pairs": pairs, "search_s": search_s,
        "with_mirror_s": with_mirror_s, "mirror_chunks_2_cores_s": mirror_chunk * len(chunks) / 2,
        "peak_mib": max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        / 1024,
    }  # fmt: skip


def candidate_growth() -> dict[int, dict[str, float]]:
    """Each size in a fresh process, so that its peak RSS is its own."""
    out = {}
    for n, timed in ((100_000, 10), (1_000_000, 3)):
        code = (
            f"import json, sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import partial as b; "
            f"print(json.dumps(b.candidates_at({n}, {timed})))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out[n] = json.loads(done.stdout.splitlines()[-1])
    return out


def verification(files: list[Path]) -> dict[str, tuple[float, float]]:
    """p50 and p95 seconds of one pair: a copy (a crop), and two photographs."""
    feats = []
    for f in files:
        im = decoded(f.read_bytes())
        w, h = im.size
        crop = im.crop((int(w * 0.2), int(h * 0.1), int(w * 0.85), int(h * 0.8)))
        feats.append((partial.local_features(im), partial.local_features(crop)))
    times: dict[str, list[float]] = {"a copy": [], "two photographs": []}
    for k, (whole, crop) in enumerate(feats):
        for kind, other in (("a copy", crop), ("two photographs", feats[(k + 1) % len(feats)][0])):
            start = time.perf_counter()
            partial.relate(other, whole)
            times[kind].append(time.perf_counter() - start)
    return {kind: (float(np.percentile(t, 50)), float(np.percentile(t, 95))) for kind, t in times.items()}


def twelve_megapixel_files(folder: Path | None, count: int) -> list[Path]:
    """`count` 12 MP JPEGs from `folder`, or from a corpus of originals made for the run."""
    if folder is None:
        folder = Path(tempfile.mkdtemp()) / "corpus"
        subprocess.run(
            [sys.executable, str(ROOT.parent / "shared/corpus/make_corpus.py"), str(folder), "--originals",
             str(count), "--max-variants", "0", "--megapixels", "12", "--seed", "3"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return sorted(folder.rglob("*.jpg"))[:count]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--files", type=int, default=12)
    args = parser.parse_args()
    files = twelve_megapixel_files(args.folder, args.files)
    t = per_file(files)
    print(f"per file on {len(files)} JPEGs of {Image.open(files[0]).size}, CPU seconds:")
    for name, seconds in t.items():
        print(f"  {name:<24} {seconds * 1000:8.1f} ms")
    print(f"  ratio with features / today: {t['with partial features'] / t['today']:.2f}x")
    print(f"  naive imagehash / ours with features: {t['naive imagehash'] / t['with partial features']:.1f}x")
    growth = candidate_growth()
    for n, g in growth.items():
        saved = g["before_2_cores_s"] / g["blocks_2_cores_s"]
        added = g["with_mirror_s"] - g["search_s"]
        print(f"candidate generation, {n:>9,} assets all new, 2 cores: same-property blocks {g['chunks']} chunks "
              f"{g['blocks_2_cores_s']:.1f} s ({g['block_pairs']:,.0f} pairs; baseline, every address read per "
              f"chunk: {g['before_2_cores_s']:.0f} s, {saved:.0f}x); mirror images in the hash search: "
              f"{g['with_mirror_s']:.1f} s against {g['search_s']:.1f} s without them (+{added:.1f} s; baseline, "
              f"a mirror search per partial chunk: {g['mirror_chunks_2_cores_s']:.0f} s); peak RSS "
              f"{g['peak_mib']:,.0f} MiB")  # fmt: skip
    small, big = growth[100_000], growth[1_000_000]
    total = {n: g["blocks_2_cores_s"] + g["with_mirror_s"] - g["search_s"] for n, g in growth.items()}
    print(f"  growth 100k -> 1M: blocks {big['blocks_2_cores_s'] / small['blocks_2_cores_s']:.1f}x, hash search "
          f"with mirror images {big['with_mirror_s'] / small['with_mirror_s']:.1f}x, what partial copies add "
          f"{total[1_000_000] / total[100_000]:.1f}x (linear would be 10x)")  # fmt: skip
    for kind, (p50, p95) in verification(files).items():
        print(f"verification per pair (stored features), {kind}: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
