"""The merge map: for the source systems, which of their file references now point to which file.

Source systems keep their own references (a permit's slot names a file path). After merges they
must update them, and after an unmerge, undo that; so the map lists one row per moved
placeholder per merge, and an unmerge again as a later "unmerge" row (a reversal), never by
rewriting the earlier row. A duplicate kept in place at its source (issue 16) is not ours to
delete: its merge row says from when the source may delete the file (`duplicate_may_delete_after`,
the end of retention; the changes feed then says "now" when the purge is recorded). Rows stream
from the database in chunks: a city's archive has millions.
"""

import heapq
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from dedupe.spreadsheet import csv_lines

from ..models import MergeMove

# Rows per database round trip: about 1 kB each in memory, so a chunk is a couple of megabytes.
CHUNK = 2000
COLUMNS = (
    "action",
    "time",
    "source",
    "record",
    "slot",
    "duplicate_asset",
    "duplicate_path",
    "duplicate_source",
    "duplicate_may_delete_after",
    "canonical_asset",
    "canonical_path",
    "canonical_source",
    "merge",
    "decision",
    "verdict",
)
_FIELDS = {
    "move": "pk",
    "merge": "merge_id",
    "merged_at": "merge__at",
    "undone_at": "merge__undone_at",
    "source": "attachment__record__source__slug",
    "record": "attachment__record__external_id",
    "slot": "attachment__slot",
    "duplicate_asset": "from_asset_id",
    "duplicate_path": "from_asset__origin_path",
    "duplicate_source": "from_asset__source__slug",
    "duplicate_stored": "from_asset__storage_name",
    "canonical_asset": "merge__canonical_id",
    "canonical_path": "merge__canonical__origin_path",
    "canonical_source": "merge__canonical__source__slug",
    "decision": "merge__decision_id",
    "verdict": "merge__decision__verdict",
}

Moment = date | datetime | None


def merge_map_rows(
    *, source: str | None = None, since: Moment = None, until: Moment = None, chunk_size: int = CHUNK
) -> Iterator[dict[str, Any]]:
    """One dict per placeholder a merge moved, merges by Merge.at and reversals by undone_at, in time order.

    `source` is the slug of the records' source (the system whose references change). `since` is
    inclusive, `until` exclusive; a date stands for its whole day in the site's time zone.
    """
    start, end = _bound(since), _bound(until, end=True)
    merged = _moves(source, "merge__at", start, end).order_by("merge__at", "merge_id", "pk")
    undone = _moves(source, "merge__undone_at", start, end).order_by("merge__undone_at", "merge_id", "pk")
    streams = (
        (_row(values, "merge") for values in merged.values(*_FIELDS.values()).iterator(chunk_size=chunk_size)),
        (_row(values, "unmerge") for values in undone.values(*_FIELDS.values()).iterator(chunk_size=chunk_size)),
    )
    for _, row in heapq.merge(*streams, key=lambda keyed: keyed[0]):
        yield row


def _bound(moment: Moment, *, end: bool = False) -> datetime | None:
    if moment is None or isinstance(moment, datetime):
        return moment
    day = moment + timedelta(days=1) if end else moment
    return timezone.make_aware(datetime.combine(day, time.min))


def _moves(source: str | None, at: str, start: datetime | None, end: datetime | None) -> QuerySet[MergeMove]:
    moves = MergeMove.objects.filter(**{f"{at}__isnull": False})
    if source is not None:
        moves = moves.filter(attachment__record__source__slug=source)
    if start is not None:
        moves = moves.filter(**{f"{at}__gte": start})
    if end is not None:
        moves = moves.filter(**{f"{at}__lt": end})
    return moves


def _row(values: dict[str, Any], action: str) -> tuple[tuple, dict[str, Any]]:
    """The row, keyed so the two streams interleave in time order (a merge before its own undo)."""
    named = {name: values[lookup] for name, lookup in _FIELDS.items()}
    moment = named["merged_at"] if action == "merge" else named["undone_at"]
    row = {column: named.get(column) for column in COLUMNS}
    row.update(action=action, time=moment.astimezone(UTC).isoformat())
    if action == "merge" and not named["duplicate_stored"]:  # kept in place: the source's to delete
        row["duplicate_may_delete_after"] = (moment + _retention()).astimezone(UTC).isoformat()
    return (moment, named["merge"], action == "unmerge", named["move"]), row


def _retention() -> timedelta:
    return timedelta(days=settings.DEDUPE_RETENTION_DAYS)


def merge_map_csv_lines(*, source: str | None = None, since: Moment = None, until: Moment = None) -> Iterator[str]:
    """The merge map as CSV lines, header first, safe to open in a spreadsheet (the JSON is exact)."""
    rows = merge_map_rows(source=source, since=since, until=until)
    return csv_lines(COLUMNS, ([row[column] for column in COLUMNS] for row in rows))


def merge_map_json_chunks(*, source: str | None = None, since: Moment = None, until: Moment = None) -> Iterator[str]:
    """The merge map as one JSON array, a row per chunk, never held whole in memory."""
    yield "["
    separator = "\n"
    for row in merge_map_rows(source=source, since=since, until=until):
        yield separator + json.dumps(row)
        separator = ",\n"
    yield "\n]\n"
