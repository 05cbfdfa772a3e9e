"""Candidate search over a million 64-bit hashes: our multi-index hashing against FAISS.

    .venv/bin/python bench/search.py [--n 1000000] [--faiss-queries 100000] [--big 2500000]
    (FAISS is a benchmark-only dependency: pip install -r bench/requirements.txt)

Hashes are drawn like real ones: perturbed copies of pHashes of real photographs (the decoded
photos in ../shared/corpus/photos, or the sample generator's when that is absent), a few bits
flipped for near copies and many for unrelated pictures. Ours runs the way the scan runs it:
the new hashes cut into chunks, one process per core (2 here). The baseline is FAISS's exact
IndexBinaryFlat range search on 2 threads; it is timed on a slice of the queries (its cost is
exactly linear in them) and scaled up, and its pairs for that slice must equal ours.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedupe.search import pairs_within, plan_for  # noqa: E402

WORKERS = 2


def corpus_hashes() -> np.ndarray:
    """pHashes of windows of real photographs: thousands of distinct, realistically biased hashes."""
    import imagehash
    from PIL import Image

    from dedupe.imaging import hash_to_int

    photos = sorted((ROOT.parent / "shared" / "corpus" / "photos").glob("*.*"))
    images = [Image.open(p).convert("RGB") for p in photos if p.suffix in {".jpg", ".png"}]
    if not images:
        import random

        from dedupe.sample import draw_photo, random_scene

        rng = random.Random(1)
        images = [draw_photo(random_scene(rng), (640, 480), rng) for _ in range(30)]
    hashes = []
    for im in images:
        im.thumbnail((512, 512))
        w, h = im.size
        for scale in (1.0, 0.7, 0.5, 0.35):
            cw, ch = int(w * scale), int(h * scale)
            for fx in np.linspace(0, 1, 8):
                for fy in np.linspace(0, 1, 6):
                    x, y = int((w - cw) * fx), int((h - ch) * fy)
                    hashes.append(hash_to_int(imagehash.phash(im.crop((x, y, x + cw, y + ch)))))
    return np.unique(np.array(hashes, dtype=np.int64).view(np.uint64))


def realistic(n: int, seed: int = 1) -> np.ndarray:
    """Unrelated pictures a few bits off real hashes, and 5% near copies (0-4 bits) of them."""
    rng = np.random.default_rng(seed)
    base = corpus_hashes()
    hashes = base[rng.integers(0, len(base), n)] ^ _random_masks(rng, rng.binomial(64, 0.2, n))
    copies = np.flatnonzero(rng.random(n) < 0.05)
    originals = rng.integers(0, n, len(copies))
    hashes[copies] = hashes[originals] ^ _random_masks(rng, rng.integers(0, 5, len(copies)))
    return hashes


def _random_masks(rng: np.random.Generator, flips: np.ndarray) -> np.ndarray:
    """One mask per entry with about `flips` random bits set."""
    masks = np.zeros(len(flips), dtype=np.uint64)
    for bit in range(64):
        chosen = rng.random(len(flips)) < flips / 64
        masks[chosen] |= np.uint64(1) << np.uint64(bit)
    return masks


def _chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    hashes, radius, queries = args
    i, j, _ = pairs_within(hashes, radius, queries=queries)
    return i, j


def ours(hashes: np.ndarray, radius: int, queries: np.ndarray | None = None) -> tuple[set, float]:
    queries = np.arange(len(hashes)) if queries is None else queries
    parts = np.array_split(queries, WORKERS)
    started = time.perf_counter()
    with Pool(WORKERS) as pool:
        results = pool.map(_chunk, [(hashes, radius, part) for part in parts])
    seconds = time.perf_counter() - started
    pairs = set()
    for i, j in results:
        pairs.update(zip(i.tolist(), j.tolist(), strict=True))
    return pairs, seconds


def faiss_flat(hashes: np.ndarray, radius: int, queries: np.ndarray) -> tuple[set, float]:
    import faiss

    faiss.omp_set_num_threads(WORKERS)
    codes = hashes.view(np.uint8).reshape(-1, 8)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    started = time.perf_counter()
    lims, _, labels = index.range_search(codes[queries], radius + 1)  # FAISS's radius is exclusive
    seconds = time.perf_counter() - started
    pairs = set()
    for k, q in enumerate(queries.tolist()):
        for j in labels[lims[k] : lims[k + 1]].tolist():
            if j != q:
                pairs.add((min(q, j), max(q, j)))
    return pairs, seconds


def big_run_memory(n: int, radius: int) -> None:
    """In a fresh process: search n hashes, report seconds and peak RSS."""
    code = (
        f"import sys, time, resource; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        f"from search import realistic; from dedupe.search import pairs_within\n"
        f"h = realistic({n}, seed=3); t = time.perf_counter(); i, j, d = pairs_within(h, {radius})\n"
        f"print(len(i), time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    print(f"{n:,} hashes, radius {radius}, one process: {int(out[0]):,} pairs in {float(out[1]):.1f} s, "
          f"peak RSS {int(out[2]) / 1024:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--faiss-queries", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=2_500_000)
    parser.add_argument("--radii", type=int, nargs="+", default=[6, 8])
    args = parser.parse_args()
    hashes = realistic(args.n)
    print(f"{args.n:,} hashes drawn like real pHashes; {WORKERS} processes / threads")
    for radius in args.radii:
        pairs, seconds = ours(hashes, radius)
        sample = np.sort(np.random.default_rng(radius).choice(args.n, args.faiss_queries, replace=False))
        theirs, faiss_seconds = faiss_flat(hashes, radius, sample)
        in_slice = set(sample.tolist())
        mine = {p for p in pairs if p[0] in in_slice or p[1] in in_slice}
        scaled = faiss_seconds * args.n / args.faiss_queries
        assert mine == theirs, f"radius {radius}: ours {len(mine)} pairs on the slice, FAISS {len(theirs)}"
        plan = plan_for(radius, args.n)
        print(f"radius {radius}: ours {len(pairs):,} pairs in {seconds:.1f} s (blocks {plan.blocks}, "
              f"sub-radius {plan.sub_radius}); FAISS IndexBinaryFlat {faiss_seconds:.1f} s for "
              f"{args.faiss_queries:,} queries = {scaled:.0f} s for all; ratio {scaled / seconds:.1f}x; "
              f"pairs on the slice identical ({len(theirs):,})")  # fmt: skip
    if args.big:
        big_run_memory(args.big, max(args.radii))
    print(f"(this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
