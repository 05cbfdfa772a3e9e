"""Partial copies by content: what a content code adds per file, and how the content search grows.

    .venv/bin/python bench/content.py [FOLDER] [--files N] [--sizes 100000,1000000]

FOLDER holds JPEGs (default: builds one with ../shared/corpus/make_corpus.py --megapixels 12).
Per file, in one run on the same files: bench/partial.py's figures (today's fingerprint; the same
plus mirror hashes and ORB features, what inspection does now; the naive imagehash calls) and the
content code computed from the stored descriptors (`dedupe.content.content_code`, in the search
phase; no decode). Candidate generation: every asset new, as a scan's partial chunks run it on 2
cores: each of 2 worker processes loads the codes, builds the inverted file once and finds the 5
nearest of its half of the assets. Codes are drawn like real ones: the stored codes of
make_corpus.py's 300-original corpus (seed 11) have per-dimension variances falling as d^-0.84
and unrelated pairs at cosine p50 -0.03, p95 0.44, p99 0.65; copies are their photograph's code
plus noise of the same shape (cosine 0.45-0.97, as measured for true pairs), 1-4 copies for a
third of the photographs. Each size in a fresh process, for its peak RSS.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dedupe import content  # noqa: E402

SPECTRUM = np.arange(1, content.DIMS + 1, dtype=np.float32) ** -0.84


def drawn_codes(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """n unit codes like stored ones, and for each the position of the photograph it copies (-1: none)."""
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(n, content.DIMS)).astype(np.float32) * np.sqrt(SPECTRUM)
    copy_of = np.full(n, -1, np.int64)
    pos = 0
    while pos < n:
        copies = int(rng.integers(1, 5)) if rng.random() < 1 / 3 else 0
        for c in range(1, min(copies, n - pos - 1) + 1):
            noise = rng.normal(size=content.DIMS).astype(np.float32) * np.sqrt(SPECTRUM) * rng.uniform(0.25, 1.1)
            codes[pos + c] = codes[pos] + noise
            copy_of[pos + c] = pos
        pos += 1 + copies
    return codes / np.linalg.norm(codes, axis=1, keepdims=True), copy_of


def _half(args: tuple) -> tuple[float, np.ndarray]:
    codes, queries = args
    start = time.perf_counter()
    found, _ = content.InvertedFile(codes).nearest(queries)
    return time.perf_counter() - start, found


def search_at(n: int) -> dict[str, float]:
    codes, copy_of = drawn_codes(n)
    start = time.perf_counter()
    with Pool(2) as pool:
        halves = pool.map(_half, [(codes, q) for q in np.array_split(np.arange(n), 2)])
    wall = time.perf_counter() - start
    found = np.concatenate([h[1] for h in halves])
    copies = np.flatnonzero(copy_of >= 0)
    hit = (found[copies] == copy_of[copies, None]).any(axis=1)
    # exact top 5 of 1,000 copies, 50 at a time (bounded memory), for what the inverted file loses
    sample = copies[:: max(1, len(copies) // 1_000)]
    exact_hit = np.zeros(len(sample), bool)
    for lo in range(0, len(sample), 50):
        part = sample[lo : lo + 50]
        sims = codes[part] @ codes.T
        sims[np.arange(len(part)), part] = -np.inf
        exact = np.argpartition(-sims, 4, axis=1)[:, :5]
        exact_hit[lo : lo + 50] = (exact == copy_of[part, None]).any(axis=1)
    return {
        "wall_2_cores_s": wall,
        "build_and_search_per_process_s": max(h[0] for h in halves),
        "copies_found_in_top5": float(hit.mean()),
        "copies_in_exact_top5_sample": float(exact_hit.mean()),
        "copies_found_in_top5_sample": float(hit[np.searchsorted(copies, sample)].mean()),
        "codes_mib": codes.nbytes / 2**20,
        "peak_mib": max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        / 1024,
    }


def per_file_with_code(files: list[Path]) -> dict[str, float]:
    """bench/partial.py's per-file figures and the content code's CPU seconds per file."""
    import partial as partial_bench  # bench/partial.py (sets up Django)

    from dedupe import partial

    t = partial_bench.per_file(files)
    descriptors = [partial.local_features(partial_bench.decoded(f.read_bytes())).descriptors for f in files]
    vocabulary = content.vocabulary_learn(descriptors)
    assert vocabulary is not None
    start = time.process_time()
    for _ in range(5):
        for d in descriptors:
            content.content_code(d, vocabulary)
    t["content code"] = (time.process_time() - start) / (5 * len(files))
    return t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--skip-files", action="store_true")
    args = parser.parse_args()
    if not args.skip_files:
        import partial as partial_bench  # bench/partial.py (sets up Django)

        files = partial_bench.twelve_megapixel_files(args.folder, args.files)
        t = per_file_with_code(files)
        everything = t["with partial features"] + t["content code"]
        print(f"per file on {len(files)} JPEGs, CPU ms: today {t['today'] * 1000:.1f}, with features "
              f"{t['with partial features'] * 1000:.1f}, content code {t['content code'] * 1000:.2f}, naive imagehash "
              f"{t['naive imagehash'] * 1000:.1f}")  # fmt: skip
        print(f"  everything an asset needs / today: {everything / t['today']:.2f}x (limit 2.5x); naive imagehash / "
              f"everything: {t['naive imagehash'] / everything:.1f}x (at least 4x)")  # fmt: skip
    results = {}
    for n in (int(s) for s in args.sizes.split(",")):
        code = (
            f"import json, sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import content as b; "
            f"print(json.dumps(b.search_at({n})))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        results[n] = r = json.loads(done.stdout.splitlines()[-1])
        print(f"content search, {n:>9,} assets all new, 2 processes: {r['wall_2_cores_s']:.1f} s wall "
              f"(one process's build and search {r['build_and_search_per_process_s']:.1f} s); copies in the top 5: "
              f"{r['copies_found_in_top5']:.3f} (exact search on a sample: {r['copies_in_exact_top5_sample']:.3f}, "
              f"inverted file on it: {r['copies_found_in_top5_sample']:.3f}); codes {r['codes_mib']:.0f} MiB, "
              f"peak RSS {r['peak_mib']:,.0f} MiB")  # fmt: skip
    sizes = sorted(results)
    if len(sizes) > 1:
        small, big = results[sizes[0]], results[sizes[-1]]
        print(f"  growth {sizes[0]:,} -> {sizes[-1]:,}: {big['wall_2_cores_s'] / small['wall_2_cores_s']:.1f}x "
              f"(linear would be {sizes[-1] / sizes[0]:.0f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
