"""Who looked at which case-file photograph: every view of an image from a sensitive source."""

from typing import Any

from django.db import transaction

from dedupe.audit import audit_record
from dedupe.models import Asset, Source


def image_view_record(*, actor: Any, asset: Asset, what: str) -> None:
    """Record that `actor` was shown `what` (thumbnail, original, difference) of a sensitive source's image."""
    if asset.source.sensitivity == Source.Sensitivity.SENSITIVE:
        with transaction.atomic():
            audit_record(
                action=f"image.view.{what}",
                actor=actor,
                subjects=[("asset", asset.pk), ("source", asset.source.slug)],
            )
