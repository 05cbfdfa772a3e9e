"""Pages for the archive itself: a source's records, finding a record, a record's and an image's
whole story, restoring a placeholder, and the merge map download.

A caseworker never reaches a source not assigned to them, whatever URL they type (the selectors
404); every change is a POST calling the same service the commands call.
"""

from datetime import date
from itertools import islice

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import Attachment, Record
from dedupe.roles import Capability, can

from ..forms import RestoreForm, first_error
from ..selectors.history import asset_history, record_history
from ..selectors.imagery import missing_for, records_missing_imagery
from ..selectors.records import record_page
from ..selectors.visibility import (
    asset_for,
    record_for,
    source_for,
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
    context = {
        "record": record,
        **record_history(request.user, record),
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
    context = {"asset": asset, **asset_history(request.user, asset)}
    return render(request, "review/asset_detail.html", context)


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
    back = redirect("review:missing-imagery") if request.POST.get("back") == "missing" else None
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
        messages.success(request, f"Record {record.external_id}, slot {attachment.slot} shows image {asset_id} again.")
    return back or redirect("review:record-detail", record.pk)


MISSING_PAGE = 50


@require_GET
@login_required
def missing_imagery(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every stripped placeholder in the person's sources (or one of them), with what could restore
    each and a restore button: the caseworker's list, linked from the home page's figure."""
    within = set(visible_sources(request.user).values_list("pk", flat=True))
    slug = request.GET.get("source") or None
    source = source_for(request.user, slug) if slug else None  # 404 for a source not theirs
    after = int(request.GET["after"]) if request.GET.get("after", "").isdigit() else 0
    found = list(islice(records_missing_imagery(source=slug, within=within, after=after), MISSING_PAGE + 1))
    page, more = found[:MISSING_PAGE], len(found) > MISSING_PAGE
    context = {
        "missing": page,
        "source": source,
        "sources": visible_sources(request.user).order_by("name"),
        "next_after": page[-1].attachment_id if more else None,
        "can_restore": can(request.user, Capability.RESTORE),
    }
    return render(request, "review/missing_imagery.html", context)


@require_GET
@login_required
def merge_map(request: AuthenticatedHttpRequest) -> HttpResponseBase:
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
