"""Candidates: turn hash matches into evidence-carrying pairs, verify pixels, keep groups current.

Defaults were chosen by measurement on make_corpus.py --originals 1000 --seed 11 (README,
"Accuracy"): a pHash radius of 6 over trimmed pictures and their centres finds 99.95% of the
true pairs; a 256-bit pHash distance of at most 44 over the best alignment keeps every one of
them and drops every look-alike.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from . import overlay, partial
from .actions import Action, Subject
from .addresses import address_conflict
from .audit import audit_record
from .inspection import decoder, header_limits, stored_bytes
from .models import Asset, Attachment, Candidate, CandidateGroup, Fingerprint, ScanRun, Source
from .scoring import KIND_ORDER, Evidence, components, weigh
from .search import pairs_within, to_uint64

DEFAULT_NEAR_RADIUS = 6
DEFAULT_VERIFY_RADIUS = 44


Pair = tuple[int, int]


@dataclass(frozen=True)
class HashTable:
    """Every searchable asset's 64-bit hashes, position-aligned: what a search chunk needs."""

    ids: np.ndarray  # int64 asset ids, ascending
    phash: np.ndarray  # uint64
    zoom: np.ndarray  # uint64
    mirror: np.ndarray  # uint64, of the mirror image; meaningful where has_mirror
    has_mirror: np.ndarray  # bool: assets inspected before mirror hashes were kept have none
    new: np.ndarray  # positions of the assets not searched before


def hash_table(upto_asset: int) -> HashTable:
    rows = (
        Fingerprint.objects.filter(asset_id__lte=upto_asset, asset__state=Asset.State.ACTIVE)
        .order_by("asset_id")
        .values_list("asset_id", "phash", "phash_zoom", "phash_mirror", "searched")
    )
    ids, phash, zoom, mirror, searched = (list(col) for col in zip(*rows, strict=True)) if rows else ([],) * 5
    has_mirror = np.array([m is not None for m in mirror], dtype=bool)
    return HashTable(
        ids=np.asarray(ids, dtype=np.int64),
        phash=to_uint64(np.asarray(phash, dtype=np.int64)),
        zoom=to_uint64(np.asarray(zoom, dtype=np.int64)),
        mirror=to_uint64(np.asarray([m or 0 for m in mirror], dtype=np.int64)),
        has_mirror=has_mirror,
        new=np.flatnonzero(~np.asarray(searched, dtype=bool)),
    )


def matching_pairs(table: HashTable, queries: np.ndarray, radius: int) -> tuple[set[Pair], set[Pair]]:
    """Asset id pairs whose pictures, or a picture and the other's centre, are within `radius`; and
    pairs where one's picture is within the default near radius of the other's mirror image.

    One index holds all three hashes, so a search chunk loads and indexes the archive once for
    both; searched apart, the mirror images cost a full index per partial-copy chunk.
    """
    n = len(table.ids)
    every = np.concatenate([table.phash, table.zoom, table.mirror])
    i, j, d = pairs_within(every, radius, queries=np.concatenate([queries, queries + n, queries + 2 * n]))
    a, b, ki, kj = table.ids[i % n], table.ids[j % n], i // n, j // n
    near = (ki < 2) & (kj < 2) & (a != b)
    flipped = (np.minimum(ki, kj) == 0) & (np.maximum(ki, kj) == 2) & (d <= DEFAULT_NEAR_RADIUS) & (a != b)
    flipped &= table.has_mirror[np.where(ki == 2, i, j) % n]
    return _ordered(a[near], b[near]), _ordered(a[flipped], b[flipped])


def _ordered(a: np.ndarray, b: np.ndarray) -> set[Pair]:
    return {(int(x), int(y)) if x < y else (int(y), int(x)) for x, y in zip(a, b, strict=True)}


def candidates_record(
    scan: ScanRun | None, pairs: Iterable[tuple[int, int]], *, actor_name: str = "system:scan"
) -> int:
    """Verify `pairs` and upsert the survivors; decided pairs are never reopened. Returns rows added.

    `scan` is None for pairs the gate opens for an upload (`actor_name` then names the token).
    """
    pairs = sorted(pairs)
    if not pairs:
        return 0
    ids = {x for pair in pairs for x in pair}
    assets = Asset.objects.select_related("source").in_bulk(ids)
    prints = Fingerprint.objects.in_bulk(ids)
    addresses = addresses_of(ids)
    rows = []
    for a_id, b_id in pairs:
        a, b = assets[a_id], assets[b_id]
        evidence = pair_evidence(prints[a_id], prints[b_id], a, b)
        if evidence is None:
            continue
        rows.append(
            Candidate(
                asset_a=a, asset_b=b, kind=evidence.kind, score=evidence.score, evidence=evidence.facts,
                address_conflict=addresses_conflict(addresses.get(a_id, set()), addresses.get(b_id, set())),
                cross_source=a.source_id != b.source_id, found_by=scan,
            )
        )  # fmt: skip
    with transaction.atomic():
        known = set(Candidate.objects.filter(asset_a__in=ids, asset_b__in=ids).values_list("asset_a", "asset_b"))
        rows = [row for row in rows if (row.asset_a_id, row.asset_b_id) not in known]
        for row in rows:
            row.priority = row.queue_priority()  # bulk_create does not call save()
        Candidate.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)  # a racing chunk may win
        if rows:
            audit_record(
                action=Action.CANDIDATES_FOUND,
                actor_name=actor_name,
                subjects=[*([(Subject.SCAN, scan.pk)] if scan else []), *((Subject.ASSET, x) for x in sorted(ids))],
                after={"pairs_checked": len(pairs), "added": len(rows)},
            )
    return len(rows)


def pair_evidence(fa: Fingerprint, fb: Fingerprint, a: Asset, b: Asset) -> Evidence | None:
    """The pair's evidence, or None when a near pair fails its sources' radii or its pixels disagree.

    `a` and `b` need their `source`; they may be unsaved (the gate weighs an upload before storing it).
    """
    evidence = weigh(fa, fb, a, b)
    if evidence.kind == Candidate.Kind.NEAR and not _within_radii(evidence.facts, a.source, b.source):
        return None
    if evidence.kind == Candidate.Kind.NEAR and _pixels_disagree(evidence.facts, fa, fb):
        return None
    return evidence


def _within_radii(facts: dict, a: Source, b: Source) -> bool:
    """A near pair must pass the stricter of its two sources' radii (the search used the widest)."""
    near = min(_radius(a.near_radius, DEFAULT_NEAR_RADIUS), _radius(b.near_radius, DEFAULT_NEAR_RADIUS))
    verify = min(_radius(a.verify_radius, DEFAULT_VERIFY_RADIUS), _radius(b.verify_radius, DEFAULT_VERIFY_RADIUS))
    return bool(min(facts["phash"], facts["phash_zoom"]) <= near and facts["phash256"] <= verify)


def _pixels_disagree(facts: dict, fa: Fingerprint, fb: Fingerprint) -> bool:
    """A near pair whose whole frames, laid over each other, differ in a large part (after-change)."""
    if facts["alignment"] != "picture" or not (fa.grey and fb.grey):
        return False
    return overlay.whole_frames_disagree(features_of(fa), features_of(fb))


def _radius(configured: int | None, default: int) -> int:
    return default if configured is None else configured


def near_radius() -> int:
    """The search radius: the widest any source asks for, so no source's pairs go unseen."""
    configured = Source.objects.exclude(near_radius=None).values_list("near_radius", flat=True)
    return max([DEFAULT_NEAR_RADIUS, *(radius for radius in configured if radius is not None)])


def addresses_of(asset_ids: set[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    shown = Attachment.objects.filter(asset_id__in=asset_ids).values_list("asset_id", "record__address")
    for asset_id, address in shown:
        if address.strip():
            found.setdefault(asset_id, set()).add(address)
    return found


def addresses_conflict(a: set[str], b: set[str]) -> bool:
    """Shown on records of different properties (not only spelled differently): likely one attachment is wrong."""
    return address_conflict(a, b) is not None


def features_of(f: Fingerprint) -> partial.Features:
    """An asset's stored local features as arrays."""
    return partial.features_from_fields(
        feature_width=f.feature_width, feature_height=f.feature_height, keypoints=bytes(f.keypoints),
        descriptors=bytes(f.descriptors), grey=bytes(f.grey), grey_width=f.grey_width, chroma=bytes(f.chroma),
    )  # fmt: skip


def pixel_suspects(scan: ScanRun) -> list[int]:
    """Assets in near pairs whose hashes are identical and dimensions agree: only these are decoded in full."""
    pairs = Candidate.objects.filter(found_by=scan, kind=Candidate.Kind.NEAR, evidence__phash=0)
    ids: set[int] = set()
    for a, b, same_size in pairs.values_list("asset_a", "asset_b", "evidence__same_dimensions"):
        if same_size:
            ids.update((a, b))
    return sorted(Fingerprint.objects.filter(asset_id__in=ids, pixel_sha256="").values_list("asset_id", flat=True))


def pixels_verify(asset_ids: Sequence[int]) -> None:
    """Fill in pixel hashes, then promote near pairs whose pixels turn out identical."""
    assets = Asset.objects.filter(pk__in=asset_ids, fingerprint__pixel_sha256="")
    items, _ = stored_bytes(assets)  # the unreadable are simply not promoted
    for asset_id, digest in decoder().pixel_digests(items, limits=header_limits()).items():
        if isinstance(digest, str):
            Fingerprint.objects.filter(asset_id=asset_id).update(pixel_sha256=digest)
    with transaction.atomic():
        promoted = []
        near = Candidate.objects.select_for_update().filter(kind=Candidate.Kind.NEAR, evidence__phash=0)
        for candidate in near.filter(asset_a__in=asset_ids) | near.filter(asset_b__in=asset_ids):
            prints = Fingerprint.objects.in_bulk([candidate.asset_a_id, candidate.asset_b_id])
            pa, pb = prints[candidate.asset_a_id].pixel_sha256, prints[candidate.asset_b_id].pixel_sha256
            if pa and pa == pb:
                candidate.kind, candidate.score = Candidate.Kind.PIXEL, 0.99
                candidate.evidence = candidate.evidence | {"pixels": True}
                promoted.append(candidate)
        if promoted:
            Candidate.objects.bulk_update(promoted, ["kind", "score", "evidence"])
            audit_record(
                action=Action.CANDIDATES_PIXEL_IDENTICAL,
                actor_name="system:scan",
                subjects=[(Subject.CANDIDATE, c.pk) for c in promoted],
                after={"promoted": len(promoted)},
            )


def groups_rebuild() -> int:
    """Recompute the connected components of open candidates; a group keeps its id while it lasts."""
    rows = list(Candidate.objects.filter(status=Candidate.Status.OPEN).values_list("pk", "asset_a", "asset_b", "group"))
    if not rows:
        CandidateGroup.objects.filter(candidates__isnull=True).delete()
        return 0
    members = [[rows[i] for i in positions] for positions in components([(a, b) for _, a, b, _ in rows])]
    with transaction.atomic():
        return _assign_groups(members)


def _assign_groups(members: list[list[tuple]]) -> int:
    claimed: set[int] = set()
    for comp_rows in members:
        existing = sorted({r[3] for r in comp_rows if r[3] is not None} - claimed)
        group_id = existing[0] if existing else CandidateGroup.objects.create(best_kind="near").pk
        claimed.add(group_id)
        Candidate.objects.filter(pk__in=[r[0] for r in comp_rows if r[3] != group_id]).update(group_id=group_id)
    _summarise_groups(claimed)
    CandidateGroup.objects.exclude(pk__in=claimed).filter(candidates__isnull=True).delete()
    CandidateGroup.objects.exclude(pk__in=claimed).exclude(size=0).update(size=0)  # all decided
    return len(claimed)


def _summarise_groups(group_ids: set[int]) -> None:
    groups = CandidateGroup.objects.in_bulk(group_ids)
    for group in groups.values():
        group.size, group.best_kind, group.best_score = 0, Candidate.Kind.NEAR, 0.0
        group.address_conflict = group.cross_source = False
    members: dict[int, set[int]] = {}
    open_ = Candidate.objects.filter(group_id__in=group_ids, status=Candidate.Status.OPEN)
    for gid, a, b, kind, score, conflict, cross in open_.values_list(
        "group", "asset_a", "asset_b", "kind", "score", "address_conflict", "cross_source"
    ):
        g = groups[gid]
        members.setdefault(gid, set()).update((a, b))
        if KIND_ORDER[kind] < KIND_ORDER[g.best_kind]:
            g.best_kind = kind
        g.best_score = max(g.best_score, score)
        g.address_conflict |= conflict
        g.cross_source |= cross
    for gid, group in groups.items():
        group.size = len(members.get(gid, ()))
    fields = ["size", "best_kind", "best_score", "address_conflict", "cross_source"]
    CandidateGroup.objects.bulk_update(groups.values(), fields, batch_size=500)


def group_refresh(group_id: int | None) -> None:
    """After a decision in one group: split it where the decided pair held it together, re-summarise.

    Local, so a decision costs in proportion to its group, not to the archive (the scan's
    `groups_rebuild` does the global pass).
    """
    if group_id is None:
        return
    with transaction.atomic():
        if not CandidateGroup.objects.select_for_update().filter(pk=group_id).exists():
            return
        rows = list(
            Candidate.objects.filter(group_id=group_id, status=Candidate.Status.OPEN).values_list(
                "pk", "asset_a", "asset_b"
            )
        )
        found = [[rows[i][0] for i in positions] for positions in components([(a, b) for _, a, b in rows])]
        keep, *split = sorted(found, key=len, reverse=True) or [[]]
        touched = {group_id}
        for pks in split:
            new_group = CandidateGroup.objects.create(best_kind=Candidate.Kind.NEAR)
            Candidate.objects.filter(pk__in=pks).update(group=new_group)
            touched.add(new_group.pk)
        _summarise_groups(touched)
