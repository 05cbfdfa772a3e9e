"""Who looked at which case-file photograph: every view of an image from a sensitive source."""

from typing import Any

from django.db import transaction

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.models import Asset, Source

# What was shown, as the views name it, and the action that records it.
VIEWED = {
    "thumbnail": Action.IMAGE_VIEW_THUMBNAIL,
    "original": Action.IMAGE_VIEW_ORIGINAL,
    "difference": Action.IMAGE_VIEW_DIFFERENCE,
}


def image_view_record(*, actor: Any, asset: Asset, what: str) -> None:
    """Record that `actor` was shown `what` (thumbnail, original, difference) of a sensitive source's image."""
    if asset.source.sensitivity == Source.Sensitivity.SENSITIVE:
        with transaction.atomic():
            audit_record(
                action=VIEWED[what],
                actor=actor,
                subjects=[(Subject.ASSET, asset.pk), (Subject.SOURCE, asset.source.slug)],
            )
