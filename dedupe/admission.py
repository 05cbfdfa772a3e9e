"""Admission: what an upload at the gate is, before anything of it is stored.

The gate answers at once, so the upload is hashed, decoded in the sandbox (the same allow-list,
header limits and memory/CPU caps as an import) and compared with the archive here, in the web
request. Nothing is written: `review.services.gate` decides with the source's policy and stores.
A byte copy is found by its SHA-256 without decoding; a pixel-identical copy by decoding both
fully, only when the hashes say the pictures are the same size and look the same.
"""

import hashlib
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from . import sandbox
from .candidates import hash_table, near_radius, pair_evidence
from .inspection import decoder, header_limits
from .models import Asset, Fingerprint, Source
from .scoring import EXACT, NEAR, PIXEL
from .search import distance

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


def stored_copies(sha256: str) -> list[Asset]:
    """Active images with these bytes that are not known unreadable, oldest first."""
    copies = Asset.objects.filter(sha256=sha256, state=Asset.State.ACTIVE).exclude(
        inspection=Asset.Inspection.UNREADABLE
    )
    return list(copies.order_by("pk")[:MAX_MATCHES])


def upload_examine(data: bytes, *, source: Source, decode_copies: bool = False) -> Examined:
    """Hash, decode and match an upload; `decode_copies` decodes a byte copy too (to store it anyway)."""
    if not data:
        raise UploadRefused("empty file")
    if len(data) > settings.DEDUPE_MAX_FILE_BYTES:
        raise UploadRefused(f"file too large: {len(data):,} bytes")
    sha256 = hashlib.sha256(data).hexdigest()
    copies = stored_copies(sha256)
    exact = [Match(c.pk, EXACT, 1.0, {"sha256": True}) for c in copies]
    if exact and not decode_copies:
        return Examined(data, sha256, None, exact)
    answer = decoder().inspect(
        [(0, data)],
        limits=header_limits(),
        min_side=settings.DEDUPE_DECODE_SIDE,
        thumbnail_side=settings.DEDUPE_THUMBNAIL_SIZE,
    )[0]
    if isinstance(answer, sandbox.Failure):
        raise UploadRefused(answer.reason)
    examined = Examined(data, sha256, answer, exact)
    if not exact:
        examined.matches = _similar(examined, source)
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


def _similar(examined: Examined, source: Source) -> list[Match]:
    """Stored images within the near radius of the upload, verified as a scan verifies a pair."""
    asset, fingerprint = upload_unsaved(examined, source)
    ids = nearby_ids(fingerprint.phash, fingerprint.phash_zoom, near_radius())
    if not len(ids):
        return []
    others = Asset.objects.select_related("source").in_bulk([int(i) for i in ids])
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
    """Ids of active images whose picture or centre hash is within `radius` of the upload's.

    A scan of every stored hash: exact, shared by every process through the database, and the
    cost the benchmark (bench/gate.py) measures an index against.
    """
    table = hash_table(upto_asset=2**62)
    if not len(table.ids):
        return table.ids
    query = np.array([phash, phash_zoom], dtype=np.int64).view(np.uint64)
    near = np.zeros(len(table.ids), dtype=bool)
    for stored in (table.phash, table.zoom):
        for q in query:
            near |= distance(stored, q) <= radius
    return table.ids[near]


def _same_pixels(data: bytes, other: Asset, other_print: Fingerprint) -> bool:
    """Decode both pictures in full (only here and in a scan's verify phase) and compare pixels."""
    digests = decoder().pixel_digests([(0, data)], limits=header_limits())
    mine = digests.get(0)
    theirs = other_print.pixel_sha256
    if not theirs:
        try:
            with default_storage.open(other.storage_name, "rb") as f:
                stored = f.read()
        except OSError:
            return False
        answer = decoder().pixel_digests([(other.pk, stored)], limits=header_limits()).get(other.pk)
        theirs = answer if isinstance(answer, str) else ""
        if theirs:
            Fingerprint.objects.filter(asset_id=other.pk, pixel_sha256="").update(pixel_sha256=theirs)
    return isinstance(mine, str) and bool(theirs) and mine == theirs
