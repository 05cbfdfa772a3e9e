"""An attachment's history: the only place an AttachmentChange is written."""

from .models import Asset, Attachment, AttachmentChange, AuditEvent


def attachment_change(
    attachment: Attachment,
    from_asset: Asset | None,
    to_asset: Asset | None,
    from_state: str,
    to_state: str,
    reason: str,
    *,
    audit_event: AuditEvent,
) -> AttachmentChange:
    """Record one step of what the attachment showed, tied to the audit event of the same change."""
    return AttachmentChange.objects.create(
        attachment=attachment,
        from_asset=from_asset,
        to_asset=to_asset,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        audit_event=audit_event,
    )
