"""Keeper groups: a group's open members, the copy the keeper rules would keep, and the plan for
bulk approval of byte-identical groups (shown before anything is applied)."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from dedupe.models import Asset, Attachment, Candidate
from dedupe.scoring import components

from ..keeper import Copy, Suggestion, suggestion
from ..models import KeeperPolicy


def suggest_canonical(asset_ids: Iterable[int]) -> tuple[int, str]:
    """The copy the keeper rules of the sources involved would keep, and why."""
    chosen = keeper_suggestion(asset_ids)
    return chosen.asset_id, chosen.why


def keeper_suggestion(asset_ids: Iterable[int]) -> Suggestion:
    """`suggest_canonical` with the fact the deciding rule read for each copy (shown at the desk)."""
    assets = list(Asset.objects.filter(pk__in=list(asset_ids)).select_related("source").order_by("pk"))
    rules: list[str] = []
    policies = KeeperPolicy.objects.filter(source__in={a.source_id for a in assets}).order_by("source__slug")
    for policy in policies:
        rules.extend(r for r in policy.rules if r not in rules)
    active = [a for a in assets if a.state == Asset.State.ACTIVE] or assets
    copies = [Copy(a.pk, a.source.slug, a.picture_pixels, a.byte_size, a.exif_captured_at, a.imported_at,
                   a.jpeg_quality) for a in active]  # fmt: skip
    return suggestion(copies, rules)


def group_members(group_id: int) -> set[int]:
    """The assets of the group's open candidates: what a review form shows and sends back."""
    pairs = Candidate.objects.filter(group_id=group_id, status=Candidate.Status.OPEN).values_list("asset_a", "asset_b")
    return {x for pair in pairs for x in pair}


@dataclass
class ExactPlan:
    """What bulk approval of byte-identical groups would do, shown before it is applied."""

    groups: list[dict] = field(default_factory=list)
    merges: int = 0
    records: int = 0
    bytes_quarantined: int = 0


def exact_groups_plan(sources=None, limit: int = 500) -> ExactPlan:
    """In each group with open byte-identical pairs, its largest set of byte-identical copies: the
    copy to keep, the rest to merge onto it, and what stays open for review (near copies beside them).

    A group usually mixes byte copies with near copies, so only its byte-identical members are
    planned; one set per group (applying it changes the group, so a second set of other bytes in
    the same group comes in the next plan).
    """
    plan = ExactPlan()
    exact = Candidate.objects.filter(status=Candidate.Status.OPEN, kind=Candidate.Kind.EXACT, group__isnull=False)
    if sources is not None:
        exact = exact.filter(asset_a__source__in=sources, asset_b__source__in=sources)
    by_group: dict[int, list[tuple[int, int]]] = {}
    for group_id, a, b in exact.order_by("group_id", "pk").values_list("group_id", "asset_a", "asset_b"):
        if len(by_group) == limit and group_id not in by_group:
            break
        by_group.setdefault(group_id, []).append((a, b))
    for group_id, pairs in by_group.items():
        copies = max(({x for i in c for x in pairs[i]} for c in components(pairs)), key=lambda c: (len(c), -min(c)))
        members = group_members(group_id)
        keep, why = suggest_canonical(copies)
        others = copies - {keep}
        shown = Attachment.objects.filter(asset_id__in=others, state__in=Attachment.SHOWN)
        size = sum(Asset.objects.filter(pk__in=others).values_list("byte_size", flat=True))
        plan.groups.append({"group": group_id, "members": sorted(members), "copies": sorted(copies), "keep": keep,
                            "why": why, "records": shown.values("record").distinct().count(), "bytes": size,
                            "left_open": len(members - copies)})  # fmt: skip
        plan.merges += len(others)
        plan.records += plan.groups[-1]["records"]
        plan.bytes_quarantined += size
    return plan
