"""Pages for the archive itself: finding a record, an image's whole story, restoring placeholders,
storage, the merge map download and bulk approval of byte-identical groups.

Every view starts from review.access, so a caseworker never reaches a source not assigned to them,
whatever URL they type; every change is a POST calling the same service the commands call.
"""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dedupe.models import Attachment, Record
from dedupe.roles import Capability, can

from .access import asset_for, record_for, require, visible_candidates, visible_sources
from .models import Decision, Merge, Purge
from .paging import record_page
from .services.decisions import DecisionRefused
from .services.groups import ExactPlan, exact_groups_apply, exact_groups_plan
from .services.mergemap import merge_map_csv_lines, merge_map_json_chunks
from .services.placeholders import RestoreRefused, attachment_restore, records_missing_imagery
from .services.storage import storage_figures

# A shown plan is signed into its form; applying an older one than this is refused.
PLAN_MAX_AGE = 3600


@require_GET
@login_required
def record_search(request: HttpRequest) -> HttpResponse:
    """Find a record by its id or address across every source the person may see."""
    records = Record.objects.filter(source__in=visible_sources(request.user)).select_related("source")
    if not request.GET.get("q", "").strip():
        records = records.none()  # an empty search lists nothing, not the whole archive
    return render(request, "review/record_search.html", record_page(request, records))


@require_GET
@login_required
def asset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One image: its facts, the placeholders showing it, and every merge in or out.

    The duplicates merged onto it keep their own file names, capture times and sources visible
    here, so a merge never hides where a copy came from.
    """
    asset = asset_for(request.user, pk)
    visible = visible_sources(request.user)
    merged_in = (
        Merge.objects.filter(canonical=asset, duplicate__source__in=visible)
        .select_related("duplicate__source", "decision__decided_by")
        .order_by("-at")
    )
    merged_out = (
        Merge.objects.filter(duplicate=asset).select_related("canonical", "decision__decided_by").order_by("-at")
    )
    shown_by = (
        Attachment.objects.filter(asset=asset, record__source__in=visible)
        .select_related("record__source")
        .order_by("pk")
    )
    candidates = (
        visible_candidates(request.user).filter(Q(asset_a=asset) | Q(asset_b=asset)).order_by("-score", "pk")[:50]
    )
    decisions = Decision.objects.filter(candidate__in=candidates).select_related("decided_by").order_by("-decided_at")
    return render(
        request,
        "review/asset_detail.html",
        {
            "asset": asset,
            "merged_in": merged_in,
            "merged_out": merged_out,
            "shown_by": shown_by,
            "candidates": candidates,
            "decisions": decisions,
            "purge": Purge.objects.filter(asset=asset).first(),
        },
    )


def missing_for(user, record: Record) -> dict[int, list]:
    """Restore suggestions per stripped attachment of the record, limited to what the person sees."""
    within = set(visible_sources(user).values_list("pk", flat=True))
    return {m.attachment_id: m.suggestions for m in records_missing_imagery(record_id=record.pk, within=within)}


@require_POST
@login_required
def attachment_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Restore one stripped placeholder onto the image the person chose from its suggestions."""
    attachment = Attachment.objects.filter(pk=pk).select_related("record").first()
    if attachment is None:
        raise Http404("No such attachment.")
    record = record_for(request.user, attachment.record_id)  # 404 outside the person's sources
    require(request.user, Capability.RESTORE)
    asset_id = request.POST.get("asset", "")
    if not asset_id.isdigit():
        messages.error(request, "Choose the image to restore.")
        return redirect("review:record-detail", record.pk)
    note = request.POST.get("note", "").strip()
    try:
        attachment_restore(
            attachment_id=pk,
            asset_id=int(asset_id),
            actor=request.user,
            reason=note or f"restored from the record page onto image {asset_id}",
        )
    except RestoreRefused as refused:
        messages.error(request, f"Not restored: {refused}.")
    else:
        messages.success(request, f"Slot {attachment.slot} shows image {asset_id} again.")
    return redirect("review:record-detail", record.pk)


@require_GET
@login_required
def storage(request: HttpRequest) -> HttpResponse:
    """Bytes active, quarantined and reclaimed per source, reclamation over time, and what is pending."""
    require(request.user, Capability.SEE_STORAGE)
    within = (
        None
        if can(request.user, Capability.SEE_ALL_SOURCES)
        else set(visible_sources(request.user).values_list("pk", flat=True))
    )
    figures = storage_figures(within=within)
    return render(request, "review/storage.html", {"figures": figures, "chart": _chart(figures.reclaimed_by_day)})


def _chart(per_day: list[tuple[date, int]]) -> dict:
    """Bars for the reclaimed-bytes chart, drawn as SVG on the server (no chart script to ship)."""
    cumulative, total = [], 0
    for day, size in per_day:
        total += size
        cumulative.append((day, size, total))
    top = max((t for _, _, t in cumulative), default=0) or 1
    width = 24
    bars = [
        {
            "x": i * width,
            "y": 160 - round(150 * t / top),
            "height": round(150 * t / top),
            "day": day,
            "bytes": size,
            "total": t,
        }
        for i, (day, size, t) in enumerate(cumulative[-60:])
    ]
    return {"bars": bars, "width": max(len(bars) * width, width)}


@require_GET
@login_required
def merge_map(request: HttpRequest) -> HttpResponse:
    """The merge map form; with `format`, the CSV or JSON file itself, streamed."""
    require(request.user, Capability.EXPORT_MERGE_MAP)
    form_format = request.GET.get("format")
    sources = visible_sources(request.user).order_by("slug")
    if form_format is None:
        return render(request, "review/merge_map.html", {"sources": sources})
    if form_format not in ("csv", "json"):
        raise Http404("Unknown format.")
    source = request.GET.get("source") or None
    if source is not None and not sources.filter(slug=source).exists():
        raise Http404("No such source.")
    try:
        since, until = (_day(request.GET.get(name)) for name in ("since", "until"))
    except ValueError as bad:
        messages.error(request, str(bad))
        return redirect("review:merge-map")
    make = merge_map_csv_lines if form_format == "csv" else merge_map_json_chunks
    response = StreamingHttpResponse(
        make(source=source, since=since, until=until),
        content_type="text/csv; charset=utf-8" if form_format == "csv" else "application/json",
    )
    name = f"merge-map-{source or 'all'}-{since or 'start'}-{until or 'now'}.{form_format}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


@require_http_methods(["GET", "POST"])
@login_required
def exact_groups(request: HttpRequest) -> HttpResponse:
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
