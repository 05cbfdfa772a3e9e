"""Whole groups and four-eyes proposals at the desk.

A group page shows every copy at once: the reviewer picks the one to keep, ticks off members that
are not the same photograph (they are split off and stay open), and decides the rest together.
The form carries the members it showed; decide_group refuses if the group changed meanwhile.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import Asset, Attachment, Candidate, CandidateGroup
from dedupe.roles import Capability, can

from .access import visible_sources
from .models import Decision
from .services.decisions import DecisionRefused, decision_approve, decision_reject
from .services.groups import decide_group, group_members, suggest_canonical

MAX_SHOWN = 60


def group_for(user, pk: int) -> tuple[CandidateGroup, list[Asset]]:
    """The group and its members, or 404 unless the person may see every member's source."""
    group = CandidateGroup.objects.filter(pk=pk).first()
    members = group_members(pk) if group else set()
    if not members:
        raise Http404("No such group, or nothing in it is open.")
    assets = list(Asset.objects.filter(pk__in=members).select_related("source").order_by("pk"))
    visible = set(visible_sources(user).values_list("pk", flat=True))
    if any(a.source_id not in visible for a in assets):
        raise Http404("No such group.")
    return group, assets


@require_GET
@login_required
def group_review(request: HttpRequest, pk: int) -> HttpResponse:
    group, assets = group_for(request.user, pk)
    keep, why = suggest_canonical([a.pk for a in assets])
    shown = Attachment.objects.filter(asset__in=assets).select_related("record").order_by("pk")
    records: dict[int, list[Attachment]] = {}
    for attachment in shown:
        records.setdefault(attachment.asset_id, []).append(attachment)
    return render(
        request,
        "review/group.html",
        {
            "group": group,
            "members": [(a, records.get(a.pk, [])) for a in assets[:MAX_SHOWN]],
            "more": max(0, len(assets) - MAX_SHOWN),
            "seen": ",".join(str(a.pk) for a in assets),
            "keep": keep,
            "why": why,
            "can_decide": can(request.user, Capability.DECIDE),
            "pairs": Candidate.objects.filter(group=group, status=Candidate.Status.OPEN).count(),
        },
    )


@require_POST
@login_required
def group_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Everyone not excluded is the same photograph as the kept one."""
    group, _ = group_for(request.user, pk)
    if not can(request.user, Capability.DECIDE):
        raise Http404("Not here.")
    try:
        seen = {int(x) for x in request.POST.get("seen", "").split(",") if x}
        canonical = int(request.POST.get("canonical", ""))
        exclude = {int(x) for x in request.POST.getlist("exclude")}
    except ValueError:
        messages.error(request, "This form is incomplete; the group is shown again as it is now.")
        return redirect("review:group", pk)
    try:
        decisions = decide_group(
            group_id=group.pk,
            canonical_id=canonical,
            actor=request.user,
            seen_members=seen,
            exclude=exclude,
            note=request.POST.get("note", "").strip()[:2000],
        )
    except DecisionRefused as refused:
        messages.error(request, f"Not decided: {refused}.")
        return redirect("review:group", pk)
    proposed = any(d.status == Decision.Status.PROPOSED for d in decisions)
    verb = "proposed for an archivist's approval" if proposed else "merged"
    messages.success(request, f"{len(decisions)} pair(s) {verb} onto image {canonical}; {len(exclude)} split off.")
    return redirect("review:queue")


@require_GET
@login_required
def proposals(request: HttpRequest) -> HttpResponse:
    """Caseworkers' "same" on sensitive sources, waiting for a second person."""
    if not can(request.user, Capability.APPROVE):
        raise Http404("Not here.")
    sources = visible_sources(request.user)
    waiting = (
        Decision.objects.filter(status=Decision.Status.PROPOSED)
        .filter(candidate__asset_a__source__in=sources, candidate__asset_b__source__in=sources)
        .select_related("candidate", "decided_by")
        .order_by("decided_at", "pk")[:200]
    )
    return render(request, "review/proposals.html", {"waiting": waiting})


@require_POST
@login_required
def proposal_answer(request: HttpRequest, pk: int) -> HttpResponse:
    if not can(request.user, Capability.APPROVE):
        raise Http404("Not here.")
    decision = Decision.objects.filter(pk=pk, status=Decision.Status.PROPOSED).first()
    if decision is None:
        messages.error(request, "That proposal was already answered.")
        return redirect("review:proposals")
    try:
        if request.POST.get("answer") == "approve":
            decision_approve(decision_id=pk, actor=request.user)
            messages.success(request, f"Approved: pair {decision.candidate_id} merged.")
        else:
            decision_reject(decision_id=pk, actor=request.user, note=request.POST.get("note", ""))
            messages.success(request, f"Rejected: pair {decision.candidate_id} stays open.")
    except DecisionRefused as refused:
        messages.error(request, str(refused))
    return redirect("review:proposals")
