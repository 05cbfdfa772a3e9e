"""The gate's shared lookup (hash blocks indexed in the database) misses no image within the radius."""

import random

import numpy as np
from django.db import connection

from dedupe.admission import nearby_ids, nearby_ids_scan
from dedupe.models import Asset, Fingerprint, Source


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for position in rng.sample(range(64), bits):
        value ^= 1 << position
    return value


def _signed(value: int) -> int:
    return int(np.array([value], dtype=np.uint64).view(np.int64)[0])


def test_the_index_finds_exactly_what_a_scan_of_every_hash_finds(db):
    rng = random.Random(7)
    source = Source.objects.create(slug="s", name="S")
    queries = [rng.getrandbits(64) for _ in range(20)]
    hashes = []
    for q in queries:  # near copies at every distance up to the radius and a bit beyond, in either hash
        hashes += [(_flip(q, d, rng), rng.getrandbits(64)) for d in range(0, 10)]
        hashes += [(rng.getrandbits(64), _flip(q, d, rng)) for d in (0, 3, 6, 7)]
    hashes += [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(2000)]
    hashes += [(q ^ 0xFFFF << 48, q) for q in queries[:3]]  # the top block, sign bit set
    assets = Asset.objects.bulk_create(
        Asset(source=source, origin_path=str(i), sha256=f"{i:064d}", byte_size=1, storage_name=str(i))
        for i in range(len(hashes))
    )
    Fingerprint.objects.bulk_create(
        Fingerprint(asset=a, phash=_signed(p), dhash=0, phash_zoom=_signed(z), phash256=b"", phash256_zoom=b"")
        for a, (p, z) in zip(assets, hashes, strict=True)
    )
    found_any = 0
    for q in queries:
        for radius in (4, 6, 8):
            zoom = _flip(q, 2, rng)
            indexed = nearby_ids(_signed(q), _signed(zoom), radius)
            scanned = nearby_ids_scan(_signed(q), _signed(zoom), radius)
            assert list(indexed) == list(scanned)
            found_any += len(indexed)
    assert found_any > 20 * 3 * 5  # the planted copies were there to find


def test_the_lookup_uses_the_block_indexes(db):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "EXPLAIN QUERY PLAN SELECT asset_id FROM dedupe_fingerprint WHERE ((phash >> 16) & 65535) IN (1, 2)"
            )
        else:
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN SELECT asset_id FROM dedupe_fingerprint WHERE ((phash >> 16) & 65535) IN (1, 2)")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "fingerprint_phash_block16" in plan, plan
