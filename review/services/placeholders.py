"""Restoring stripped placeholders: one chosen by a person, or in bulk where only one image fits.

What could restore each placeholder is found by `review.selectors.imagery`; a restore accepts
only an image that would show: stored, readable, not a quarantined stranger.
"""

from typing import Any

from django.db import transaction

from dedupe.actions import Action, Subject
from dedupe.attachments import attachment_repoint
from dedupe.audit import audit_record
from dedupe.models import Asset, Attachment
from dedupe.originals import original_exists
from dedupe.roles import Capability, can

from ..selectors.imagery import own_assets, records_missing_imagery
from ..selectors.visibility import visible_sources


class RestoreRefused(Exception):
    """A restore that would not give the record a viewable picture; the message says why."""


def attachment_restore(
    *, attachment_id: int, asset_id: int, actor: Any, reason: str, actor_name: str = ""
) -> Attachment:
    """Show `asset_id` in a stripped placeholder again, with its history step and audit event."""
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().select_related("record").get(pk=attachment_id)
        if attachment.state != Attachment.State.STRIPPED:
            raise RestoreRefused(f"{attachment} is {attachment.get_state_display().lower()}, not stripped")
        # Locked like purge locks it: a purge cannot delete the bytes between this check and the commit.
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None:
            raise RestoreRefused(f"image {asset_id} does not exist")
        _check_allowed(actor, attachment, asset)
        _check_viewable(attachment, asset)
        before = {"state": attachment.state, "asset": attachment.asset_id, "reason": attachment.reason}
        old = attachment.asset_id
        why = f"restored: {reason}" if reason else f"restored onto image {asset.pk}"
        subjects = [
            (Subject.ATTACHMENT, attachment.pk),
            (Subject.RECORD, attachment.record_id),
            (Subject.ASSET, asset.pk),
        ]
        event = audit_record(
            action=Action.ATTACHMENT_RESTORE,
            actor=actor,
            actor_name=actor_name,
            subjects=subjects + ([(Subject.ASSET, old)] if old else []),
            before=before,
            after={"state": Attachment.State.RESTORED, "asset": asset.pk, "reason": why},
            reason=reason,
        )
        attachment_repoint(
            attachment, asset_id=asset.pk, state=Attachment.State.RESTORED, reason=why, audit_event=event
        )
    return attachment


def _check_allowed(actor: Any, attachment: Attachment, asset: Asset) -> None:
    """People restore only within the sources they may see; system work (actor None) everywhere."""
    if actor is None:
        return
    if not can(actor, Capability.RESTORE):
        raise RestoreRefused("your role may not restore images")
    visible = set(visible_sources(actor).values_list("pk", flat=True))
    if attachment.record.source_id not in visible or asset.source_id not in visible:
        raise RestoreRefused("you may restore only records and images of the sources assigned to you")


def _check_viewable(attachment: Attachment, asset: Asset) -> None:
    if asset.state == Asset.State.PURGED:
        raise RestoreRefused(f"image {asset.pk} was purged: its bytes are gone")
    if asset.state == Asset.State.QUARANTINED and asset.pk not in own_assets(attachment):
        raise RestoreRefused(
            f"image {asset.pk} is quarantined as a duplicate; restore the image it was merged into instead"
        )
    if asset.inspection == Asset.Inspection.UNREADABLE:
        raise RestoreRefused(f"image {asset.pk} is unreadable ({asset.unreadable_reason}): it would show nothing")
    if not original_exists(asset):
        if asset.storage_name or not asset.origin_root:
            raise RestoreRefused(f"image {asset.pk} has no bytes in storage ({asset.storage_name or 'no file name'})")
        raise RestoreRefused(f"image {asset.pk}'s file at its source is not the one imported ({asset.origin_path})")


def restore_bulk(*, actor: Any, source: str | None = None, dry_run: bool = False, actor_name: str = "") -> dict:
    """Restore every stripped placeholder with exactly one suggestion; the others wait for a person."""
    counts = {"restored": 0, "ambiguous": 0, "no_suggestion": 0, "refused": 0}
    within = None if actor is None else set(visible_sources(actor).values_list("pk", flat=True))
    for missing in records_missing_imagery(source=source, within=within):
        if not missing.suggestions:
            counts["no_suggestion"] += 1
            continue
        if len(missing.suggestions) > 1:
            counts["ambiguous"] += 1
            continue
        if dry_run:
            counts["restored"] += 1
            continue
        only = missing.suggestions[0]
        try:
            attachment_restore(
                attachment_id=missing.attachment_id,
                asset_id=only.asset_id,
                actor=actor,
                actor_name=actor_name,
                reason=f"bulk restore, the only suggestion ({only.kind}): {only.reason}",
            )
        except RestoreRefused:
            counts["refused"] += 1  # changed since it was listed: someone restored it, or a purge won
        else:
            counts["restored"] += 1
    return counts
