"""The one way an attachment is re-pointed, and the only place an AttachmentChange is written.

"Every record keeps a viewable image" rests on this: whatever moves a placeholder (a merge, an
unmerge, a restore, a detach, an unreadable file) goes through `attachment_repoint`, so no move
is ever without its history step and the audit event it belongs to.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .models import Attachment, AttachmentChange, AuditEvent


def attachments_locked(**filters: Any) -> QuerySet[Attachment]:
    """The attachments matching `filters`, locked until commit, and nothing else locked.

    An attachment's default ordering (record, then the record's source) joins the source, and a
    plain FOR UPDATE locks every joined row: each move of a placeholder held its source's row,
    against which every insert into that source checks its foreign key. Fifty tablets uploading
    into one source deadlocked on it (bench/load.py --tablets: 28 server errors in 1,339 uploads).
    NO KEY UPDATE, as only the attachment's image, state and reason change: a plain FOR UPDATE also
    waits on the key-share lock that another transaction's history row (its foreign key, checked
    at commit) holds on the attachment, and three reviewers merging round a triangle deadlocked so.
    """
    return Attachment.objects.select_for_update(no_key=True, of=("self",)).filter(**filters).order_by("pk")


@dataclass(frozen=True)
class AttachmentStep:
    """One step of what an attachment showed, kept until its audit event exists (the import writes
    one event per batch, after the batch's rows)."""

    attachment: Attachment
    from_asset_id: int | None
    to_asset_id: int | None
    from_state: str
    to_state: str
    reason: str

    def record(self, *, audit_event: AuditEvent) -> AttachmentChange:
        """Write the step into the attachment's history, tied to the audit event of the same change."""
        return AttachmentChange.objects.create(
            attachment=self.attachment,
            from_asset_id=self.from_asset_id,
            to_asset_id=self.to_asset_id,
            from_state=self.from_state,
            to_state=self.to_state,
            reason=self.reason,
            audit_event=audit_event,
        )


def attachment_repoint(
    attachment: Attachment,
    *,
    asset_id: int | None,
    state: str,
    reason: str,
    audit_event: AuditEvent,
    history_reason: str = "",
) -> AttachmentChange:
    """Show asset `asset_id` in `state` with `reason`, saved, and its history step (`history_reason`, when the
    step says more than the attachment's own reason) tied to `audit_event`.

    Runs inside the caller's transaction, with the attachment row locked by the caller.
    """
    step = AttachmentStep(attachment, attachment.asset_id, asset_id, attachment.state, state, history_reason or reason)
    attachment.asset_id, attachment.state, attachment.reason = asset_id, state, reason
    attachment.save(update_fields=["asset", "state", "reason", "updated_at"])
    return step.record(audit_event=audit_event)
