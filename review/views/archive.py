"""Pages for the archive itself: a source's records, finding a record, a record's and an image's
whole story, restoring a placeholder, and the merge map download.

A caseworker never reaches a source not assigned to them, whatever URL they type (the selectors
404); every change is a POST calling the same service the commands call.
"""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import Attachment, Record
from dedupe.roles import Capability, can

from ..forms import RestoreForm, first_error
from ..models import Decision, Merge, Purge
from ..selectors.imagery import missing_for
from ..selectors.records import record_page, record_story
from ..selectors.visibility import (
    asset_for,
    record_for,
    source_for,
    visible_candidates,
    visible_sources,
)
from ..services.mergemap import merge_map_csv_lines, merge_map_json_chunks
from ..services.placeholders import RestoreRefused, attachment_restore
from .shared import AuthenticatedHttpRequest, require


@require_GET
@login_required
def source_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    source = source_for(request.user, slug)
    records = source.records.annotate(
        attachment_count=Count("attachments"),
        missing=Count("attachments", filter=Q(attachments__state=Attachment.State.STRIPPED)),
    )
    return render(request, "review/source_detail.html", {"source": source, **record_page(records, request.GET)})


@require_GET
@login_required
def record_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    record = record_for(request.user, pk)
    attachments = record_story(request.user, record)
    shown = [a.asset_id for a in attachments if a.asset_id]
    pairs = visible_candidates(request.user)
    candidates = pairs.filter(Q(asset_a__in=shown) | Q(asset_b__in=shown)).order_by("-score", "pk")[:50]
    decisions = (  # only on pairs the person may open: another source's verdict is not theirs to read
        Decision.objects.filter(candidate__in=pairs)
        .filter(Q(candidate__asset_a__in=shown) | Q(candidate__asset_b__in=shown) | Q(wrong_attachment__record=record))
        .select_related("decided_by")
        .distinct()
        .order_by("-decided_at")[:50]
    )
    context = {
        "record": record,
        "attachments": attachments,
        "candidates": candidates,
        "decisions": decisions,
        "suggestions": missing_for(request.user, record),
        "can_restore": can(request.user, Capability.RESTORE),
    }
    return render(request, "review/record_detail.html", context)


@require_GET
@login_required
def record_search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Find a record by its id or address across every source the person may see."""
    records = Record.objects.filter(source__in=visible_sources(request.user)).select_related("source")
    if not request.GET.get("q", "").strip():
        records = records.none()  # an empty search lists nothing, not the whole archive
    return render(request, "review/record_search.html", record_page(records, request.GET))


@require_GET
@login_required
def asset_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
        Merge.objects.filter(duplicate=asset, canonical__source__in=visible)
        .select_related("canonical", "decision__decided_by")
        .order_by("-at")
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


@require_POST
@login_required
def attachment_restore_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Restore one stripped placeholder onto the image the person chose from its suggestions."""
    attachment = Attachment.objects.filter(pk=pk).select_related("record").first()
    if attachment is None:
        raise Http404("No such attachment.")
    record = record_for(request.user, attachment.record_id)  # 404 outside the person's sources
    require(request.user, Capability.RESTORE)
    form = RestoreForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form, plain=("asset",)))
        return redirect("review:record-detail", record.pk)
    asset_id, note = form.cleaned_data["asset"], form.cleaned_data["note"]
    try:
        attachment_restore(
            attachment_id=pk,
            asset_id=asset_id,
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
def merge_map(request: AuthenticatedHttpRequest) -> HttpResponse:
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
