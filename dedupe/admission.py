"""Admission: what an upload at the gate is, before anything of it is stored.

The gate answers at once, so the upload is hashed, decoded in the sandbox (the same allow-list,
header limits and memory/CPU caps as an import) and compared with the archive here, in the web
request. Nothing is written: `review.services.gate` decides with the source's policy and stores.
A byte copy is found by its SHA-256 without decoding; a pixel-identical copy by decoding both
fully, only when the hashes say the pictures are the same size and look the same.
"""

import hashlib
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from django.conf import settings
from django.db import connection

from . import imaging, sandbox
from .candidates import hash_table, near_radius, pair_evidence
from .inspection import decoder, header_limits
from .models import Asset, Fingerprint, Source
from .originals import original_open
from .scoring import EXACT, NEAR, PIXEL
from .search import distance, to_uint64

# The database index of hash blocks: four 16-bit blocks per 64-bit hash (see nearby_ids).
BLOCKS, BLOCK_BITS, BLOCK_MASK = 4, 16, 0xFFFF
# Matches listed per upload: a photo copied fifty times needs no fifty lines in every answer.
MAX_MATCHES = 20


class UploadRefused(ValueError):
    """The upload is not an image we accept (format, size, bomb, corrupt); the reason is for a person."""


@dataclass(frozen=True)
class Match:
    asset_id: int
    kind: str  # exact | pixel | near
    score: float
    facts: dict


@dataclass
class Examined:
    """An upload's bytes, what the sandbox read of them, and the archive's images it matches."""

    data: bytes
    sha256: str
    inspection: sandbox.Inspection | None  # None: a byte copy that was not decoded
    matches: list[Match] = field(default_factory=list)

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


def stored_copies(sha256: str) -> list[int]:
    """Ids of active images with these bytes that are not known unreadable, oldest first."""
    # Filtered here, not in SQL: with state or inspection in the WHERE, SQLite without fresh
    # statistics may walk the state index (every active image) instead of the SHA-256 one.
    same_bytes = Asset.objects.filter(sha256=sha256).order_by("pk").values_list("pk", "state", "inspection")
    usable = [pk for pk, state, inspection in same_bytes
              if state == Asset.State.ACTIVE and inspection != Asset.Inspection.UNREADABLE]  # fmt: skip
    return usable[:MAX_MATCHES]


def upload_examine(data: bytes, *, source: Source, decode_copies: bool = False) -> Examined:
    """Hash, decode and match an upload; `decode_copies` decodes a byte copy too (to store it anyway)."""
    if not data:
        raise UploadRefused("empty file")
    if len(data) > settings.DEDUPE_MAX_FILE_BYTES:
        raise UploadRefused(f"file too large: {len(data):,} bytes")
    sha256 = hashlib.sha256(data).hexdigest()
    copies = stored_copies(sha256)
    exact = [Match(pk, EXACT, 1.0, {"sha256": True}) for pk in copies]
    if exact and not decode_copies:
        return Examined(data, sha256, None, exact)
    nearby: list[np.ndarray] = []

    def look_up(_: int, prints: imaging.Prints) -> None:  # in the database while the sandbox makes the rest
        nearby.append(nearby_ids(prints.phash, prints.phash_zoom, near_radius()))

    answer = decoder().inspect(
        [(0, data)],
        limits=header_limits(),
        min_side=settings.DEDUPE_DECODE_SIDE,
        thumbnail_side=settings.DEDUPE_THUMBNAIL_SIZE,
        hashed=None if exact else look_up,
    )[0]
    if isinstance(answer, sandbox.Failure):
        raise UploadRefused(answer.reason)
    examined = Examined(data, sha256, answer, exact)
    if not exact:
        examined.matches = _similar(examined, source, nearby[0] if nearby else None)
    return examined


def upload_unsaved(examined: Examined, source: Source) -> tuple[Asset, Fingerprint]:
    """The upload as an unsaved asset and fingerprint, for weighing it against stored ones."""
    assert examined.inspection is not None
    probe, prints = examined.inspection.probe, examined.inspection.prints
    asset = Asset(source=source, sha256=examined.sha256, width=probe.width, height=probe.height)
    fingerprint = Fingerprint(
        phash=prints.phash, dhash=prints.dhash, phash_zoom=prints.phash_zoom, phash256=prints.phash256,
        phash256_zoom=prints.phash256_zoom, phash_mirror=prints.phash_mirror,
        phash256_mirror=prints.phash256_mirror, **examined.inspection.features.to_fields(),
    )  # fmt: skip
    return asset, fingerprint


def _similar(examined: Examined, source: Source, ids: np.ndarray | None = None) -> list[Match]:
    """Stored images within the near radius of the upload (`ids`, when looked up already), verified
    as a scan verifies a pair."""
    asset, fingerprint = upload_unsaved(examined, source)
    if ids is None:
        ids = nearby_ids(fingerprint.phash, fingerprint.phash_zoom, near_radius())
    if not len(ids):
        return []
    found = Asset.objects.select_related("source").in_bulk([int(i) for i in ids])  # by key only, as above
    others = {pk: a for pk, a in found.items() if a.state == Asset.State.ACTIVE}
    prints = Fingerprint.objects.in_bulk(list(others))
    matches = []
    for other_id, other in others.items():
        if other_id not in prints:
            continue
        evidence = pair_evidence(fingerprint, prints[other_id], asset, other)
        if evidence is None:
            continue
        kind, score = evidence.kind, evidence.score
        suspect = kind == NEAR and evidence.facts["phash"] == 0 and evidence.facts["same_dimensions"]
        if suspect and _same_pixels(examined.data, other, prints[other_id]):
            kind, score = PIXEL, 0.99
        matches.append(Match(other_id, kind, score, evidence.facts))
    matches.sort(key=lambda m: (m.kind != PIXEL, -m.score, m.asset_id))
    return matches[:MAX_MATCHES]


def nearby_ids(phash: int, phash_zoom: int, radius: int) -> np.ndarray:
    """Ids of images whose picture or centre hash is within `radius` of the upload's (either of them).

    Multi-index hashing in the database, so every web process and machine shares one index:
    each stored 64-bit hash is cut into four 16-bit blocks, each block indexed as an expression
    (migration review.0009_fingerprint_blocks). Two hashes within `radius` bits agree within
    radius // 4 bits on some block (pigeonhole), so looking up each block's value and its few
    neighbours finds every pair within the radius; the hits are then checked on all 64 bits.
    The caller still checks the image is active.
    """
    wanted = [int(x) for x in np.array([phash, phash_zoom], dtype=np.int64).view(np.uint64)]
    flips = _flips(radius // BLOCKS)
    selects, params = [], []
    for column in ("phash", "phash_zoom"):
        for block in range(BLOCKS):
            values = sorted({((q >> (block * BLOCK_BITS)) & BLOCK_MASK) ^ f for q in wanted for f in flips})
            selects.append(
                f"SELECT asset_id, phash, phash_zoom FROM {Fingerprint._meta.db_table}"  # noqa: S608
                f" WHERE (({column} >> {block * BLOCK_BITS}) & {BLOCK_MASK}) IN ({', '.join(['%s'] * len(values))})"
            )
            params.extend(values)
    # A union of one scan per block index, not one OR: each is then an index-only scan (the indexes
    # carry the hashes, migration review.0011), where an OR reads every hit's table page. An image
    # hit by several blocks comes back several times and is kept once. Only constant column
    # names and integers are spelled into the SQL; the block values are parameters.
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        rows = cursor.fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64)
    ids, stored_phash, stored_zoom = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return np.unique(_within(ids, to_uint64(stored_phash), to_uint64(stored_zoom), wanted, radius))


def nearby_ids_scan(phash: int, phash_zoom: int, radius: int) -> np.ndarray:
    """The same answer from every stored hash, read and compared: the reference (and the benchmark's baseline)."""
    table = hash_table(upto_asset=2**62)
    wanted = [int(x) for x in np.array([phash, phash_zoom], dtype=np.int64).view(np.uint64)]
    return _within(table.ids, table.phash, table.zoom, wanted, radius)


def _within(ids: np.ndarray, phashes: np.ndarray, zooms: np.ndarray, wanted: list[int], radius: int) -> np.ndarray:
    near = np.zeros(len(ids), dtype=bool)
    for stored in (phashes, zooms):
        for q in wanted:
            near |= distance(stored, np.full(len(stored), q, dtype=np.uint64)) <= radius
    return np.sort(ids[near])


def _flips(bits: int) -> list[int]:
    """Every 16-bit mask with at most `bits` bits set."""
    masks = [0]
    for k in range(1, bits + 1):
        masks.extend(sum(1 << i for i in positions) for positions in combinations(range(BLOCK_BITS), k))
    return masks


def _same_pixels(data: bytes, other: Asset, other_print: Fingerprint) -> bool:
    """Decode both pictures in full (only here and in a scan's verify phase) and compare pixels."""
    digests = decoder().pixel_digests([(0, data)], limits=header_limits())
    mine = digests.get(0)
    theirs = other_print.pixel_sha256
    if not theirs:
        try:
            with original_open(other) as f:  # stored, or at its source while it is the file imported
                stored = f.read()
        except OSError:
            return False
        answer = decoder().pixel_digests([(other.pk, stored)], limits=header_limits()).get(other.pk)
        theirs = answer if isinstance(answer, str) else ""
        if theirs:
            Fingerprint.objects.filter(asset_id=other.pk, pixel_sha256="").update(pixel_sha256=theirs)
    return isinstance(mine, str) and bool(theirs) and mine == theirs
