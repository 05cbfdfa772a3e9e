"""The review desk: the queue, the side-by-side review of a pair, decisions, undo and the images.

One review page serves both a full load and htmx: after a decision the response is the next
pair's desk fragment (and its URL is pushed), so a reviewer never waits for a whole page. Every
view checks access itself (review.access); the templates only hide what the server refuses anyway.
"""

import io
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from PIL import Image, ImageChops, ImageOps

from dedupe.audit import audit_record
from dedupe.models import Asset, Attachment, Candidate
from dedupe.roles import GRANTS, Capability, can

from .access import asset_for, audit_image_view, private_image, visible_candidates, visible_sources
from .models import Decision, ReviewAssignment
from .services.decisions import (
    AlreadyDecided,
    DecisionRefused,
    decide_candidate,
    decision_reverse,
    last_decision_id,
)
from .services.groups import suggest_canonical
from .services.merges import holds_on

PAGE_SIZE = 50
RECENT = 10
# Skipped pairs stay out of this reviewer's way for the session, newest kept.
MAX_SKIPPED = 500
# libjpeg's standard luminance table at quality 50, in zig-zag order as Pillow reports tables.
_STD_LUMA = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37,
    29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
    95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
]  # fmt: skip


def candidate_for(user, pk: int) -> Candidate:
    try:
        return visible_candidates(user).select_related("asset_a__source", "asset_b__source").get(pk=pk)
    except Candidate.DoesNotExist:
        raise Http404("No such candidate.") from None


def queue_order(candidates: QuerySet[Candidate]) -> QuerySet[Candidate]:
    """Most useful first: exact copies (bulk-approvable), then address conflicts, then by score.

    The order is Candidate.priority (stored), -score, id: one index, candidate_desk_queue, serves
    the queue page, the keyset cursor and "the next pair" without sorting the open pairs.
    """
    return candidates.order_by("priority", "-score", "id")


def after_cursor(candidates: QuerySet[Candidate], priority: int, score: float, pk: int) -> QuerySet[Candidate]:
    """Keyset: the rows after (priority, score, id) in queue order, without OFFSET."""
    return candidates.filter(
        Q(priority__gt=priority) | Q(priority=priority, score__lt=score) | Q(priority=priority, score=score, id__gt=pk)
    )


def _filtered(request: HttpRequest) -> tuple[QuerySet[Candidate], dict[str, str]]:
    """The open candidates the person may see, narrowed by the queue's filters (kept in the URL)."""
    names = ("source", "kind", "min_score", "cross_source", "conflict", "assigned")
    params = {k: request.GET.get(k, "") for k in names}
    candidates = visible_candidates(request.user).filter(status=Candidate.Status.OPEN)
    if params["source"]:
        candidates = candidates.filter(
            Q(asset_a__source__slug=params["source"]) | Q(asset_b__source__slug=params["source"])
        )
    if params["kind"] in Candidate.Kind.values:
        candidates = candidates.filter(kind=params["kind"])
    try:
        if params["min_score"]:
            candidates = candidates.filter(score__gte=float(params["min_score"]))
    except ValueError:
        params["min_score"] = ""
    if params["cross_source"]:
        candidates = candidates.filter(cross_source=True)
    if params["conflict"]:
        candidates = candidates.filter(address_conflict=True)
    if params["assigned"] == "me":
        candidates = candidates.filter(assignment__reviewer=request.user)
    elif params["assigned"] == "none":
        candidates = candidates.filter(assignment__isnull=True)
    elif params["assigned"]:
        candidates = candidates.filter(assignment__reviewer__username=params["assigned"])
    return queue_order(candidates), params


def _cursor(text: str) -> tuple[int, float, int] | None:
    try:
        rank, score, pk = text.split("_")
        return int(rank), float(score), int(pk)
    except ValueError:
        return None


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    candidates, params = _filtered(request)
    cursor = _cursor(request.GET.get("after", ""))
    if cursor:
        candidates = after_cursor(candidates, *cursor)
    page = list(
        candidates.select_related("asset_a__source", "asset_b__source", "group", "assignment__reviewer")[
            : PAGE_SIZE + 1
        ]
    )
    last = page[PAGE_SIZE - 1] if len(page) > PAGE_SIZE else None
    query = "&".join(f"{k}={v}" for k, v in params.items() if v)
    return render(
        request,
        "review/queue.html",
        {
            "candidates": page[:PAGE_SIZE],
            "params": params,
            "query": query,
            "next_cursor": f"{last.priority}_{last.score!r}_{last.pk}" if last else None,
            "sources": visible_sources(request.user).order_by("name"),
            "kinds": Candidate.Kind.choices,
            "first": page[0] if page else None,
            "can_assign": can(request.user, Capability.APPROVE),
            "reviewers": reviewers() if can(request.user, Capability.APPROVE) else [],
        },
    )


def reviewers() -> QuerySet:
    """People who may decide: the choices when handing out pairs."""
    deciders = get_user_model().objects.filter(is_active=True, groups__name__in=GRANTS[Capability.DECIDE])
    return deciders.distinct().order_by("username")


@require_POST
@login_required
def queue_assign(request: HttpRequest) -> HttpResponse:
    """Hand the ticked pairs to one reviewer (or take them back); pairs the reviewer may not see are refused."""
    if not can(request.user, Capability.APPROVE):
        raise Http404("Not here.")
    ids = [int(pk) for pk in request.POST.getlist("candidate") if pk.isdigit()]
    name = request.POST.get("reviewer", "")
    back = request.POST.get("next", "")
    back = back if back.startswith("/queue/") else reverse("review:queue")
    pairs = list(visible_candidates(request.user).filter(pk__in=ids, status=Candidate.Status.OPEN))
    if not name:
        with transaction.atomic():
            gone = ReviewAssignment.objects.filter(candidate__in=pairs)
            audit_record(action="queue.unassign", actor=request.user, subjects=[("candidate", c.pk) for c in pairs])
            gone.delete()
        messages.success(request, f"{len(pairs)} pair(s) back in the common queue.")
        return redirect(back)
    reviewer = reviewers().filter(username=name).first()
    if reviewer is None:
        messages.error(request, f"{name} cannot review pairs.")
        return redirect(back)
    allowed = set(visible_candidates(reviewer).filter(pk__in=[c.pk for c in pairs]).values_list("pk", flat=True))
    given = [c for c in pairs if c.pk in allowed]
    with transaction.atomic():
        for candidate in given:
            ReviewAssignment.objects.update_or_create(
                candidate=candidate, defaults={"reviewer": reviewer, "assigned_by": request.user}
            )
        audit_record(
            action="queue.assign",
            actor=request.user,
            subjects=[("user", reviewer.pk), *[("candidate", c.pk) for c in given]],
            after={"reviewer": reviewer.get_username(), "pairs": [c.pk for c in given]},
        )
    refused = len(pairs) - len(given)
    messages.success(request, f"{len(given)} pair(s) assigned to {reviewer.get_username()}.")
    if refused:
        messages.warning(request, f"{refused} pair(s) not assigned: {name} may not see their sources.")
    return redirect(back)


@dataclass
class Row:
    label: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        return self.a != self.b


def jpeg_quality(asset: Asset) -> int | None:
    """An estimate of the JPEG quality from its luminance table (no decode): re-saved copies score lower."""
    if asset.format != "JPEG" or not asset.storage_name or asset.state == Asset.State.PURGED:
        return None
    try:
        with default_storage.open(asset.storage_name, "rb") as f, Image.open(f) as image:
            table = image.quantization.get(0)
    except Exception:  # noqa: BLE001 - a missing or odd file has no estimate; the page still shows
        return None
    if not table:
        return None
    scale = sum(t * 100 / s for t, s in zip(table, _STD_LUMA, strict=False)) / len(_STD_LUMA)
    quality = 5000 / scale if scale > 100 else (200 - scale) / 2
    return max(1, min(100, round(quality)))


def _records(asset: Asset, user) -> list[Attachment]:
    return list(
        Attachment.objects.filter(asset=asset, record__source__in=visible_sources(user))
        .select_related("record")
        .order_by("pk")
    )


def _facts(candidate: Candidate, user) -> tuple[list[Row], dict]:
    a, b = candidate.asset_a, candidate.asset_b
    shown = {a.pk: _records(a, user), b.pk: _records(b, user)}

    def records(asset: Asset) -> str:
        return ", ".join(f"{x.record.external_id} (slot {x.slot})" for x in shown[asset.pk]) or "none"

    def addresses(asset: Asset) -> str:
        return "; ".join(sorted({x.record.address for x in shown[asset.pk]})) or "none"

    def captured(asset: Asset) -> str:
        moment = asset.exif_captured_at or asset.captured_at
        return f"{moment:%Y-%m-%d %H:%M}" if moment else "unknown"

    def holds(asset: Asset) -> str:
        return "; ".join(holds_on(asset)) or "none"

    rows = [
        Row("Source", a.source.name, b.source.name),
        Row("Record", records(a), records(b)),
        Row("Address", addresses(a), addresses(b)),
        Row("Captured", captured(a), captured(b)),
        Row(
            "Dimensions",
            f"{a.width} × {a.height}" if a.width else "unknown",
            f"{b.width} × {b.height}" if b.width else "unknown",
        ),
        Row("Bytes", f"{a.byte_size:,}", f"{b.byte_size:,}"),
        Row("Format", a.format or "unknown", b.format or "unknown"),
        Row("JPEG quality (estimate)", jpeg_quality(a) or "–", jpeg_quality(b) or "–"),
        Row("File", a.origin_path, b.origin_path),
        Row("State", a.get_state_display(), b.get_state_display()),
        Row("Legal hold", holds(a), holds(b)),
    ]
    return sorted(rows, key=lambda row: not row.differs), shown


def _next_after(user, candidate: Candidate, skipped: list[int]) -> Candidate | None:
    ordered = queue_order(visible_candidates(user).filter(status=Candidate.Status.OPEN)).exclude(pk__in=skipped)
    following = after_cursor(ordered, candidate.priority, candidate.score, candidate.pk).first()
    return following or ordered.exclude(pk=candidate.pk).first()


def _desk_context(request: HttpRequest, candidate: Candidate, error: str = "") -> dict:
    rows, shown = _facts(candidate, request.user)
    keep, why = suggest_canonical([candidate.asset_a_id, candidate.asset_b_id])
    recent = (
        Decision.objects.filter(decided_by=request.user)
        .select_related("candidate")
        .order_by("-decided_at", "-id")[:RECENT]
    )
    nxt = _next_after(request.user, candidate, request.session.get("skipped", []))
    return {
        "candidate": candidate,
        "a": candidate.asset_a,
        "b": candidate.asset_b,
        "rows": rows,
        "shown": [(candidate.asset_a, shown[candidate.asset_a_id]), (candidate.asset_b, shown[candidate.asset_b_id])],
        "keep": keep,
        "why": why,
        "seen": last_decision_id(candidate.pk),
        "decision": Decision.objects.filter(candidate=candidate).select_related("decided_by").order_by("-id").first(),
        "recent": recent,
        "next": nxt,
        "reasons": Decision.Reason.choices,
        "can_decide": can(request.user, Capability.DECIDE),
        "error": error,
        "evidence": sorted(candidate.evidence.items()),
    }


@require_GET
@login_required
def candidate_review(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = candidate_for(request.user, pk)
    template = "review/candidate.html#desk" if request.htmx and not request.htmx.history_restore_request else None
    return render(request, template or "review/candidate.html", _desk_context(request, candidate))


def _show_next(request: HttpRequest, candidate: Candidate) -> HttpResponse:
    """After a decision: the next pair's desk (htmx) or page (plain POST), or the empty queue."""
    nxt = _next_after(request.user, candidate, request.session.get("skipped", []))
    if nxt is None:
        if request.htmx:
            response = HttpResponse()
            response["HX-Redirect"] = reverse("review:queue")
            return response
        return redirect("review:queue")
    if not request.htmx:
        return redirect("review:candidate", nxt.pk)
    nxt = candidate_for(request.user, nxt.pk)
    response = render(request, "review/candidate.html#desk", _desk_context(request, nxt))
    response["HX-Push-Url"] = reverse("review:candidate", args=[nxt.pk])
    return response


def _refused(request: HttpRequest, candidate: Candidate, message: str) -> HttpResponse:
    candidate = candidate_for(request.user, candidate.pk)
    template = "review/candidate.html#desk" if request.htmx else "review/candidate.html"
    return render(request, template, _desk_context(request, candidate, error=message), status=409)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@require_POST
@login_required
def candidate_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Same / different / wrong attachment / skip, then the next pair."""
    candidate = candidate_for(request.user, pk)
    verdict = request.POST.get("verdict", "")
    if verdict == "skip":
        skipped = [p for p in request.session.get("skipped", []) if p != pk][-MAX_SKIPPED + 1 :]
        request.session["skipped"] = [*skipped, pk]
        return _show_next(request, candidate)
    if not can(request.user, Capability.DECIDE):
        raise Http404("Not here.")
    seen = _int(request.POST.get("seen"))
    if seen is None:
        return _refused(request, candidate, "This form is incomplete; the pair is shown again as it is now.")
    try:
        decide_candidate(
            candidate_id=pk,
            verdict=verdict,
            actor=request.user,
            seen=seen,
            canonical_id=_int(request.POST.get("canonical")),
            reason=request.POST.get("reason", ""),
            wrong_attachment_id=_int(request.POST.get("wrong_attachment")),
            note=request.POST.get("note", "").strip()[:2000],
        )
    except AlreadyDecided as taken:
        return _refused(request, candidate, str(taken))
    except DecisionRefused as refused:
        return _refused(request, candidate, f"Not decided: {refused}.")
    return _show_next(request, candidate)


@require_POST
@login_required
def decision_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Reverse one of my recent decisions (the unmerge runs) and reopen its pair for a new decision."""
    decision = Decision.objects.filter(pk=pk, decided_by=request.user).first()
    if decision is None or not can(request.user, Capability.DECIDE):
        raise Http404("No such decision of yours.")
    candidate = candidate_for(request.user, decision.candidate_id)
    try:
        decision_reverse(decision_id=pk, actor=request.user, reason=request.POST.get("reason", "undone at the desk"))
    except DecisionRefused as refused:
        return _refused(request, candidate, f"Not undone: {refused}.")
    if request.htmx:
        response = render(
            request, "review/candidate.html#desk", _desk_context(request, candidate_for(request.user, candidate.pk))
        )
        response["HX-Push-Url"] = reverse("review:candidate", args=[candidate.pk])
        return response
    return redirect("review:candidate", candidate.pk)


@require_GET
@login_required
def asset_original(request: HttpRequest, pk: int) -> FileResponse:
    """The original file, only when someone zooms in; never a public media URL."""
    asset = asset_for(request.user, pk)
    if asset.state == Asset.State.PURGED or not asset.storage_name or not default_storage.exists(asset.storage_name):
        raise Http404("The original's bytes are not stored.")
    audit_image_view(request, asset, "original")
    content_type = Image.MIME.get((asset.format or "").upper(), "application/octet-stream")
    return private_image(FileResponse(default_storage.open(asset.storage_name, "rb"), content_type=content_type))


@require_GET
@login_required
def candidate_difference(request: HttpRequest, pk: int) -> HttpResponse:
    """Where the two images differ, amplified, from their thumbnails scaled to one size."""
    candidate = candidate_for(request.user, pk)
    images = []
    for asset in (candidate.asset_a, candidate.asset_b):
        if not asset.thumbnail_name:
            raise Http404("No thumbnail to compare.")
        audit_image_view(request, asset, "difference")
        with default_storage.open(asset.thumbnail_name, "rb") as f, Image.open(f) as image:
            images.append(image.convert("RGB"))
    size = images[0].size
    difference = ImageChops.difference(images[0], images[1].resize(size))
    difference = ImageOps.autocontrast(difference.convert("L"), cutoff=1)
    out = io.BytesIO()
    difference.save(out, "PNG")
    return private_image(HttpResponse(out.getvalue(), content_type="image/png"))
