"""The gate's server time against a large archive, and its shared lookup against a scan, in one run.

    .venv/bin/python bench/gate.py [--hashes 1000000] [--uploads 40] [--queries 100]

Builds a fresh database (SQLite in a temporary folder, or DATABASE_URL's PostgreSQL, emptied) holding
`--hashes` fingerprinted images (random 64-bit hashes, plus near copies of the queries planted at
distances 0-8), then:

1. the lookup: for `--queries` hashes, the database's block index (dedupe.admission.nearby_ids)
   against reading and comparing every stored hash (nearby_ids_scan), same answers required;
2. the gate: `--uploads` distinct 12 MP JPEGs through POST /api/v1/sources/{source}/images, in
   process with Django's test client (routing, token, sandboxed decode at reduced scale, lookup,
   storing the bytes, thumbnail and rows, audit event), p50 / p95 server time; once as drawn
   (smooth, about 1.2 MB) and once with a camera's grain (about 3.3 MB, as real photographs are).
"""

import argparse
import gc
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serverbench import p95, setup_django  # noqa: E402

BATCH = 20_000  # rows per INSERT round trip: large enough that the round trips are not the cost
RADIUS = 6
GRAIN = 8  # sensor noise, standard deviation in levels of 255: a 12 MP JPEG at quality 90 of about 3.3 MB
SMOOTH, GRAINY = "12 MP smooth", "12 MP grainy"


def signed(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64).view(np.int64)


def fill(n: int, queries: np.ndarray, rng: np.random.Generator) -> None:
    """n assets with fingerprints; the first rows are near copies of the queries."""
    from django.db import connection, transaction

    from dedupe.models import Source

    source = Source.objects.create(slug="assessor", name="Assessor")
    planted = [q ^ _mask(d, rng) for q in queries for d in range(0, 9)]
    phash = np.concatenate([np.array(planted, dtype=np.uint64), rng.integers(0, 2**64, n, dtype=np.uint64)])[:n]
    zoom = rng.integers(0, 2**64, n, dtype=np.uint64)
    blank = b"\0" * 32
    with connection.cursor() as cursor, transaction.atomic():
        for start in range(0, n, BATCH):
            rows = range(start, min(n, start + BATCH))
            cursor.executemany(
                "INSERT INTO dedupe_asset (id, source_id, origin_path, sha256, byte_size, storage_name, origin_root,"
                " origin_etag, origin_moved_to, source_drift, format, content_pixels, state, inspection,"
                " unreadable_reason, thumbnail_name, imported_at)"
                " VALUES (%s, %s, %s, %s, 1000, '', '', '', '', '', 'JPEG', NULL, 'active', 'readable', '', '',"
                " CURRENT_TIMESTAMP)",
                [(i + 1, source.pk, f"p/{i}", f"{i:064x}") for i in rows],
            )
            cursor.executemany(
                "INSERT INTO dedupe_fingerprint (asset_id, phash, dhash, phash_zoom, phash256, phash256_zoom,"
                " pixel_sha256, phash256_mirror, feature_width, feature_height, keypoints, descriptors, grey,"
                " grey_width, chroma, content_code, searched, computed_at)"
                " VALUES (%s, %s, 0, %s, %s, %s, '', %s, 0, 0, %s, %s, %s, 0, %s, %s, TRUE, CURRENT_TIMESTAMP)",
                [(i + 1, int(signed(phash[i : i + 1])[0]), int(signed(zoom[i : i + 1])[0]), blank, blank, b"", b"",
                  b"", b"", b"", b"") for i in rows],
            )  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval('dedupe_asset_id_seq', %s)", [n + 1])
            cursor.execute("VACUUM ANALYZE")  # as autovacuum leaves a settled table: index-only scans work
            cursor.execute("CHECKPOINT")  # the fill's gigabyte is written out now, not while uploads are timed
    else:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the same for SQLite's write-ahead log


def _mask(bits: int, rng: np.random.Generator) -> np.uint64:
    mask = 0
    for position in rng.choice(64, size=bits, replace=False):
        mask |= 1 << int(position)
    return np.uint64(mask)


def lookups(queries: np.ndarray) -> dict[str, list[float]]:
    from dedupe.admission import nearby_ids, nearby_ids_scan

    times: dict[str, list[float]] = {"lookup: block index": [], "lookup: scan of all": []}
    for q in queries:
        args = (int(signed(np.array([q]))[0]), int(signed(np.array([q ^ np.uint64(0xFF)]))[0]), RADIUS)
        start = time.perf_counter()
        indexed = nearby_ids(*args)
        times["lookup: block index"].append(time.perf_counter() - start)
        if len(times["lookup: scan of all"]) < 10:  # about a second each at a million: ten are enough
            start = time.perf_counter()
            scanned = nearby_ids_scan(*args)
            times["lookup: scan of all"].append(time.perf_counter() - start)
            assert list(indexed) == list(scanned), "the index missed or added an image"
        assert len(indexed) >= 7, len(indexed)  # the planted copies within the radius
    return times


def camera_like(im: Image.Image, noise: np.ndarray, shift: int) -> Image.Image:
    """The picture with a camera sensor's grain: real 12 MP JPEGs are 3-5 MB, not the 1.2 MB of a
    smooth drawn one, and decoding at reduced scale still reads every coded byte."""
    grainy = np.asarray(im, dtype=np.int16) + np.roll(noise, shift, axis=1)
    return Image.fromarray(np.clip(grainy, 0, 255).astype(np.uint8))


def uploads(count: int) -> dict[str, list[float]]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from review.services.api_tokens import api_token_create
    from tests.factories import photo

    # A tablet fleet's rate, not one tablet's: the bench sends both sets within a minute or two.
    _, secret = api_token_create(name="bench", sources=["assessor"], actor_name="bench", requests_per_minute=10_000)
    noise = np.random.default_rng(5).normal(0, GRAIN, (3000, 4000, 3)).astype(np.int16)
    sets: dict[str, list[bytes]] = {}
    for seed in range(count + 3):  # the first three of each set start the sandbox and warm the caches
        grainy = camera_like(photo(10_000 + seed, (4000, 3000)), noise, seed * 97)  # another picture: no match
        for name, im in ((SMOOTH, photo(seed, (4000, 3000))), (GRAINY, grainy)):  # 12 MP
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            sets.setdefault(name, []).append(buf.getvalue())
    client, headers = Client(), {"Authorization": f"Bearer {secret}"}
    times: dict[str, list[float]] = {}
    for name, files in sets.items():
        print(f"{name}: {statistics.mean(len(f) for f in files) / 1e6:.1f} MB on average")
        for n, data in enumerate(files):
            body = {"record_id": f"{name[:2]}-{n}", "file": SimpleUploadedFile("p.jpg", data)}
            start = time.perf_counter()
            response = client.post("/api/v1/sources/assessor/images", body, headers=headers)
            elapsed = time.perf_counter() - start
            assert response.status_code in (200, 201), response.content[:500]
            if n >= 3:
                times.setdefault(f"gate: {name}", []).append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    queries = rng.integers(0, 2**64, args.queries, dtype=np.uint64)
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir)
        from django.db import connection

        start = time.perf_counter()
        fill(args.hashes, queries, rng)
        print(
            f"{connection.vendor}; {args.hashes:,} fingerprinted images stored in {time.perf_counter() - start:.0f} s"
        )
        gc.freeze()  # as config/wsgi.py does once the site is loaded, before it serves
        times = lookups(queries) | uploads(args.uploads)
    print(f"{'':<22}{'p50 ms':>9}{'p95 ms':>9}{'n':>6}")
    for name, values in times.items():
        print(f"{name:<22}{statistics.median(values) * 1000:>9.1f}{p95(values) * 1000:>9.1f}{len(values):>6}")
    index, scan = times["lookup: block index"], times["lookup: scan of all"]
    print(f"scan / index (p50): {statistics.median(scan) / statistics.median(index):.0f}x; answers identical")


if __name__ == "__main__":
    random.seed(11)
    main()
