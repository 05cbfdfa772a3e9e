"""An export of the audit log is itself an audit event: who took which filtered view, in which format."""

from typing import Any

from django.db import transaction

from dedupe.actions import Action
from dedupe.audit import audit_record
from dedupe.models import AuditEvent

from ..selectors.audit import AuditFilters


def audit_export_record(*, actor: Any, filters: AuditFilters, fmt: str) -> AuditEvent:
    """The export's own event; the export holds the events written before it."""
    with transaction.atomic():
        return audit_record(
            action=Action.AUDIT_EXPORT,
            actor=actor,
            reason=filters.describe(),
            after={"format": fmt, "filters": filters.as_dict()},
        )
