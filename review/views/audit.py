"""The auditor's workspace: the audit log filtered, one event with its evidence, timelines per
record, image and person, figures, and exports of any filtered view.

Read-only by construction: every view is GET, and the one thing any of them writes is the
audit event recording an export (`review.services.exports`). The queries are `review.selectors.audit`.
"""

import json
from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dedupe.actions import Subject
from dedupe.models import AuditEvent, Candidate
from dedupe.roles import Capability

from ..models import Decision
from ..selectors.audit import (
    AuditFilters,
    BadFilter,
    action_choices,
    actor_choices,
    actor_heading,
    decisions_per_day,
    events_page,
    events_timed,
    export_csv_lines,
    export_json_chunks,
    reversals,
    time_spent,
)
from ..selectors.visibility import (
    asset_for,
    record_for,
)
from ..services.exports import audit_export_record
from .shared import AuthenticatedHttpRequest, require

USER_DAYS = 7


FIGURE_DAYS = 30


def _events_page(
    request: AuthenticatedHttpRequest,
    template: str,
    context: dict[str, Any],
    events: QuerySet[AuditEvent] | None = None,
    **kw: Any,
) -> HttpResponse:
    """Render a filtered page of events; an unusable filter is shown with no rows, never ignored."""
    try:
        filters = AuditFilters.from_query(request.GET, **kw)
    except BadFilter as bad:
        context.update(error=str(bad), events=[], form=request.GET, actions=action_choices(), actors=actor_choices())
        return render(request, template, context, status=400)
    rows, next_before = events_page(filters.apply(events if events is not None else AuditEvent.objects.all()),
                              request.GET.get("before", ""))  # fmt: skip
    for row in rows:
        spent = time_spent(row)
        minutes, seconds = divmod(int(spent.total_seconds()), 60) if spent else (0, 0)
        vars(row)["time_spent_text"] = f"{minutes} min {seconds} s" if spent else ""  # for the template
    context.update(events=rows, next_before=next_before, filters=filters, form=request.GET,
                   query=filters.querystring(), actions=action_choices(), actors=actor_choices())  # fmt: skip
    return render(request, template, context)


@require_GET
@login_required
def audit_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The whole log, newest first, narrowed by any of the filters."""
    require(request.user, Capability.READ_AUDIT)
    return _events_page(request, "audit/log.html", {})


@require_GET
@login_required
def audit_event(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One event: before and after, what it concerns, where it came from, and for a decision
    the evidence as the reviewer saw it (recorded with the event) beside the pair's thumbnails."""
    require(request.user, Capability.READ_AUDIT)
    event = get_object_or_404(AuditEvent.objects.prefetch_related("subjects"), pk=pk)
    subjects = [_subject_link(s.kind, s.object_id) for s in event.subjects.all()]
    ids = defaultdict(list)
    for subject in subjects:
        if subject["kind"] in (Subject.DECISION, Subject.CANDIDATE) and subject["id"].isdigit():
            ids[subject["kind"]].append(int(subject["id"]))
    decisions = list(
        Decision.objects.filter(pk__in=ids[Subject.DECISION]).select_related("decided_by", "approved_by").order_by("pk")
    )
    wanted = set(ids[Subject.CANDIDATE]) | {d.candidate_id for d in decisions}
    candidates = Candidate.objects.filter(pk__in=wanted).select_related("asset_a", "asset_b").order_by("pk")
    snapshot = event.after.get("evidence") if isinstance(event.after, dict) else None
    context = {
        "event": event,
        "subjects": subjects,
        "before_json": _pretty(event.before),
        "after_json": _pretty(event.after),
        "decisions": decisions,
        "candidates": [{"candidate": c, "evidence_json": _pretty(c.evidence)} for c in candidates],
        "snapshot_json": _pretty(snapshot) if snapshot is not None else "",
        "reason_shown": event.reason or _decision_reason(event, decisions),
    }
    return render(request, "audit/event.html", context)


def _decision_reason(event: AuditEvent, decisions: list[Decision]) -> str:
    """A decision's reason code when it has no note: the header says what its card says."""
    coded = [d for d in decisions if d.reason]
    return "; ".join(f"{d.get_reason_display()} (decision {d.pk}'s reason code)" for d in coded)


def _subject_link(kind: str, object_id: str) -> dict[str, str]:
    """A subject with a link to its page and its timeline, where there is one."""
    urls = {"url": "", "timeline": ""}
    if object_id.isdigit() and kind == Subject.RECORD:
        urls = {"url": reverse("review:record-detail", args=[object_id]),
                "timeline": reverse("review:audit-timeline-record", args=[object_id])}  # fmt: skip
    elif object_id.isdigit() and kind == Subject.ASSET:
        urls = {"url": reverse("review:asset-detail", args=[object_id]),
                "timeline": reverse("review:audit-timeline-asset", args=[object_id])}  # fmt: skip
    elif kind == Subject.SOURCE:
        urls["url"] = reverse("review:audit-log") + "?" + urlencode({"source": object_id})
    elif object_id.isdigit() and kind == Subject.CANDIDATE:
        urls = {"url": reverse("review:candidate", args=[object_id]),
                "timeline": reverse("review:audit-log") + "?" + urlencode({"pair": object_id})}  # fmt: skip
    return {"kind": kind, "id": object_id, **urls}


def _pretty(value: Any) -> str:
    """JSON laid out for reading; the template escapes it (it holds untrusted text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


@require_GET
@login_required
def audit_timeline_record(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Everything that happened to one record and its placeholders."""
    require(request.user, Capability.READ_AUDIT)
    record = record_for(request.user, pk)
    context = {"heading": f"Record {record.external_id}", "record": record}
    return _events_page(request, "audit/timeline.html", context, record_pk=record.pk, record="")


@require_GET
@login_required
def audit_timeline_asset(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Everything that happened to one image: import, inspection, candidates, decisions, merges, purge."""
    require(request.user, Capability.READ_AUDIT)
    asset = asset_for(request.user, pk)
    context = {"heading": f"Image {asset.pk}", "asset": asset}
    return _events_page(request, "audit/timeline.html", context, asset=asset.pk)


@require_GET
@login_required
def audit_timeline_user(request: AuthenticatedHttpRequest, actor_id: int) -> HttpResponse:
    """What one person did over a date range (the last 7 days unless asked), with the time spent
    on each decision: the gap since that person's previous event, whatever it was, when under an hour."""
    require(request.user, Capability.READ_AUDIT)
    today = timezone.localdate()
    defaults = {"from": (today - timedelta(days=USER_DAYS - 1)).isoformat(), "to": today.isoformat()}
    return _events_page(
        request, "audit/timeline.html", {"heading": actor_heading(actor_id), "show_spent": True}, events_timed(),
        defaults=defaults, actor_id=actor_id,
    )  # fmt: skip


@require_GET
@login_required
def audit_figures(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Decisions per day by kind, and reversals per person, over a date range (30 days unless asked)."""
    require(request.user, Capability.READ_AUDIT)
    today = timezone.localdate()
    defaults = {"from": (today - timedelta(days=FIGURE_DAYS - 1)).isoformat(), "to": today.isoformat()}
    try:
        filters = AuditFilters.from_query(request.GET, defaults)
    except BadFilter as bad:
        return render(request, "audit/figures.html", {"error": str(bad), "form": request.GET}, status=400)
    span = AuditFilters(since=filters.since, until=filters.until).apply(AuditEvent.objects.all())
    actions, days = decisions_per_day(span)
    context = {"filters": filters, "form": request.GET, "actions": actions, "days": days,
               "reversals": reversals(span), "chart": _bars(days)}  # fmt: skip
    return render(request, "audit/figures.html", context)


def _bars(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Decisions per day as SVG bars, drawn on the server (no chart script to ship)."""
    top = max((d["total"] for d in days), default=0) or 1
    width = 24
    bars = [
        {"x": i * width, "y": 160 - round(150 * d["total"] / top), "height": round(150 * d["total"] / top), **d}
        for i, d in enumerate(days[-90:])
    ]
    return {"bars": bars, "width": max(len(bars) * width, width)}


@require_GET
@login_required
def audit_export(request: AuthenticatedHttpRequest, fmt: str) -> HttpResponseBase:
    """Any filtered view as CSV or JSON, streamed; the export is itself an audit event.

    It holds the events written before its own event, oldest first (chain order), so it is
    exactly the log as it stood when asked, however long the download takes.
    """
    require(request.user, Capability.READ_AUDIT)
    try:
        filters = AuditFilters.from_query(request.GET)
    except BadFilter as bad:
        return HttpResponseBadRequest(str(bad), content_type="text/plain; charset=utf-8")
    event = audit_export_record(actor=request.user, filters=filters, fmt=fmt)
    events = filters.apply(AuditEvent.objects.filter(pk__lt=event.pk))
    lines = export_csv_lines(events) if fmt == "csv" else export_json_chunks(events)
    response = StreamingHttpResponse(
        lines, content_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-{event.pk}.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response
