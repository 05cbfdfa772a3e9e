"""The one way a placeholder is re-pointed: the attachment and its history step move together."""

import re
import threading

import pytest
from django.db import connection, transaction

from dedupe.attachments import attachment_repoint, attachments_locked
from dedupe.audit import audit_record
from dedupe.models import Attachment, AttachmentChange, Record
from tests.conftest import ROOT
from tests.factories import archive_rows

pytestmark = pytest.mark.django_db


def test_it_moves_the_attachment_and_writes_its_history_step_tied_to_the_event():
    _, [(record, old), (_, new)] = archive_rows("repoint")
    attachment = Attachment.objects.get(record=record)

    with transaction.atomic():
        event = audit_record(action="tests.repoint", actor_name="system:tests", subjects=[("record", record.pk)])
        step = attachment_repoint(
            attachment, asset_id=new.pk, state="restored", reason="shown again", history_reason="why, at length",
            audit_event=event,
        )  # fmt: skip

    attachment.refresh_from_db()
    assert (attachment.asset_id, attachment.state, attachment.reason) == (new.pk, "restored", "shown again")
    stored = AttachmentChange.objects.get(pk=step.pk)
    assert (stored.from_asset_id, stored.to_asset_id, stored.from_state, stored.to_state) == (
        old.pk, new.pk, "attached", "restored",
    )  # fmt: skip
    assert (stored.reason, stored.audit_event_id) == ("why, at length", event.pk)


def test_no_other_module_writes_an_attachments_history_or_saves_its_asset():
    """Re-pointing by hand elsewhere would be a move with no history: every one goes through here."""
    by_hand = re.compile(r"AttachmentChange\.objects\.(create|bulk_create)|attachment\.save\(update_fields=\[\"asset")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("dedupe", "review")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts and path != ROOT / "dedupe" / "attachments.py"
        and by_hand.search(path.read_text())
    ]  # fmt: skip
    assert offenders == []


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite locks the whole database")
@pytest.mark.django_db(transaction=True)
def test_a_locked_attachment_leaves_its_record_and_source_free_for_other_writers():
    """Every move of a placeholder locks its attachment; its source's row must stay free, or each
    insert into that source (its foreign-key check) waits for the move, and uploads deadlock."""
    source, [(record, asset), _] = archive_rows("locks")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                assert [a.asset_id for a in attachments_locked(record=record)] == [asset.pk]
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # before the fix: "canceling statement due to lock timeout"
            Record.objects.create(source=source, external_id="LOCK-new")  # checks its key on the source's row
            cursor.execute("SELECT 1 FROM dedupe_record WHERE id = %s FOR UPDATE", [record.pk])
            cursor.execute("SELECT 1 FROM dedupe_source WHERE id = %s FOR UPDATE", [source.pk])
            # what another transaction's history row referencing the attachment takes at its commit
            cursor.execute("SELECT 1 FROM dedupe_attachment WHERE record_id = %s FOR KEY SHARE", [record.pk])
    finally:
        release.set()
        holder.join()
