"""Inspection: decode each new asset once, fingerprint it, thumbnail it, or mark it unreadable.

This is the heavy per-file work. It runs in chunks (`assets_inspect`), each chunk safe to run
twice or concurrently: only assets still pending are written, under a row lock.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from . import sandbox
from .actions import Action, Subject
from .attachments import attachment_repoint, attachments_locked
from .audit import audit_record
from .models import Asset, Attachment, AuditEvent, Fingerprint, ImportProblem
from .originals import original_open

FINGERPRINT_FIELDS = [
    "phash", "dhash", "phash_zoom", "phash256", "phash256_zoom", "phash_mirror", "phash256_mirror",
    "feature_width", "feature_height", "keypoints", "descriptors", "grey", "grey_width", "chroma",
]  # fmt: skip


def decoder() -> sandbox.Sandbox:
    """This process's decoding sandbox, with the limits from settings."""
    return sandbox.sandbox(
        memory_bytes=settings.DEDUPE_DECODE_MEMORY_BYTES, cpu_seconds=settings.DEDUPE_DECODE_CPU_SECONDS
    )


def header_limits() -> sandbox.Limits:
    return sandbox.Limits(
        max_pixels=settings.DEDUPE_MAX_IMAGE_PIXELS, max_decoded_bytes=settings.DEDUPE_MAX_DECODED_BYTES
    )


def stored_bytes(assets: Iterable[Asset]) -> tuple[list[tuple[int, bytes]], dict[int, str]]:
    """Each asset's stored bytes, and the reason for those that cannot be read."""
    items, problems = [], {}
    for asset in assets:
        try:
            with original_open(asset) as f:
                items.append((asset.pk, f.read()))
        except OSError as exc:
            problems[asset.pk] = f"the original cannot be read: {exc}"
    return items, problems


def inspect_many(assets: Sequence[Asset]) -> tuple[dict[int, sandbox.Inspection], dict[int, str]]:
    """Read headers, decode and fingerprint in the sandbox: what was read, and why the rest was not.

    I/O and pixels only, no database writes.
    """
    items, unreadable = stored_bytes(assets)
    answers = decoder().inspect(
        items,
        limits=header_limits(),
        min_side=settings.DEDUPE_DECODE_SIDE,
        thumbnail_side=settings.DEDUPE_THUMBNAIL_SIZE,
    )
    readable = {}
    for asset_id, answer in answers.items():
        if isinstance(answer, sandbox.Failure):
            unreadable[asset_id] = answer.reason
        else:
            readable[asset_id] = answer
    return readable, unreadable


def assets_inspect(asset_ids: Sequence[int]) -> int:
    """Inspect the pending assets among `asset_ids`; returns how many this call settled."""
    pending = list(Asset.objects.filter(pk__in=asset_ids, inspection=Asset.Inspection.PENDING))
    readable, unreadable = inspect_many(pending)
    thumbnails = {asset_id: _save_thumbnail(asset_id, result) for asset_id, result in readable.items()}
    with transaction.atomic():
        still_pending = {
            a.pk: a
            for a in Asset.objects.select_for_update().filter(
                pk__in=[*readable, *unreadable], inspection=Asset.Inspection.PENDING
            )
        }
        readable = {k: v for k, v in readable.items() if k in still_pending}
        unreadable = {k: v for k, v in unreadable.items() if k in still_pending}
        if not still_pending:
            return 0
        _write_readable(readable, still_pending, thumbnails)
        event = audit_record(
            action=Action.ASSET_INSPECT,
            actor_name="system:inspect",
            subjects=[(Subject.ASSET, asset_id) for asset_id in sorted(still_pending)],
            after={
                "readable": len(readable),
                "unreadable": [{"asset": asset_id, "reason": reason} for asset_id, reason in unreadable.items()],
            },
        )
        for asset_id, reason in unreadable.items():
            _mark_unreadable(still_pending[asset_id], reason, event)
    return len(still_pending)


def asset_inspected_write(asset: Asset, result: sandbox.Inspection) -> str:
    """Store what the sandbox read of a pending `asset` (thumbnail, facts, fingerprint) in the caller's
    transaction; the thumbnail's storage name is returned, for the caller to delete if it rolls back.

    The gate (review.services.gate) decodes an upload before it is stored, to answer at once, and
    keeps that result through here rather than decoding it a second time.
    """
    thumbnail = _save_thumbnail(asset.pk, result)
    _write_readable({asset.pk: result}, {asset.pk: asset}, {asset.pk: thumbnail})
    return thumbnail


def _save_thumbnail(asset_id: int, result: sandbox.Inspection) -> str:
    name = f"thumbnails/{asset_id % 1000:03d}/{asset_id}.webp"
    if default_storage.exists(name):  # a retried chunk: same asset, same thumbnail
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(result.prints.thumbnail))


def _write_readable(
    results: dict[int, sandbox.Inspection], assets: dict[int, Asset], thumbnails: dict[int, str]
) -> None:
    for asset_id, result in results.items():
        asset, probe = assets[asset_id], result.probe
        asset.inspection = Asset.Inspection.READABLE
        asset.thumbnail_name = thumbnails[asset_id]
        asset.format, asset.width, asset.height = probe.format, probe.width, probe.height
        asset.exif_orientation = probe.orientation
        asset.exif_captured_at = aware(probe.captured_at)
        asset.jpeg_quality = probe.jpeg_quality
        asset.content_pixels = round(probe.width * result.prints.content_width) * round(
            probe.height * result.prints.content_height
        )
    facts = ["inspection", "thumbnail_name", "format", "width", "height", "exif_orientation", "exif_captured_at",
             "jpeg_quality", "content_pixels"]  # fmt: skip
    if len(results) == 1:  # the gate's one upload: bulk_update's CASE per column costs 10x a plain UPDATE
        asset = assets[next(iter(results))]
        Asset.objects.filter(pk=asset.pk).update(**{fact: getattr(asset, fact) for fact in facts})
    else:
        Asset.objects.bulk_update([assets[asset_id] for asset_id in results], facts)
    Fingerprint.objects.bulk_create(
        [
            Fingerprint(
                asset_id=asset_id,
                phash=result.prints.phash,
                dhash=result.prints.dhash,
                phash_zoom=result.prints.phash_zoom,
                phash256=result.prints.phash256,
                phash256_zoom=result.prints.phash256_zoom,
                phash_mirror=result.prints.phash_mirror,
                phash256_mirror=result.prints.phash256_mirror,
                **result.features.to_fields(),
            )
            for asset_id, result in results.items()
        ],
        update_conflicts=True,
        unique_fields=["asset"],
        update_fields=FINGERPRINT_FIELDS,
    )


def _mark_unreadable(asset: Asset, problem: str, event: AuditEvent) -> None:
    """An unreadable asset keeps its bytes; the placeholders showing it become stripped."""
    Asset.objects.filter(pk=asset.pk).update(inspection=Asset.Inspection.UNREADABLE, unreadable_reason=problem)
    shown = attachments_locked(asset=asset, state__in=Attachment.SHOWN)
    for attachment in shown:
        reason = f"asset {asset.pk} is unreadable: {problem}"
        attachment_repoint(
            attachment, asset_id=asset.pk, state=Attachment.State.STRIPPED, reason=reason, audit_event=event
        )
    if asset.import_run_id is not None:
        ImportProblem.objects.create(
            run_id=asset.import_run_id, row=asset.import_row, path=asset.origin_path, reason=problem, asset=asset
        )


def aware(value: datetime | None) -> datetime | None:
    """EXIF times carry no zone: read them in the archive's own."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value)


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]
