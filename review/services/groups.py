"""Deciding a whole group at once, and applying a shown plan for byte-identical groups."""

from django.db import transaction

from dedupe.actions import Action
from dedupe.candidates import group_refresh
from dedupe.models import Asset, Candidate
from dedupe.roles import Capability

from ..models import Decision
from ..selectors.groups import ExactPlan
from .authority import DecisionRefused, merge_reach, require_capability, second_person_needed, sees_every
from .decisions import AlreadyDecided, record_decision, save_decision
from .merges import MergeRefused, canonical_of, merge_onto


def decide_group(
    *,
    group_id: int,
    canonical_id: int,
    actor,
    seen_members: set[int],
    exclude: set[int] | frozenset[int] = frozenset(),
    note: str = "",
) -> list[Decision]:
    """Everyone in the group but `exclude` is the same photograph as `canonical_id`.

    Pairs between an excluded member and the rest stay open: the excluded member is split off.
    """
    require_capability(actor, Capability.DECIDE)
    with transaction.atomic():
        open_pairs = list(
            Candidate.objects.select_for_update()
            .filter(group_id=group_id, status=Candidate.Status.OPEN)
            .order_by("pk")  # one lock order for everyone: no deadlocks between groups that overlap
        )
        members = {x for c in open_pairs for x in (c.asset_a_id, c.asset_b_id)}
        assets = Asset.objects.select_related("source").in_bulk(members)
        if not sees_every(actor, {a.source_id for a in assets.values()}):  # before saying anything of it
            raise DecisionRefused(f"there is no group {group_id} among the sources you may see")
        if members != set(seen_members):
            raise AlreadyDecided(_latest_in(group_id), "this group")
        included = members - set(exclude)
        if canonical_id not in included:
            raise DecisionRefused("choose the copy to keep among the members that are the same photograph")
        reach = {assets[pk].source_id for pk in included} | merge_reach(canonical_id, included - {canonical_id})
        why = second_person_needed(actor, reach)
        proposal = bool(why)
        decided = [c for c in open_pairs if c.asset_a_id in included and c.asset_b_id in included]
        if not decided:
            raise DecisionRefused("nothing left to decide once those members are excluded")
        decisions = [_decide_pair(c, canonical_id, actor, note, proposal) for c in decided]
        kept = None
        if not proposal:
            _merge_members(decisions, assets, canonical_id)
            kept = canonical_of(canonical_id)
            Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(kept=kept)
        for decision in decisions:
            decision.proposed_because, decision.kept_id = why, kept
            record_decision(decision, Action.DECISION_PROPOSE if proposal else Action.DECISION_APPLY)
    group_refresh(group_id)
    return decisions


def _latest_in(group_id: int) -> Decision | None:
    return Decision.objects.filter(candidate__group_id=group_id).select_related("decided_by").order_by("-id").first()


def _decide_pair(candidate: Candidate, canonical_id: int, actor, note: str, proposal: bool) -> Decision:
    keep = canonical_id if canonical_id in (candidate.asset_a_id, candidate.asset_b_id) else None
    status = Decision.Status.PROPOSED if proposal else Decision.Status.APPLIED
    decision = Decision(
        candidate=candidate, verdict="same", status=status, canonical_id=keep, decided_by=actor, note=note
    )
    save_decision(decision, candidate)
    if not proposal:
        candidate.status = Candidate.Status.SAME
        candidate.save(update_fields=["status"])
    return decision


def _merge_members(decisions: list[Decision], assets: dict[int, Asset], canonical_id: int) -> None:
    """One merge per member, each tied to the decision on a pair it belongs to (its pair with the keeper first)."""
    by_member: dict[int, Decision] = {}
    for d in sorted(decisions, key=lambda d: d.canonical_id is None):
        for member in (d.candidate.asset_a_id, d.candidate.asset_b_id):
            by_member.setdefault(member, d)
    for member, decision in sorted(by_member.items()):
        if member == canonical_id:
            continue
        try:
            keep, duplicate = assets[canonical_id], assets[member]
            merge_onto(canonical=keep, duplicate=duplicate, decision=decision, actor=decision.decided_by)
        except MergeRefused as refused:
            raise DecisionRefused(f"not merged: {refused}") from None


def exact_groups_apply(plan: ExactPlan, *, actor) -> dict:
    """Apply a shown plan, group by group; a group that changed since is skipped and reported."""
    require_capability(actor, Capability.APPROVE_EXACT)
    applied, skipped = 0, []
    for item in plan.groups:
        try:
            members = set(item["members"])
            decide_group(group_id=item["group"], canonical_id=item["keep"], actor=actor, seen_members=members,
                         exclude=members - set(item.get("copies", members)))  # fmt: skip
            applied += 1
        except DecisionRefused as refused:
            skipped.append({"group": item["group"], "reason": str(refused)})
    return {"applied": applied, "skipped": skipped}
