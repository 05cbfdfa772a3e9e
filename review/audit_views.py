"""The auditor's workspace: the audit log filtered, one event with its evidence, timelines per
record, image and person, figures, and exports of any filtered view.

Read-only by construction: every view is GET, and the one thing any of them writes is the
audit event recording an export. Filters on what an event concerns (source, record, image)
go through AuditSubject with an EXISTS subquery that its (kind, object_id, event) index
answers, and pages are cut by id (keyset), never by OFFSET, so the page after event 1,000,000
costs what the first one does.
"""

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dedupe.audit import audit_record
from dedupe.models import Asset, Attachment, AuditEvent, AuditSubject, Candidate, Record, Source
from dedupe.roles import Capability

from .access import asset_for, record_for, require
from .models import Decision

PAGE_SIZE = 50
# Events per database round trip while exporting; with their subjects about 2 kB each, so a
# chunk holds a few megabytes whatever the size of the export.
EXPORT_CHUNK = 2000
USER_DAYS = 7
FIGURE_DAYS = 30
# A longer gap between a person's events is a break, not time spent on the decision.
TIME_SPENT_LIMIT = timedelta(hours=1)
# Every stored column, hash-chain fields included, so an export can be checked away from here.
EXPORT_FIELDS = tuple(f.attname for f in AuditEvent._meta.concrete_fields)
# Query-string names of the filters, in the order a description lists them.
FILTER_NAMES = {
    "actor": "actor", "actor_id": "actor_id", "action": "action", "source": "source", "record": "record",
    "record_pk": "record_pk", "asset": "asset", "since": "from", "until": "to", "text": "q",
}  # fmt: skip


class BadFilter(ValueError):
    """A filter that cannot be applied as typed; shown, never silently dropped."""


@dataclass(frozen=True)
class AuditFilters:
    """What the person asked to see. Dates are whole days in the site's time zone, both inclusive.

    `action` is exact, or a prefix when it ends with "." or "*" ("decision." is every decision).
    `record` is an external id or a record's pk (both match); `record_pk` only the pk.
    """

    actor: str = ""
    actor_id: int | None = None
    action: str = ""
    source: str = ""
    record: str = ""
    record_pk: int | None = None
    asset: int | None = None
    since: date | None = None
    until: date | None = None
    text: str = ""

    @classmethod
    def from_query(cls, query: QueryDict, defaults: dict[str, str] | None = None, **fixed: Any) -> "AuditFilters":
        """Filters from a query string; `defaults` fill names absent from it, `fixed` override it."""
        raw = {name: query.get(name, "").strip() for name in FILTER_NAMES.values()}
        for name, value in (defaults or {}).items():
            if name not in query:
                raw[name] = value
        values: dict[str, Any] = {}
        for attr, name in FILTER_NAMES.items():
            text = raw.get(name, "")
            if attr in ("actor_id", "record_pk", "asset"):
                values[attr] = _number(name, text)
            elif attr in ("since", "until"):
                values[attr] = _date(name, text)
            else:
                values[attr] = text
        return cls(**{**values, **fixed})

    def as_dict(self) -> dict[str, str]:
        """The filters set, by query-string name: for links, the export's query and its event."""
        return {
            FILTER_NAMES[f.name]: str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) not in ("", None)
        }

    def querystring(self) -> str:
        return urlencode(self.as_dict())

    def describe(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.as_dict().items()) or "all events"

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.actor:
            events = events.filter(actor_name=self.actor)
        if self.actor_id is not None:
            events = events.filter(actor_id=self.actor_id)
        if self.action.endswith((".", "*")):
            events = events.filter(action__startswith=self.action.rstrip("*"))
        elif self.action:
            events = events.filter(action=self.action)
        if self.text:
            events = events.filter(reason__icontains=self.text)
        if self.since:
            events = events.filter(at__gte=_day_start(self.since))
        if self.until:
            events = events.filter(at__lt=_day_start(self.until + timedelta(days=1)))
        for about, narrow in self._subjects():
            if narrow:
                # A record or an image is named by few events: read their ids off the subject index
                # and look those up, rather than walking the log newest first testing each event
                # (SQLite's plan for EXISTS; 560 ms at a million events, against ~20 ms this way).
                events = events.filter(pk__in=AuditSubject.objects.filter(about).values("event_id"))
            else:
                events = events.filter(Exists(AuditSubject.objects.filter(about, event=OuterRef("pk"))))
        return events

    def _subjects(self) -> Iterator[tuple[Q, bool]]:
        """One condition on AuditSubject per filter on what the event concerns, and whether few
        events match it (a record, an image) or many (a source)."""
        if self.source:
            source = Source.objects.filter(slug=self.source).first()
            yield (
                Q(pk__in=[])
                if source is None
                else Q(kind="source", object_id__in=[source.slug, str(source.pk)])
                | Q(kind="record", object_id__in=_keys(Record.objects.filter(source=source)))
                | Q(kind="asset", object_id__in=_keys(Asset.objects.filter(source=source))),
                False,
            )
        if self.record or self.record_pk is not None:
            yield self._record_subjects(), True
        if self.asset is not None:
            yield Q(kind="asset", object_id=str(self.asset)), True

    def _record_subjects(self) -> Q:
        """The record's own subjects and its placeholders'. A record has a few of each, so they are
        looked up first and passed as values: the planner then reads them off the subject index
        instead of scanning the log backwards for a rare match."""
        records = Record.objects.all()
        if self.record:
            same = Q(external_id=self.record)
            if self.record.isdigit():
                same |= Q(pk=int(self.record))
            records = records.filter(same)
        if self.record_pk is not None:
            records = records.filter(pk=self.record_pk)
        pks = list(records.values_list("pk", flat=True))
        record_ids = [str(pk) for pk in pks]
        attachment_ids = [str(pk) for pk in Attachment.objects.filter(record_id__in=pks).values_list("pk", flat=True)]
        return Q(kind="record", object_id__in=record_ids) | Q(kind="attachment", object_id__in=attachment_ids)


def _keys(objects: QuerySet) -> QuerySet:
    """The pks as text, as AuditSubject.object_id stores them, for an IN subquery."""
    return objects.annotate(key=Cast("pk", output_field=CharField())).values("key")


def _number(name: str, text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise BadFilter(f"{name} must be a number, not {text!r}")
    return int(text)


def _date(name: str, text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"{name} must be a date (YYYY-MM-DD), not {text!r}") from None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _page(events: QuerySet[AuditEvent], before: str) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, and the id to continue before (None on the last page)."""
    if before.isdigit():
        events = events.filter(pk__lt=int(before))
    rows = list(events.order_by("-pk").prefetch_related("subjects")[: PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None


def _events_page(
    request: HttpRequest, template: str, context: dict[str, Any], events: QuerySet[AuditEvent] | None = None, **kw: Any
) -> HttpResponse:
    """Render a filtered page of events; an unusable filter is shown with no rows, never ignored."""
    try:
        filters = AuditFilters.from_query(request.GET, **kw)
    except BadFilter as bad:
        return render(request, template, {**context, "error": str(bad), "events": [], "form": request.GET}, status=400)
    rows, next_before = _page(filters.apply(events if events is not None else AuditEvent.objects.all()),
                              request.GET.get("before", ""))  # fmt: skip
    for row in rows:
        spent = time_spent(row)
        minutes, seconds = divmod(int(spent.total_seconds()), 60) if spent else (0, 0)
        row.time_spent_text = f"{minutes} min {seconds} s" if spent else ""
    context.update(events=rows, next_before=next_before, filters=filters, form=request.GET,
                   query=filters.querystring())  # fmt: skip
    return render(request, template, context)


@require_GET
@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The whole log, newest first, narrowed by any of the filters."""
    require(request.user, Capability.READ_AUDIT)
    return _events_page(request, "audit/log.html", {})


@require_GET
@login_required
def audit_event(request: HttpRequest, pk: int) -> HttpResponse:
    """One event: before and after, what it concerns, where it came from, and for a decision
    the evidence as the reviewer saw it (recorded with the event) beside the pair's thumbnails."""
    require(request.user, Capability.READ_AUDIT)
    event = get_object_or_404(AuditEvent.objects.prefetch_related("subjects"), pk=pk)
    subjects = [_subject_link(s.kind, s.object_id) for s in event.subjects.all()]
    ids = defaultdict(list)
    for subject in subjects:
        if subject["kind"] in ("decision", "candidate") and subject["id"].isdigit():
            ids[subject["kind"]].append(int(subject["id"]))
    decisions = list(
        Decision.objects.filter(pk__in=ids["decision"]).select_related("decided_by", "approved_by").order_by("pk")
    )
    wanted = set(ids["candidate"]) | {d.candidate_id for d in decisions}
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
    }
    return render(request, "audit/event.html", context)


def _subject_link(kind: str, object_id: str) -> dict[str, str]:
    """A subject with a link to its page and its timeline, where there is one."""
    urls = {"url": "", "timeline": ""}
    if object_id.isdigit() and kind == "record":
        urls = {"url": reverse("review:record-detail", args=[object_id]),
                "timeline": reverse("review:audit-timeline-record", args=[object_id])}  # fmt: skip
    elif object_id.isdigit() and kind == "asset":
        urls = {"url": reverse("review:asset-detail", args=[object_id]),
                "timeline": reverse("review:audit-timeline-asset", args=[object_id])}  # fmt: skip
    elif kind == "source":
        urls["url"] = reverse("review:audit-log") + "?" + urlencode({"source": object_id})
    return {"kind": kind, "id": object_id, **urls}


def _pretty(value: Any) -> str:
    """JSON laid out for reading; the template escapes it (it holds untrusted text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


@require_GET
@login_required
def audit_timeline_record(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything that happened to one record and its placeholders."""
    require(request.user, Capability.READ_AUDIT)
    record = record_for(request.user, pk)
    context = {"heading": f"Record {record.external_id}", "record": record, "kind": "record"}
    return _events_page(request, "audit/timeline.html", context, record_pk=record.pk, record="")


@require_GET
@login_required
def audit_timeline_asset(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything that happened to one image: import, inspection, candidates, decisions, merges, purge."""
    require(request.user, Capability.READ_AUDIT)
    asset = asset_for(request.user, pk)
    context = {"heading": f"Image {asset.pk}", "asset": asset, "kind": "asset"}
    return _events_page(request, "audit/timeline.html", context, asset=asset.pk)


@require_GET
@login_required
def audit_timeline_user(request: HttpRequest, actor_id: int) -> HttpResponse:
    """What one person did over a date range (the last 7 days unless asked), with the time spent
    on each decision: the gap since that person's previous event, whatever it was, when under an hour."""
    require(request.user, Capability.READ_AUDIT)
    today = timezone.localdate()
    defaults = {"from": (today - timedelta(days=USER_DAYS - 1)).isoformat(), "to": today.isoformat()}
    previous = AuditEvent.objects.filter(actor_id=OuterRef("actor_id"), pk__lt=OuterRef("pk")).order_by("-pk")
    events = AuditEvent.objects.annotate(previous_at=Subquery(previous.values("at")[:1]))
    last = AuditEvent.objects.filter(actor_id=actor_id).order_by("-pk").first()
    name = f"{last.actor_name} ({last.actor_role or 'no role'})" if last else f"user {actor_id}"
    return _events_page(
        request, "audit/timeline.html", {"heading": name, "kind": "user", "show_spent": True}, events,
        defaults=defaults, actor_id=actor_id,
    )  # fmt: skip


def time_spent(event: AuditEvent) -> timedelta | None:
    """The time a person spent on a decision: the gap since their previous event, if under an hour."""
    previous = getattr(event, "previous_at", None)
    if previous is None or not event.action.startswith("decision."):
        return None
    gap = event.at - previous
    return gap if gap < TIME_SPENT_LIMIT else None


@require_GET
@login_required
def audit_figures(request: HttpRequest) -> HttpResponse:
    """Decisions per day by kind, and reversals per person, over a date range (30 days unless asked)."""
    require(request.user, Capability.READ_AUDIT)
    today = timezone.localdate()
    defaults = {"from": (today - timedelta(days=FIGURE_DAYS - 1)).isoformat(), "to": today.isoformat()}
    try:
        filters = AuditFilters.from_query(request.GET, defaults)
    except BadFilter as bad:
        return render(request, "audit/figures.html", {"error": str(bad), "form": request.GET}, status=400)
    span = AuditFilters(since=filters.since, until=filters.until).apply(AuditEvent.objects.all())
    counted = (
        span.filter(action__startswith="decision.")
        .annotate(day=TruncDate("at"))
        .values_list("day", "action")
        .annotate(n=Count("pk"))
        .order_by("day", "action")
    )
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    for day, action, n in counted:
        per_day[day][action] = n
    actions = sorted({action for counts in per_day.values() for action in counts})
    days = [
        {"day": day, "counts": [counts.get(a, 0) for a in actions], "total": sum(counts.values())}
        for day, counts in sorted(per_day.items())
    ]
    reversals = _reversals(span)
    context = {"filters": filters, "form": request.GET, "actions": actions, "days": days,
               "reversals": reversals, "chart": _bars(days)}  # fmt: skip
    return render(request, "audit/figures.html", context)


def _reversals(events: QuerySet[AuditEvent]) -> list[dict[str, Any]]:
    """Per person: unmerges, and decisions reversed, most first."""
    people: dict[tuple, dict[str, Any]] = {}
    counted = events.filter(action__in=("asset.unmerge", "decision.reverse")).values_list(
        "actor_id", "actor_name", "action"
    )
    for actor_id, actor_name, action, n in counted.annotate(n=Count("pk")).order_by():
        person = people.setdefault((actor_id, actor_name), {"actor_id": actor_id, "actor_name": actor_name,
                                                             "unmerges": 0, "reversed": 0})  # fmt: skip
        person["unmerges" if action == "asset.unmerge" else "reversed"] += n
    return sorted(people.values(), key=lambda p: (-p["unmerges"], -p["reversed"], p["actor_name"]))


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
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """Any filtered view as CSV or JSON, streamed; the export is itself an audit event.

    It holds the events written before its own event, oldest first (chain order), so it is
    exactly the log as it stood when asked, however long the download takes.
    """
    require(request.user, Capability.READ_AUDIT)
    try:
        filters = AuditFilters.from_query(request.GET)
    except BadFilter as bad:
        return HttpResponseBadRequest(str(bad), content_type="text/plain; charset=utf-8")
    with transaction.atomic():
        event = audit_record(
            action="audit.export",
            actor=request.user,
            reason=filters.describe(),
            after={"format": fmt, "filters": filters.as_dict()},
        )
    events = filters.apply(AuditEvent.objects.filter(pk__lt=event.pk))
    lines = export_csv_lines(events) if fmt == "csv" else export_json_chunks(events)
    response = StreamingHttpResponse(
        lines, content_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-{event.pk}.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response


def export_rows(events: QuerySet[AuditEvent], chunk_size: int = EXPORT_CHUNK) -> Iterator[dict[str, Any]]:
    """Each event as a dict of its columns plus "subjects" ("kind:id;kind:id"), oldest first.

    Events come from one streaming query; their subjects with one query per chunk, not per row.
    """
    values = events.order_by("pk").values(*EXPORT_FIELDS).iterator(chunk_size=chunk_size)
    while chunk := list(islice(values, chunk_size)):
        named = defaultdict(list)
        subjects = AuditSubject.objects.filter(event_id__in=[row["id"] for row in chunk]).order_by("event_id", "pk")
        for event_id, kind, object_id in subjects.values_list("event_id", "kind", "object_id"):
            named[event_id].append(f"{kind}:{object_id}")
        for row in chunk:
            row["at"] = row["at"].astimezone(UTC).isoformat()
            row["subjects"] = ";".join(named.get(row["id"], ()))
            yield row


class _Line:
    """csv.writer writes to this and gets its line back, so each row streams as it is made."""

    def write(self, line: str) -> str:
        return line


def export_csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """CSV, header first; before and after as JSON text."""
    columns = (*EXPORT_FIELDS, "subjects")
    writer = csv.writer(_Line())
    yield writer.writerow(columns)
    for row in export_rows(events):
        row["before"], row["after"] = (json.dumps(row[k], sort_keys=True, cls=DjangoJSONEncoder)
                                       for k in ("before", "after"))  # fmt: skip
        yield writer.writerow([row[column] for column in columns])


def export_json_chunks(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """A JSON array, one event per line, written as it streams."""
    yield "["
    for n, row in enumerate(export_rows(events)):
        yield ("\n" if n == 0 else ",\n") + json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False)
    yield "\n]\n"
