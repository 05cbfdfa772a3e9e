"""Whole groups, four-eyes proposals, and bulk approval of byte-identical groups.

A group page shows every copy at once: the reviewer picks the one to keep, ticks off members that
are not the same photograph (they are split off and stay open), and decides the rest together.
The form carries the members it showed; decide_group refuses if the group changed meanwhile.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dedupe.addresses import address_conflict
from dedupe.models import Attachment, Candidate
from dedupe.roles import Capability, can

from ..forms import GroupDecisionForm, first_error
from ..models import Decision, Reversal
from ..selectors.facts import compare_rows, records_shown
from ..selectors.groups import ExactPlan, exact_groups_plan, suggest_canonical
from ..selectors.queue import next_group
from ..selectors.visibility import (
    group_for,
    visible_candidates,
    visible_sources,
)
from ..services.authority import DecisionRefused
from ..services.decisions import decision_approve, decision_reject
from ..services.groups import decide_group, exact_groups_apply
from ..services.reversals import reversal_approve, reversal_reject
from .shared import AuthenticatedHttpRequest, HtmxHttpRequest, require

MAX_SHOWN = 60


@require_GET
@login_required
def group_review(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Every copy at once, and two of them compared with the pair page's tools: the kept copy (as
    chosen) and another (`?with=`); changing either swaps in the comparison alone (htmx)."""
    group, assets = group_for(request.user, pk)
    suggested, why = suggest_canonical([a.pk for a in assets])
    by_pk = {a.pk: a for a in assets}
    kept = by_pk.get(_number(request.GET.get("canonical")), by_pk[suggested])
    other = by_pk.get(_number(request.GET.get("with")), kept)
    if other == kept:
        other = next(a for a in assets if a != kept)  # a group has two members at least
    shown_members = assets[:MAX_SHOWN]
    kept_first = [kept, *(a for a in shown_members if a != kept)]
    records = records_shown(kept_first, request.user)
    context = {
        "conflicts": _address_conflicts(request.user, kept.pk, [a.pk for a in assets]),
        "group": group,
        "members": [(a, records[a.pk]) for a in shown_members],
        "more": max(0, len(assets) - MAX_SHOWN),
        "seen": ",".join(str(a.pk) for a in assets),
        "suggested": suggested,
        "kept": kept,
        "other": other,
        "kept_and_other": [kept, other],
        "columns": kept_first,
        "rows": compare_rows(kept_first, request.user, records),
        "why": why,
        "can_decide": can(request.user, Capability.DECIDE),
        "pairs": Candidate.objects.filter(group=group, status=Candidate.Status.OPEN).count(),
    }
    template = "review/group.html#compare" if request.htmx else "review/group.html"
    return render(request, template, context)


def _number(value: str | None) -> int:
    """A member's number from the query, or 0 (no member) for anything else."""
    return int(value) if value and value.isascii() and value.isdigit() else 0


@require_POST
@login_required
def group_decide(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Everyone not excluded is the same photograph as the kept one."""
    group, _ = group_for(request.user, pk)
    require(request.user, Capability.DECIDE)
    form = GroupDecisionForm(request.POST)
    if not form.is_valid():
        if form.has_error("seen") or form.has_error("canonical") or form.has_error("exclude"):
            messages.error(request, "This form is incomplete; the group is shown again as it is now.")
        else:
            messages.error(request, f"Not decided: {first_error(form)}")
        return redirect("review:group", pk)
    canonical, exclude = form.cleaned_data["canonical"], set(form.cleaned_data["exclude"])
    included = [pk for pk in form.cleaned_data["seen"] if pk not in exclude]
    conflicts = _address_conflicts(request.user, canonical, included)
    if conflicts and not form.cleaned_data["addresses_checked"]:
        differ = "; ".join(f"image {pk}: {what}" for pk, what in conflicts)
        messages.error(request, f"Not merged: the records' addresses differ ({differ}). Tick that you checked, or "
                                "split off the members of another property.")  # fmt: skip
        return redirect("review:group", pk)
    try:
        decisions = decide_group(
            group_id=group.pk,
            canonical_id=canonical,
            actor=request.user,
            seen_members=set(form.cleaned_data["seen"]),
            exclude=exclude,
            note=form.cleaned_data["note"],
        )
    except DecisionRefused as refused:
        messages.error(request, f"Not decided: {refused}.")
        return redirect("review:group", pk)
    proposed = any(d.status == Decision.Status.PROPOSED for d in decisions)
    verb = "proposed for an archivist's approval, not merged," if proposed else "merged"
    because = f" ({decisions[0].proposed_because})" if proposed else ""
    messages.success(
        request, f"{len(decisions)} pair(s) {verb} onto image {canonical}{because}; {len(exclude)} split off."
    )
    following = next_group(request.user, group.pk)
    return redirect("review:group", following) if following else redirect("review:queue")


def _address_conflicts(user, keep: int, members: list[int]) -> list[tuple[int, str]]:
    """Members whose records (those the person may see) name another property than the kept copy's."""
    addresses: dict[int, list[str]] = {}
    shown = Attachment.objects.filter(asset_id__in=[keep, *members], record__source__in=visible_sources(user))
    for asset_id, address in shown.values_list("asset_id", "record__address"):
        addresses.setdefault(asset_id, []).append(address)
    found = [(pk, address_conflict(addresses.get(keep, []), addresses.get(pk, []))) for pk in members if pk != keep]
    return [(pk, what) for pk, what in found if what]


@require_GET
@login_required
def proposals(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Caseworkers' "same" on sensitive sources, waiting for a second person."""
    require(request.user, Capability.APPROVE)
    sources = visible_sources(request.user)
    waiting = (
        Decision.objects.filter(status=Decision.Status.PROPOSED)
        .filter(candidate__asset_a__source__in=sources, candidate__asset_b__source__in=sources)
        .select_related("candidate", "decided_by")
        .order_by("decided_at", "pk")[:200]
    )
    reversals = (
        Reversal.objects.filter(status=Reversal.Status.PROPOSED)
        .filter(decision__candidate__in=visible_candidates(request.user))
        .select_related("decision", "requested_by")
        .order_by("requested_at", "pk")[:200]
    )
    return render(request, "review/proposals.html", {"waiting": waiting, "reversals": reversals})


@require_POST
@login_required
def proposal_answer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(request.user, Capability.APPROVE)
    decision = Decision.objects.filter(pk=pk, status=Decision.Status.PROPOSED).first()
    if decision is None:
        messages.error(request, "That proposal was already answered.")
        return redirect("review:proposals")
    try:
        if request.POST.get("answer") == "approve":
            decision_approve(decision_id=pk, actor=request.user)
            done = "attachment detached" if decision.verdict == Decision.Verdict.WRONG_ATTACHMENT else "merged"
            messages.success(request, f"Approved: pair {decision.candidate_id} {done}.")
        else:
            decision_reject(decision_id=pk, actor=request.user, note=request.POST.get("note", ""))
            messages.success(request, f"Rejected: pair {decision.candidate_id} stays open.")
    except DecisionRefused as refused:
        messages.error(request, str(refused))
    return redirect("review:proposals")


@require_POST
@login_required
def reversal_answer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A second person approves (the decision is reversed) or rejects a request to reverse one."""
    require(request.user, Capability.APPROVE)
    reversal = Reversal.objects.filter(pk=pk).first()
    if reversal is None:
        raise Http404("No such reversal.")
    try:
        if request.POST.get("answer") == "approve":
            reversal_approve(reversal_id=pk, actor=request.user)
            messages.success(request, f"Approved: decision {reversal.decision_id} reversed, its pair open again.")
        else:
            reversal_reject(reversal_id=pk, actor=request.user, note=request.POST.get("note", ""))
            messages.success(request, f"Rejected: decision {reversal.decision_id} stands.")
    except DecisionRefused as refused:
        messages.error(request, f"Not answered: {refused}.")
    return redirect("review:proposals")


# A shown plan is signed into its form; applying an older one than this is refused.
PLAN_MAX_AGE = 3600


@require_http_methods(["GET", "POST"])
@login_required
def exact_groups(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Bulk approval of byte-identical groups: the plan on GET, applied only on a confirming POST.

    The form carries the shown plan, signed: what is applied is exactly what the archivist saw,
    and each group is re-checked (a group changed since is skipped and reported, not applied).
    """
    require(request.user, Capability.APPROVE_EXACT)
    if request.method == "POST":
        try:
            shown = signing.loads(request.POST.get("plan", ""), salt="exact-plan", max_age=PLAN_MAX_AGE)
        except signing.BadSignature:
            messages.error(request, "This plan is too old or was altered; here is the current one.")
            return redirect("review:exact-groups")
        plan = ExactPlan(groups=shown)
        try:
            outcome = exact_groups_apply(plan, actor=request.user)
        except DecisionRefused as refused:
            messages.error(request, str(refused))
            return redirect("review:exact-groups")
        messages.success(request, f"Applied {outcome['applied']} group(s); {len(outcome['skipped'])} skipped.")
        for skipped in outcome["skipped"]:
            messages.warning(request, f"Group {skipped['group']} skipped: {skipped['reason']}")
        return redirect(reverse("review:exact-groups"))
    plan = exact_groups_plan(sources=visible_sources(request.user))
    signed = signing.dumps(
        [{"group": g["group"], "keep": g["keep"], "members": sorted(g["members"])} for g in plan.groups],
        salt="exact-plan",
    )
    return render(request, "review/exact_groups.html", {"plan": plan, "signed": signed})
