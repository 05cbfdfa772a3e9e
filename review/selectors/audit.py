"""Reads of the audit log: the auditor's filters, keyset pages, figures, and exports.

Filters on what an event concerns (source, record, image) go through AuditSubject with an
EXISTS subquery that its (kind, object_id, event) index answers, and pages are cut by id (keyset),
never by OFFSET, so the page after event 1,000,000 costs what the first one does.
"""

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, TruncDate
from django.http import QueryDict
from django.utils import timezone

from dedupe.actions import DECISION_ACTIONS, Action, Subject
from dedupe.models import Asset, Attachment, AuditEvent, AuditSubject, Candidate, Record, Source
from dedupe.spreadsheet import csv_lines

PAGE_SIZE = 50


# Events per database round trip while exporting; with their subjects about 2 kB each, so a
# chunk holds a few megabytes whatever the size of the export.
EXPORT_CHUNK = 2000


# A longer gap between a person's events is a break, not time spent on the decision.
TIME_SPENT_LIMIT = timedelta(hours=1)


# Every stored column, hash-chain fields included, so an export can be checked away from here.
EXPORT_FIELDS = tuple(f.attname for f in AuditEvent._meta.concrete_fields)


# Query-string names of the filters, in the order a description lists them.
FILTER_NAMES = {
    "actor": "actor", "actor_id": "actor_id", "action": "action", "source": "source", "record": "record",
    "record_pk": "record_pk", "asset": "asset", "pair": "pair", "group": "group", "since": "from", "until": "to",
    "text": "q",
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
    pair: int | None = None
    group: int | None = None
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
            if attr in ("actor_id", "record_pk", "asset", "pair", "group"):
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
                else Q(kind=Subject.SOURCE, object_id__in=[source.slug, str(source.pk)])
                | Q(kind=Subject.RECORD, object_id__in=_keys(Record.objects.filter(source=source)))
                | Q(kind=Subject.ASSET, object_id__in=_keys(Asset.objects.filter(source=source))),
                False,
            )
        if self.record or self.record_pk is not None:
            yield self._record_subjects(), True
        if self.asset is not None:
            yield Q(kind=Subject.ASSET, object_id=str(self.asset)), True
        if self.pair is not None:  # its decisions, merges and assignments all name the pair
            yield Q(kind=Subject.CANDIDATE, object_id=str(self.pair)), True
        if self.group is not None:  # a group's events name its pairs (groups are regrouped; pairs stay)
            pairs = [str(pk) for pk in Candidate.objects.filter(group_id=self.group).values_list("pk", flat=True)]
            yield Q(kind=Subject.CANDIDATE, object_id__in=pairs), True

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
        return Q(kind=Subject.RECORD, object_id__in=record_ids) | Q(
            kind=Subject.ATTACHMENT, object_id__in=attachment_ids
        )


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


def actor_choices() -> list[str]:
    """Who the person filter offers: every account by name (a choice, so no name is mistyped)."""
    return sorted(get_user_model().objects.values_list("username", flat=True))


def action_choices() -> list[str]:
    """What the action filter offers: each subject's prefix ("decision."), then every action."""
    prefixes = sorted({action.split(".")[0] + "." for action in Action})
    return prefixes + sorted(Action)


def events_page(events: QuerySet[AuditEvent], before: str) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, and the id to continue before (None on the last page)."""
    if before.isdigit():
        events = events.filter(pk__lt=int(before))
    rows = list(events.order_by("-pk").prefetch_related("subjects")[: PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None


def events_timed() -> QuerySet[AuditEvent]:
    """Every event with `previous_at`: when its actor's event before it happened (see time_spent)."""
    previous = AuditEvent.objects.filter(actor_id=OuterRef("actor_id"), pk__lt=OuterRef("pk")).order_by("-pk")
    return AuditEvent.objects.annotate(previous_at=Subquery(previous.values("at")[:1]))


def actor_heading(actor_id: int) -> str:
    """A person as their latest event names them, with the role they had then."""
    last = AuditEvent.objects.filter(actor_id=actor_id).order_by("-pk").first()
    return f"{last.actor_name} ({last.actor_role or 'no role'})" if last else f"user {actor_id}"


def time_spent(event: AuditEvent) -> timedelta | None:
    """The time a person spent on a decision: the gap since their previous event, if under an hour."""
    previous = getattr(event, "previous_at", None)
    if previous is None or event.action not in DECISION_ACTIONS:
        return None
    gap = event.at - previous
    return gap if gap < TIME_SPENT_LIMIT else None


def reversals(events: QuerySet[AuditEvent]) -> list[dict[str, Any]]:
    """Per person: unmerges, and decisions reversed, most first."""
    people: dict[tuple, dict[str, Any]] = {}
    counted = events.filter(action__in=(Action.ASSET_UNMERGE, Action.DECISION_REVERSE)).values_list(
        "actor_id", "actor_name", "action"
    )
    for actor_id, actor_name, action, n in counted.annotate(n=Count("pk")).order_by():
        person = people.setdefault((actor_id, actor_name), {"actor_id": actor_id, "actor_name": actor_name,
                                                             "unmerges": 0, "reversed": 0})  # fmt: skip
        person["unmerges" if action == Action.ASSET_UNMERGE else "reversed"] += n
    return sorted(people.values(), key=lambda p: (-p["unmerges"], -p["reversed"], p["actor_name"]))


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


def export_csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """CSV, header first; before and after as JSON text; every cell safe to open in a spreadsheet."""
    columns = (*EXPORT_FIELDS, "subjects")

    def rows() -> Iterator[list]:
        for row in export_rows(events):
            row["before"], row["after"] = (json.dumps(row[k], sort_keys=True, cls=DjangoJSONEncoder)
                                           for k in ("before", "after"))  # fmt: skip
            yield [row[column] for column in columns]

    return csv_lines(columns, rows())


def export_json_chunks(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """A JSON array, one event per line, written as it streams."""
    yield "["
    for n, row in enumerate(export_rows(events)):
        yield ("\n" if n == 0 else ",\n") + json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False)
    yield "\n]\n"


def decisions_per_day(events: QuerySet[AuditEvent]) -> tuple[list[str], list[dict[str, Any]]]:
    """The decision actions seen, and per day the count of each (in that order) and the day's total."""
    counted = (
        events.filter(action__in=DECISION_ACTIONS)
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
    return actions, days
