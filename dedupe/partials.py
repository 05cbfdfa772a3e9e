"""Partial copies: find the few pairs worth verifying, verify them from stored features, record them.

Whole-frame hashes cannot find a crop or a screenshot, and comparing every pair of a million
assets is out of reach, so a new asset is verified against:

- its nearest pictures by content code (`dedupe.content`: its local features aggregated over a
  vocabulary learned from the archive), whatever record or address they are filed under: a crop
  on the wrong record is the copy most worth finding;
- the other pictures of the same property (records whose addresses agree once spelled alike):
  where a caseworker's crop or a tablet's screenshot is filed, and few enough per property that
  the cost grows with the archive, not its square;
- any asset whose picture is within the near radius of its mirror image (a flipped copy), found
  by the hash search's own pass (`candidates.matching_pairs`) and verified here.

Verification (`dedupe.partial.relate`) reads the features stored at inspection; no file is
decoded here. Like the hash search, only assets not searched before are queried, so a scan
after an import costs in proportion to the import.
"""

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from django.db import transaction

from . import content, partial
from .actions import Action, Subject
from .addresses import address_key
from .audit import audit_record
from .candidates import DEFAULT_VERIFY_RADIUS, addresses_conflict, addresses_of, features_of
from .models import Asset, Attachment, Candidate, ContentVocabulary, Fingerprint, ScanRun
from .scoring import PARTIAL, bits

# Pictures that share no property are held to a copy's agreement: at most this share of the
# overlap's cells may disagree, 4 of 144 (the same property allows overlay.MAX_DISAGREEING, 0.10).
# A pair anywhere in the archive is far less likely to be one photograph than a pair on one
# property. On make_corpus.py (1,000 originals seed 11, 300 seeds 3 and 11) the 61 true pairs
# proposed by content alone disagreed in at most 4 cells (0.028); the drawn facades of other
# photographs they proposed in 5-14 cells (0.035-0.097). A margin of one cell: see the README.
STRANGERS_MAX_DISAGREEING = 0.03
# ... and the smaller one must span at least this share of the other's width and height: less is a
# detail of it. make_corpus.py's answer key counts a photograph and each of its halves as three
# photographs (its crops keep 55-95 % of each side); 87 of the 112 pairs content wrongly proposed
# before this and the rule above were a photograph and one half of it.
STRANGERS_MIN_SIDE = 0.52
# ... and a crop that keeps the other's whole height but cuts a tenth or more of its width (or the
# reverse) is not taken for a copy (`partial.keeps_one_whole_side`): a second framing of the scene,
# the camera turned along one axis, looks like that, and the issue counts two framings of one scene
# as two photographs; its crops cut every side (55-95 % of each kept). make_corpus.py cuts its real
# photographs into halves and two overlapping framings, each another photograph: on 300 originals,
# 10 of seed 5's 11 wrong partial pairs and 9 of seed 11's 11 were a half (or a copy of one) inside
# a framing or its photograph, as a crop, its whole height kept. Only crops are asked: a keystone
# (named rotated, seed 11) or a turned copy in a letterbox (seed 23), filed on another property,
# reached two edges and fell 4-10 % short of the others. The cost: a copy cropped to another aspect
# ratio and filed on another property.

# A property with more pictures than this is checked only among its newest: a catch-all address
# ("unknown", a city hall) must not make a quadratic block.
MAX_BLOCK = 200


def address_pairs(new_ids: Iterable[int], upto_asset: int) -> set[tuple[int, int]]:
    """Pairs of a new asset and another active asset shown on a record of the same address.

    Only the properties of the new assets are read (`Record.address_key` is indexed): reading every
    address in every chunk made a scan of k new assets cost k / chunk size times the archive.
    """
    new = set(new_ids)
    keys = set(Attachment.objects.filter(asset_id__in=new).values_list("record__address_key", flat=True)) - {""}
    shown = Attachment.objects.filter(
        record__address_key__in=keys,
        asset_id__lte=upto_asset,
        asset__state=Asset.State.ACTIVE,
        asset__inspection=Asset.Inspection.READABLE,
    ).values_list("asset_id", "record__address_key")
    return block_pairs(shown.iterator(chunk_size=10_000), new)


def block_pairs(shown: Iterable[tuple[int, str]], new: set[int]) -> set[tuple[int, int]]:
    """Pure: (asset, address) rows to the pairs of a new asset and another of the same property."""
    blocks: dict[str, set[int]] = defaultdict(set)
    for asset_id, address in shown:
        key = address_key(address)
        if key:
            blocks[key].add(asset_id)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if not members & new:
            continue
        ordered = sorted(members)[-MAX_BLOCK:]
        for a in set(ordered) & new:
            pairs.update((min(a, b), max(a, b)) for b in ordered if b != a)
    return pairs


def partial_candidates_record(scan: ScanRun, first: int, last: int) -> int:
    """Find, verify and upsert partial copies of the new assets with ids in [first, last]."""
    new = list(
        Fingerprint.objects.filter(
            asset_id__gte=first, asset_id__lte=min(last, scan.upto_asset), searched=False, asset__state="active"
        ).values_list("asset_id", flat=True)
    )
    if not new:
        return 0
    return pairs_verify_record(scan, address_pairs(new, scan.upto_asset) | content_pairs(scan, new))


def content_pairs(scan: ScanRun, new_ids: Iterable[int]) -> set[tuple[int, int]]:
    """Pairs of a new asset and each of its nearest active pictures by content code."""
    ids, index = _content_index(scan)
    queries = np.flatnonzero(np.isin(ids, np.fromiter(new_ids, np.int64)))
    if not len(queries):
        return set()
    neighbours, _ = index.nearest(queries)
    found = neighbours.ravel() >= 0
    a, b = np.repeat(ids[queries], neighbours.shape[1])[found], ids[neighbours.ravel()[found]]
    pairs = {(int(x), int(y)) if x < y else (int(y), int(x)) for x, y in zip(a, b, strict=True)}
    # the index is a scan's; an asset quarantined since then is not proposed
    active = set(
        Asset.objects.filter(pk__in={x for p in pairs for x in p}, state=Asset.State.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    return {p for p in pairs if p[0] in active and p[1] in active}


# One scan's index per process: every partial chunk of a scan sees the same codes (the search phase,
# which writes them, is over), and loading and indexing a million codes per chunk of 2,000 assets
# would make a scan of every asset cost the archive's size squared.
_INDEX: dict[tuple, tuple[np.ndarray, content.InvertedFile]] = {}


def _content_index(scan: ScanRun) -> tuple[np.ndarray, content.InvertedFile]:
    key = (scan.pk, scan.started_at, scan.upto_asset)
    if key not in _INDEX:
        rows = (
            Fingerprint.objects.filter(asset_id__lte=scan.upto_asset, asset__state=Asset.State.ACTIVE)
            .exclude(content_code=b"")
            .order_by("asset_id")
            .values_list("asset_id", "content_code")
        )
        ids, codes = [], []
        for asset_id, code in rows.iterator(chunk_size=10_000):
            ids.append(asset_id)
            codes.append(code)
        _INDEX.clear()
        _INDEX[key] = (np.asarray(ids, np.int64), content.InvertedFile(content.codes_from_bytes(codes)))
    return _INDEX[key]


def vocabulary_get_or_learn(upto_asset: int) -> content.Vocabulary | None:
    """The archive's vocabulary; learned from up to LEARN_PICTURES pictures spread over the archive
    the first time (None while no picture has descriptors). Two chunks learning at once: the
    unique row keeps the first, and the other uses it."""
    row = ContentVocabulary.objects.first()
    if row is None:
        with_features = Fingerprint.objects.filter(asset_id__lte=upto_asset).exclude(descriptors=b"")
        ids = list(with_features.order_by("asset_id").values_list("asset_id", flat=True))
        step = max(1, len(ids) // content.LEARN_PICTURES)
        picked = with_features.filter(asset_id__in=ids[::step]).values_list("descriptors", flat=True)
        learned = content.vocabulary_learn([np.frombuffer(bytes(d), np.uint8).reshape(-1, 32) for d in picked])
        if learned is None:
            return None
        row, _ = ContentVocabulary.objects.get_or_create(
            singleton=True, defaults={"data": learned.to_bytes(), "pictures": len(ids[::step])}
        )
    return content.Vocabulary.from_bytes(bytes(row.data))


def content_codes_store(first: int, last: int, upto_asset: int) -> int:
    """Code the new assets with ids in [first, last] that have features and no code yet; the
    partial phase, which runs after every search chunk, searches by these codes."""
    pending = Fingerprint.objects.filter(
        asset_id__gte=first, asset_id__lte=min(last, upto_asset), searched=False, content_code=b""
    ).exclude(descriptors=b"")
    if not pending.exists():
        return 0
    vocabulary = vocabulary_get_or_learn(upto_asset)
    if vocabulary is None:
        return 0
    coded = [
        Fingerprint(asset_id=asset_id, content_code=content.content_code(np.frombuffer(bytes(d), np.uint8), vocabulary))
        for asset_id, d in pending.values_list("asset_id", "descriptors").iterator(chunk_size=2_000)
    ]
    Fingerprint.objects.bulk_update(coded, ["content_code"], batch_size=500)
    return len(coded)


def mirror_candidates_record(scan: ScanRun, pairs: set[tuple[int, int]]) -> int:
    """Verify and upsert pairs where one picture's hash is near the other's mirror image; the hash
    search finds them in the same pass as near copies (`candidates.matching_pairs`)."""
    return pairs_verify_record(scan, pairs, mirrored=pairs)


def share_property(a: set[str], b: set[str]) -> bool:
    """Whether two assets are shown on records of one property (addresses spelled alike)."""
    return bool(({address_key(x) for x in a} & {address_key(y) for y in b}) - {""})


def pairs_verify_record(scan: ScanRun, found: set[tuple[int, int]], mirrored: frozenset | set = frozenset()) -> int:
    """Verify the pairs not already recorded from stored features and upsert the partial copies.

    Pairs on no common property are held to STRANGERS_*, however they were found: by content
    code, or by the mirror search, whose pairs are verified as partial copies when they are no
    mirror image (before, those went to the same property's bar, and two drawn facades of one
    template on two properties passed as `whole` copies at 13 and 14 cells of 144)."""
    ids = {x for pair in found for x in pair}
    known = set(Candidate.objects.filter(asset_a__in=ids, asset_b__in=ids).values_list("asset_a", "asset_b"))
    pairs = sorted(found - known)
    if not pairs:
        return 0
    prints = Fingerprint.objects.in_bulk({x for pair in pairs for x in pair})
    assets = Asset.objects.in_bulk(list(prints))
    addresses = addresses_of(set(prints))
    rows = []
    for a_id, b_id in pairs:
        fa, fb = prints.get(a_id), prints.get(b_id)
        if fa is None or fb is None:
            continue
        facts = pair_evidence(
            fa,
            fb,
            assets[a_id],
            assets[b_id],
            mirror_candidate=(a_id, b_id) in mirrored,
            strict=not share_property(addresses.get(a_id, set()), addresses.get(b_id, set())),
        )
        if facts is not None:
            rows.append(
                Candidate(
                    asset_a_id=a_id, asset_b_id=b_id, kind=PARTIAL, score=facts.pop("score"), evidence=facts,
                    cross_source=assets[a_id].source_id != assets[b_id].source_id, found_by=scan,
                    address_conflict=addresses_conflict(addresses.get(a_id, set()), addresses.get(b_id, set())),
                )
            )  # fmt: skip
    return _upsert(scan, rows, checked=len(pairs))


def pair_evidence(
    fa: Fingerprint, fb: Fingerprint, a: Asset, b: Asset, *, mirror_candidate: bool, strict: bool = False
) -> dict | None:
    """The evidence that two assets are one photograph, partly shown; None when not shown to be."""
    if mirror_candidate and fa.phash256_mirror and fb.phash256_mirror:
        distance = min(bits(fa.phash256, fb.phash256_mirror), bits(fa.phash256_mirror, fb.phash256))
        # two framings of a symmetric facade are mirror images of each other by their hashes; the
        # pixels (colour too) of one photograph flipped agree everywhere
        if distance <= DEFAULT_VERIFY_RADIUS and _mirror_agrees(fa, fb, strict=strict):
            return {"relation": "mirrored", "phash256_mirror": distance, "score": round(0.9 - distance / 512, 4)}
    if not (fa.descriptors and fb.descriptors):
        return None
    if strict:
        found = partial.relate(
            features_of(fa),
            features_of(fb),
            max_disagreeing=STRANGERS_MAX_DISAGREEING,
            min_side=STRANGERS_MIN_SIDE,
            alternatives=False,
        )
    else:
        found = partial.relate(features_of(fa), features_of(fb))
    if found is None:
        return None
    inner, outer = (a, b) if found.inner == "a" else (b, a)
    inner_f, outer_f = (fa, fb) if found.inner == "a" else (fb, fa)
    if strict and partial.keeps_one_whole_side(found, features_of(outer_f)):
        return None  # another framing of the scene (see STRANGERS_MIN_SIDE)
    return {
        "relation": found.relation,
        "inner": inner.pk,  # the asset shown inside the other
        "outer": outer.pk,
        "inliers": found.inliers,
        "model": found.model,
        # In full-size pixels of each image: inner (x, y, 1) -> outer.
        "matrix": _full_size_matrix(found.matrix, inner, inner_f, outer, outer_f),
        "region": _full_size_region(found.region, outer, outer_f),
        "coverage": found.coverage,
        "angle": found.angle,
        "disagreeing": found.disagreeing,
        "score": round(0.6 + 0.3 * min(1.0, found.inliers / 100) * (1 - found.disagreeing), 4),
    }  # fmt: skip


def _mirror_agrees(fa: Fingerprint, fb: Fingerprint, *, strict: bool) -> bool:
    """Whether the pixels of one picture flipped and the other agree (True when not stored: the
    assets inspected before the small images were kept pass on their hashes, as they did then)."""
    if not (fa.grey and fb.grey):
        return True
    return partial.mirror_agrees(features_of(fa), features_of(fb), min_side=STRANGERS_MIN_SIDE if strict else 0.0)


def _full_size_region(region: list[list[float]], outer: Asset, fo: Fingerprint) -> list[list[float]]:
    """The inner picture's corners in the outer one's full-size pixels: the outline the desk draws."""
    sx, sy = (outer.width or 0) / fo.feature_width, (outer.height or 0) / fo.feature_height
    return [[round(x * sx, 1), round(y * sy, 1)] for x, y in region]


def _full_size_matrix(matrix: list[list[float]], inner: Asset, fi: Fingerprint, outer: Asset, fo: Fingerprint) -> list:
    to_feature = np.diag([fi.feature_width / (inner.width or 1), fi.feature_height / (inner.height or 1), 1.0])
    to_full = np.diag([(outer.width or 0) / fo.feature_width, (outer.height or 0) / fo.feature_height, 1.0])
    full = to_full @ np.array(matrix) @ to_feature
    full = full / full[2, 2]
    return [[round(float(v), 6) for v in row] for row in full]


def _upsert(scan: ScanRun, rows: list[Candidate], *, checked: int) -> int:
    with transaction.atomic():
        ids = {x for row in rows for x in (row.asset_a_id, row.asset_b_id)}
        known = set(Candidate.objects.filter(asset_a__in=ids, asset_b__in=ids).values_list("asset_a", "asset_b"))
        rows = [row for row in rows if (row.asset_a_id, row.asset_b_id) not in known]
        for row in rows:
            row.priority = row.queue_priority()
        Candidate.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        if rows:
            audit_record(
                action=Action.CANDIDATES_PARTIAL_FOUND,
                actor_name="system:scan",
                subjects=[(Subject.SCAN, scan.pk), *((Subject.ASSET, x) for x in sorted(ids))],
                after={"pairs_checked": checked, "added": len(rows)},
            )
    return len(rows)
