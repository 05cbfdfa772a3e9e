"""Scoring candidates against a labelled corpus's answer key (truth.csv, hard_negatives.csv)."""

import csv
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

import imagehash
import numpy as np

from .imaging import hash_to_int, open_image
from .models import Asset, Candidate
from .originals import original_open
from .scoring import components
from .search import pairs_within, to_uint64

# imagededup's default Hamming threshold for pHash, the baseline people use today.
BASELINE_THRESHOLD = 10

Pair = tuple[int, int]


def _pair(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def load_truth(truth: Path) -> tuple[dict[str, int], dict[Pair, str]]:
    """Asset ids of the labelled files, and every true pair with the transform that made it."""
    by_path = dict(Asset.objects.order_by("pk").values_list("origin_path", "pk"))  # newest version wins
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    ids = {}
    with open(truth, newline="") as f:
        for row in csv.DictReader(f):
            if row["group"] == "bad" or row["path"] not in by_path:
                continue
            ids[row["path"]] = by_path[row["path"]]
            groups[row["group"]].append((by_path[row["path"]], row["transform"]))
    pairs = {}
    for members in groups.values():
        for (a, ta), (b, tb) in combinations(members, 2):
            label = tb if ta == "original" else ta if tb == "original" else "between-variants"
            pairs[_pair(a, b)] = label
    return ids, pairs


def load_lookalikes(hard: Path, ids: dict[str, int]) -> list[Pair]:
    with open(hard, newline="") as f:
        return [
            _pair(ids[r["path_a"]], ids[r["path_b"]])
            for r in csv.DictReader(f)
            if r["path_a"] in ids and r["path_b"] in ids
        ]


def hard_negative_kinds(truth: Path, ids: dict[str, int], hard: Iterable[Pair]) -> dict[Pair, str]:
    """Each hard-negative pair with its kind (lookalike, overlap-framing, after-change), from truth.csv."""
    transform = {}
    with open(truth, newline="") as f:
        for row in csv.DictReader(f):
            if row["path"] in ids:
                transform[ids[row["path"]]] = row["transform"]
    kinds = {}
    for a, b in hard:
        ta, tb = transform.get(a, ""), transform.get(b, "")
        kinds[(a, b)] = tb if ta == "original" else ta if tb == "original" else ta or tb
    return kinds


def group_score(found: Iterable[Pair], truth: dict[Pair, str]) -> dict:
    """What the desk shows: a true pair is found when both images end in one group (a connected
    component of the found pairs); a grouped pair is right when the two are one photograph."""
    label: dict[int, int] = {}
    found = list(found)
    for position, comp in enumerate(components(found)):
        for i in comp:
            label.setdefault(found[i][0], position)
            label.setdefault(found[i][1], position)
    members: dict[int, list[int]] = defaultdict(list)
    for asset, component in label.items():
        members[component].append(asset)
    grouped = {_pair(a, b) for m in members.values() for a, b in combinations(sorted(m), 2)}
    together = grouped & truth.keys()
    return {
        "group_precision": round(len(together) / len(grouped), 4) if grouped else 1.0,
        "group_recall": round(len(together) / len(truth), 4) if truth else 1.0,
        "grouped_pairs": len(grouped),
    }


def score(
    found: dict[Pair, float], truth: dict[Pair, str], lookalikes: Iterable[Pair], kinds: dict[Pair, str] | None = None
) -> dict:
    """Pair precision, recall and F1 (pair level); group-level figures; recall per transform;
    where the hard negatives rank, and how many of each kind were proposed as one photograph."""
    hits = found.keys() & truth.keys()
    precision = len(hits) / len(found) if found else 1.0
    recall = len(hits) / len(truth) if truth else 1.0
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pair, label in truth.items():
        per[label][1] += 1
        per[label][0] += pair in found
    true_scores = sorted(found[p] for p in hits)
    lookalikes = list(lookalikes)
    found_lookalikes = [found[p] for p in lookalikes if p in found]
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in lookalikes:
        kind = (kinds or {}).get(p, "lookalike")
        by_kind[kind][0] += 1
        by_kind[kind][1] += p in found
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "true_pairs": len(truth),
        "found_pairs": len(found),
        "per_transform": {label: round(hit / total, 4) for label, (hit, total) in sorted(per.items())},
        "lookalikes": {
            "pairs": len(list(lookalikes)),
            "found": len(found_lookalikes),
            # True pairs scored at or below the best-scored look-alike: 0 means every look-alike ranks last.
            "true_pairs_not_above": sum(1 for s in true_scores if found_lookalikes and s <= max(found_lookalikes)),
        },
        "hard_negatives_proposed": {k: {"pairs": n, "proposed": hit} for k, (n, hit) in sorted(by_kind.items())},
        **group_score(found, truth),
    }


def load_wrong_attachments(wrong: Path, ids: dict[str, int]) -> set[int]:
    """Asset ids of the copies attached to another property's record (wrong_attachments.csv)."""
    with open(wrong, newline="") as f:
        return {ids[row["path"]] for row in csv.DictReader(f) if row["path"] in ids}


def address_flag_score(found: Iterable[Pair], truth: dict[Pair, str], wrong: set[int], flagged: set[Pair]) -> dict:
    """The address flag over the true pairs found: a pair should be flagged when either of its two
    files is a wrong attachment (the other shows the photograph's own property)."""
    pairs = set(found) & truth.keys()
    should = {p for p in pairs if p[0] in wrong or p[1] in wrong}
    raised = pairs & flagged
    right = len(should & raised)
    return {
        "precision": round(right / len(raised), 4) if raised else 1.0,
        "recall": round(right / len(should), 4) if should else 1.0,
        "pairs": len(pairs),
        "flagged": len(raised),
        "should_flag": len(should),
    }


def address_flagged(ids: Iterable[int]) -> set[Pair]:
    """Open pairs whose records' addresses conflict (`Candidate.address_conflict`)."""
    wanted = set(ids)
    rows = Candidate.objects.filter(status=Candidate.Status.OPEN, address_conflict=True).values_list(
        "asset_a", "asset_b"
    )
    return {(a, b) for a, b in rows.iterator(chunk_size=5000) if a in wanted and b in wanted}


def truth_labels(truth: Path, ids: dict[str, int]) -> dict[int, tuple[str, str, str]]:
    """Each labelled asset's path, group and transform, from truth.csv."""
    with open(truth, newline="") as f:
        return {ids[r["path"]]: (r["path"], r["group"], r["transform"]) for r in csv.DictReader(f) if r["path"] in ids}


def pairs_described(pairs: Iterable[Pair], labels: dict[int, tuple[str, str, str]]) -> list[dict]:
    """The pairs with what the answer key says of each file and, where a candidate was proposed, how
    it was found (kind, score, evidence): what a person needs to trace a wrong or a missed pair."""
    pairs = sorted(pairs)
    ids = {x for p in pairs for x in p}
    proposed = {
        (a, b): (kind, score, evidence)
        for a, b, kind, score, evidence in Candidate.objects.filter(asset_a__in=ids, asset_b__in=ids).values_list(
            "asset_a", "asset_b", "kind", "score", "evidence"
        )
    }
    described = []
    for a, b in pairs:
        row: dict = {"a": a, "b": b}
        for side, asset in (("a", a), ("b", b)):
            path, group, transform = labels.get(asset, ("", "", ""))
            row |= {f"path_{side}": path, f"group_{side}": group, f"transform_{side}": transform}
        if (a, b) in proposed:
            kind, score, evidence = proposed[(a, b)]
            row |= {"kind": kind, "score": score, "evidence": evidence}
        described.append(row)
    return described


def candidate_pairs(ids: Iterable[int]) -> dict[Pair, float]:
    """Open pairs proposed as one photograph (every kind is: none is only 'same scene')."""
    wanted = set(ids)
    rows = Candidate.objects.filter(status=Candidate.Status.OPEN).values_list("asset_a", "asset_b", "score")
    return {(a, b): s for a, b, s in rows.iterator(chunk_size=5000) if a in wanted and b in wanted}


def baseline_pairs(ids: Iterable[int]) -> dict[Pair, float]:
    """imagehash pHash of each naively decoded file, every pair within imagededup's threshold."""
    assets = list(Asset.objects.filter(pk__in=list(ids)).order_by("pk"))
    hashes = []
    for asset in assets:
        with original_open(asset) as f:
            hashes.append(hash_to_int(imagehash.phash(open_image(f))))  # naive: full decode, no sandbox
    i, j, d = pairs_within(to_uint64(np.array(hashes, dtype=np.int64)), BASELINE_THRESHOLD)
    return {(assets[a].pk, assets[b].pk): 1 - dist / 64 for a, b, dist in zip(i, j, d, strict=True)}
