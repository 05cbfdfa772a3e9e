"""The one way a placeholder is re-pointed: the attachment and its history step move together."""

import re

import pytest
from django.db import transaction

from dedupe.attachments import attachment_repoint
from dedupe.audit import audit_record
from dedupe.models import Attachment, AttachmentChange
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
