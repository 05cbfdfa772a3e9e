"""The merge map: what each source system must re-point, and later un-point, as CSV and JSON."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dedupe.models import Asset
from review.models import Merge
from review.services.mergemap import COLUMNS, merge_map_csv_lines, merge_map_rows
from review.services.merges import unmerge
from tests.factories import merged

pytestmark = pytest.mark.django_db


def export(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("export_merge_map", *args, stdout=out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.fixture
def merge_then_unmerge(permits, archivist) -> Merge:
    """PERM-1's image merged onto PERM-0's on 10 January 2024, undone on 5 March."""
    _, [(_, keep), (_, duplicate)] = permits
    merge = merged(keep, duplicate, archivist)
    unmerge(merge_id=merge.pk, actor=archivist, reason="not the same house")
    Merge.objects.filter(pk=merge.pk).update(
        at=datetime(2024, 1, 10, 12, tzinfo=UTC), undone_at=datetime(2024, 3, 5, 9, tzinfo=UTC)
    )
    return merge


def test_a_merge_then_unmerge_is_a_row_and_its_reversal(merge_then_unmerge):
    merge = merge_then_unmerge
    expected = {
        "source": "permits",
        "record": "PERM-1",
        "slot": "1",
        "duplicate_asset": str(merge.duplicate_id),
        "duplicate_path": "permits/1.jpg",
        "duplicate_source": "permits",
        "duplicate_may_delete_after": "",  # a stored copy: ours to purge, not the source's to delete
        "canonical_asset": str(merge.canonical_id),
        "canonical_path": "permits/0.jpg",
        "canonical_source": "permits",
        "merge": str(merge.pk),
        "decision": str(merge.decision_id),
        "verdict": "same",
    }

    rows = export()

    assert [row["action"] for row in rows] == ["merge", "unmerge"]
    assert [row["time"] for row in rows] == ["2024-01-10T12:00:00+00:00", "2024-03-05T09:00:00+00:00"]
    for row in rows:
        assert {k: v for k, v in row.items() if k not in ("action", "time")} == expected
    assert list(rows[0]) == list(COLUMNS)


def test_the_json_export_has_the_same_rows(merge_then_unmerge, tmp_path):
    out = tmp_path / "map.json"

    call_command("export_merge_map", "--format", "json", "--output", str(out))

    rows = json.loads(out.read_text())
    assert [(r["action"], r["record"], r["duplicate_asset"]) for r in rows] == [
        ("merge", "PERM-1", merge_then_unmerge.duplicate_id),
        ("unmerge", "PERM-1", merge_then_unmerge.duplicate_id),
    ]
    assert rows == [json.loads(json.dumps(r)) for r in merge_map_rows()]


def test_it_filters_by_the_records_source(merge_then_unmerge, cases, archivist):
    _, [(_, keep), (_, duplicate)] = cases
    merged(keep, duplicate, archivist)

    assert {row["source"] for row in export("--source", "cases")} == {"cases"}
    assert len(export("--source", "cases")) == 1
    assert {row["source"] for row in export("--source", "permits")} == {"permits"}
    with pytest.raises(CommandError, match="no source"):
        export("--source", "nowhere")


def test_it_filters_by_dates_with_reversals_in_their_own_period(merge_then_unmerge):
    assert [r["action"] for r in export("--since", "2024-01-01", "--until", "2024-01-31")] == ["merge"]
    assert [r["action"] for r in export("--since", "2024-03-01")] == ["unmerge"]
    assert [r["action"] for r in export("--until", "2024-01-10")] == ["merge"]  # the end day is included
    assert export("--until", "2024-01-09") == []
    with pytest.raises(CommandError, match="not a date"):
        export("--since", "last week")


def test_a_chain_is_exported_in_the_order_it_happened(permits, archivist):
    _, [(_, first), (_, second)] = permits
    third = Asset.objects.create(
        source=first.source, origin_path="permits/2.jpg", sha256="e" * 64, byte_size=1, storage_name="x"
    )
    one = merged(first, second, archivist)
    two = merged(third, first, archivist)

    rows = list(merge_map_rows())

    assert [(r["merge"], r["record"], r["duplicate_asset"], r["canonical_asset"]) for r in rows] == [
        (one.pk, "PERM-1", second.pk, first.pk),
        (two.pk, "PERM-0", first.pk, third.pk),
        (two.pk, "PERM-1", first.pk, third.pk),
    ]


def test_the_csv_lines_stream_for_a_download(merge_then_unmerge):
    lines = merge_map_csv_lines(since=datetime(2024, 1, 1, tzinfo=UTC))

    assert next(lines) == ",".join(COLUMNS) + "\r\n"
    assert sum(1 for _ in lines) == 2
