"""Keeper groups: a group's open members, the copy the keeper rules would keep, and the plan for
bulk approval of byte-identical groups (shown before anything is applied)."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from dedupe.models import Asset, Attachment, Candidate, CandidateGroup

from ..keeper import Copy, suggest
from ..models import KeeperPolicy


def suggest_canonical(asset_ids: Iterable[int]) -> tuple[int, str]:
    """The copy the keeper rules of the sources involved would keep, and why."""
    assets = list(Asset.objects.filter(pk__in=list(asset_ids)).select_related("source").order_by("pk"))
    rules: list[str] = []
    policies = KeeperPolicy.objects.filter(source__in={a.source_id for a in assets}).order_by("source__slug")
    for policy in policies:
        rules.extend(r for r in policy.rules if r not in rules)
    active = [a for a in assets if a.state == Asset.State.ACTIVE] or assets
    copies = [Copy(a.pk, a.source.slug, a.pixels, a.byte_size, a.exif_captured_at, a.imported_at) for a in active]
    return suggest(copies, rules)


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
    """Groups whose open pairs are all byte-identical, each with its keeper, members and bytes."""
    plan = ExactPlan()
    groups = CandidateGroup.objects.filter(size__gt=0, best_kind=Candidate.Kind.EXACT).exclude(
        candidates__in=Candidate.objects.filter(status=Candidate.Status.OPEN).exclude(kind=Candidate.Kind.EXACT)
    )
    if sources is not None:
        groups = groups.filter(candidates__asset_a__source__in=sources)
    for group in groups.distinct().order_by("pk")[:limit]:
        members = group_members(group.pk)
        keep, why = suggest_canonical(members)
        others = members - {keep}
        shown = Attachment.objects.filter(asset_id__in=others, state__in=Attachment.SHOWN)
        size = sum(Asset.objects.filter(pk__in=others).values_list("byte_size", flat=True))
        plan.groups.append({"group": group.pk, "members": sorted(members), "keep": keep, "why": why,
                            "records": shown.values("record").distinct().count(), "bytes": size})  # fmt: skip
        plan.merges += len(others)
        plan.records += plan.groups[-1]["records"]
        plan.bytes_quarantined += size
    return plan
