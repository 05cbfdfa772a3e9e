"""The review desk: the queue, the side-by-side review of a pair, decisions and undo.

One review page serves both a full load and htmx: after a decision the response is the next
pair's desk fragment (and its URL is pushed), so a reviewer never waits for a whole page. Every
view checks access itself; the templates only hide what the server refuses anyway.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import Candidate
from dedupe.roles import Capability, can

from ..forms import AssignmentForm, DecisionForm, first_error
from ..models import Decision, Reversal
from ..selectors.facts import alignment_of, compare_rows, records_shown
from ..selectors.groups import keeper_suggestion
from ..selectors.queue import after_cursor, cursor_of, cursor_parse, next_after, pair_moved, queue_filtered, reviewers
from ..selectors.visibility import (
    candidate_for,
    visible_candidates,
    visible_sources,
)
from ..services.assignments import assignments_clear, assignments_give
from ..services.authority import DecisionRefused
from ..services.decisions import AlreadyDecided, decide_candidate, decision_reverse, last_decision_id
from .shared import HtmxHttpRequest, require

PAGE_SIZE = 50


RECENT = 10


# Skipped pairs stay out of this reviewer's way for the session, newest kept.
MAX_SKIPPED = 500


@require_GET
@login_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    candidates, params = queue_filtered(request.user, request.GET)
    by_kind = dict(candidates.order_by().values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    totals = [(label, by_kind[value]) for value, label in Candidate.Kind.choices if by_kind.get(value)]
    cursor = cursor_parse(request.GET.get("after", ""))
    if cursor:
        candidates = after_cursor(candidates, *cursor)
    page = list(
        candidates.select_related("asset_a__source", "asset_b__source", "group", "assignment__reviewer")[
            : PAGE_SIZE + 1
        ]
    )
    last = page[PAGE_SIZE - 1] if len(page) > PAGE_SIZE else None
    query = urlencode({k: v for k, v in params.items() if v})
    return render(
        request,
        "review/queue.html",
        {
            "candidates": page[:PAGE_SIZE],
            "params": params,
            "query": query,
            "next_cursor": cursor_of(last) if last else None,
            "sources": visible_sources(request.user).order_by("name"),
            "kinds": Candidate.Kind.choices,
            "first": page[0] if page else None,
            "totals": totals,
            "total": sum(by_kind.values()),
            "can_assign": can(request.user, Capability.APPROVE),
            "reviewers": reviewers() if can(request.user, Capability.APPROVE) else [],
        },
    )


@require_POST
@login_required
def queue_assign(request: HtmxHttpRequest) -> HttpResponse:
    """Hand the ticked pairs to one reviewer (or take them back); pairs the reviewer may not see are refused."""
    require(request.user, Capability.APPROVE)
    form = AssignmentForm(request.POST)
    back = request.POST.get("next", "")
    back = back if back.startswith("/queue/") else reverse("review:queue")
    if not form.is_valid():
        messages.error(request, f"Nothing assigned: {first_error(form)}")
        return redirect(back)
    name = form.cleaned_data["reviewer"]
    pairs = list(
        visible_candidates(request.user).filter(pk__in=form.cleaned_data["candidate"], status=Candidate.Status.OPEN)
    )
    if not name:
        assignments_clear(actor=request.user, candidates=pairs)
        messages.success(request, f"{len(pairs)} pair(s) back in the common queue.")
        return redirect(back)
    reviewer = reviewers().filter(username=name).first()
    if reviewer is None:
        messages.error(request, f"{name} cannot review pairs.")
        return redirect(back)
    given = assignments_give(actor=request.user, reviewer=reviewer, candidates=pairs)
    refused = len(pairs) - len(given)
    messages.success(request, f"{len(given)} pair(s) assigned to {reviewer.get_username()}.")
    if refused:
        messages.warning(request, f"{refused} pair(s) not assigned: {name} may not see their sources.")
    return redirect(back)


def _desk_context(request: HtmxHttpRequest, candidate: Candidate, error: str = "", notice: str = "") -> dict:
    pair = [candidate.asset_a, candidate.asset_b]
    shown = records_shown(pair, request.user)
    keep, why, facts = keeper_suggestion([candidate.asset_a_id, candidate.asset_b_id])
    recent = list(
        Decision.objects.filter(decided_by=request.user)
        .select_related("candidate")
        .order_by("-decided_at", "-id")[:RECENT]
    )
    # `u` undoes the newest decision still standing, so pressing it again walks back through them.
    undo_next = next((d.pk for d in recent if d.status in (Decision.Status.APPLIED, Decision.Status.PROPOSED)), None)
    nxt = next_after(request.user, candidate, request.session.get("skipped", []))
    return {
        "candidate": candidate,
        "a": candidate.asset_a,
        "b": candidate.asset_b,
        "rows": compare_rows(pair, request.user, shown),
        "shown_assets": pair,
        "alignment": alignment_of(candidate),
        "shown": [
            (asset, shown[asset.pk], facts.get(asset.pk, "")) for asset in (candidate.asset_a, candidate.asset_b)
        ],
        "keep": keep,
        "why": why,
        "seen": last_decision_id(candidate.pk),
        "decision": Decision.objects.filter(candidate=candidate).select_related("decided_by").order_by("-id").first(),
        "moved": pair_moved(candidate),
        "recent": recent,
        "undo_next": undo_next,
        "next": nxt,
        "reasons": Decision.Reason.choices,
        "can_decide": can(request.user, Capability.DECIDE),
        "error": error,
        "notice": notice,
        "evidence": sorted(candidate.evidence.items()),
    }


@require_GET
@login_required
def candidate_review(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    candidate = candidate_for(request.user, pk)
    template = "review/candidate.html#desk" if request.htmx and not request.htmx.history_restore_request else None
    return render(request, template or "review/candidate.html", _desk_context(request, candidate))


def _show_next(request: HtmxHttpRequest, candidate: Candidate, notice: str = "") -> HttpResponse:
    """After a decision: the next pair's desk (htmx) or page (plain POST), or the empty queue.

    A notice (a decision only proposed) goes on the next desk for htmx, as a message otherwise.
    """
    nxt = next_after(request.user, candidate, request.session.get("skipped", []))
    if notice and (nxt is None or not request.htmx):
        messages.info(request, notice)
    if nxt is None:
        if request.htmx:
            response = HttpResponse()
            response["HX-Redirect"] = reverse("review:queue")
            return response
        return redirect("review:queue")
    if not request.htmx:
        return redirect("review:candidate", nxt.pk)
    nxt = candidate_for(request.user, nxt.pk)
    response = render(request, "review/candidate.html#desk", _desk_context(request, nxt, notice=notice))
    response["HX-Push-Url"] = reverse("review:candidate", args=[nxt.pk])
    return response


def _refused(request: HtmxHttpRequest, candidate: Candidate, message: str) -> HttpResponse:
    candidate = candidate_for(request.user, candidate.pk)
    template = "review/candidate.html#desk" if request.htmx else "review/candidate.html"
    return render(request, template, _desk_context(request, candidate, error=message), status=409)


@require_POST
@login_required
def candidate_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Same / different / wrong attachment / skip, then the next pair."""
    candidate = candidate_for(request.user, pk)
    verdict = request.POST.get("verdict", "")
    if verdict == "skip":
        skipped = [p for p in request.session.get("skipped", []) if p != pk][-MAX_SKIPPED + 1 :]
        request.session["skipped"] = [*skipped, pk]
        return _show_next(request, candidate)
    require(request.user, Capability.DECIDE)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        if "seen" in form.errors:
            return _refused(request, candidate, "This form is incomplete; the pair is shown again as it is now.")
        return _refused(request, candidate, f"Not decided: {first_error(form)}")
    data = form.cleaned_data
    try:
        decision = decide_candidate(
            candidate_id=pk,
            verdict=data["verdict"],
            actor=request.user,
            seen=data["seen"],
            canonical_id=data["canonical"],
            reason=data["reason"],
            wrong_attachment_id=data["wrong_attachment"],
            note=data["note"],
        )
    except AlreadyDecided as taken:
        return _refused(request, candidate, str(taken))
    except DecisionRefused as refused:
        return _refused(request, candidate, f"Not decided: {refused}.")
    return _show_next(request, candidate, notice=_proposed_notice(decision))


def _proposed_notice(decision: Decision) -> str:
    if decision.status != Decision.Status.PROPOSED:
        return ""
    return (
        f"Pair {decision.candidate_id}: your {decision.get_verdict_display().lower()} is proposed, not applied: "
        f"{decision.proposed_because}. An archivist answers it on the proposals page."
    )


@require_POST
@login_required
def decision_undo(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Reverse one of my recent decisions (the unmerge runs) and reopen its pair for a new decision."""
    decision = Decision.objects.filter(pk=pk, decided_by=request.user).first()
    if decision is None or not can(request.user, Capability.DECIDE):
        raise Http404("No such decision of yours.")
    candidate = candidate_for(request.user, decision.candidate_id)
    try:
        outcome = decision_reverse(
            decision_id=pk, actor=request.user, reason=request.POST.get("reason", "undone at the desk")
        )
    except DecisionRefused as refused:
        return _refused(request, candidate, f"Not undone: {refused}.")
    if isinstance(outcome, Reversal):
        notice = f"Not undone yet: {outcome.because}. An archivist answers your request on the proposals page."
        if request.htmx:
            return render(request, "review/candidate.html#desk", _desk_context(request, candidate, notice=notice))
        messages.info(request, notice)
    if request.htmx:
        response = render(
            request, "review/candidate.html#desk", _desk_context(request, candidate_for(request.user, candidate.pk))
        )
        response["HX-Push-Url"] = reverse("review:candidate", args=[candidate.pk])
        return response
    return redirect("review:candidate", candidate.pk)
