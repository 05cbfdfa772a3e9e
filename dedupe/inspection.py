"""Inspection: decode each new asset once, fingerprint it, thumbnail it, or mark it unreadable.

This is the heavy per-file work. It runs in chunks (`assets_inspect`), each chunk safe to run
twice or concurrently: only assets still pending are written, under a row lock.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from . import imaging
from .attachments import attachment_repoint
from .audit import audit_record
from .models import Asset, Attachment, Fingerprint, ImportProblem

FINGERPRINT_FIELDS = ["phash", "dhash", "phash_zoom", "phash256", "phash256_zoom"]


@dataclass(frozen=True)
class Inspected:
    asset_id: int
    prints: imaging.Prints | None
    problem: str = ""


def inspect_one(asset: Asset) -> Inspected:
    """Decode and fingerprint one asset; I/O and pixels only, no database writes."""
    try:
        with default_storage.open(asset.storage_name, "rb") as f:
            data = f.read()
    except OSError as exc:
        return Inspected(asset.pk, None, f"stored bytes cannot be read: {exc}")
    try:
        im = imaging.decode_upright(data, min_side=settings.DEDUPE_DECODE_SIDE, orientation=asset.exif_orientation)
        return Inspected(asset.pk, imaging.fingerprint(im, thumbnail_side=settings.DEDUPE_THUMBNAIL_SIZE))
    except imaging.UnreadableImage as exc:
        return Inspected(asset.pk, None, str(exc))


def assets_inspect(asset_ids: Sequence[int]) -> int:
    """Inspect the pending assets among `asset_ids`; returns how many this call settled."""
    pending = list(Asset.objects.filter(pk__in=asset_ids, inspection=Asset.Inspection.PENDING))
    results = [inspect_one(asset) for asset in pending]
    thumbnails = {r.asset_id: _save_thumbnail(r) for r in results if r.prints is not None}
    with transaction.atomic():
        still_pending = {
            a.pk: a
            for a in Asset.objects.select_for_update().filter(
                pk__in=[r.asset_id for r in results], inspection=Asset.Inspection.PENDING
            )
        }
        results = [r for r in results if r.asset_id in still_pending]
        if not results:
            return 0
        _write_readable([r for r in results if r.prints], still_pending, thumbnails)
        unreadable = [r for r in results if not r.prints]
        event = audit_record(
            action="asset.inspect",
            actor_name="system:inspect",
            subjects=[("asset", r.asset_id) for r in results],
            after={
                "readable": len(results) - len(unreadable),
                "unreadable": [{"asset": r.asset_id, "reason": r.problem} for r in unreadable],
            },
        )
        for r in unreadable:
            _mark_unreadable(still_pending[r.asset_id], r.problem, event)
    return len(results)


def _save_thumbnail(result: Inspected) -> str:
    name = f"thumbnails/{result.asset_id % 1000:03d}/{result.asset_id}.webp"
    if default_storage.exists(name):  # a retried chunk: same asset, same thumbnail
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(result.prints.thumbnail))


def _write_readable(results: list[Inspected], assets: dict[int, Asset], thumbnails: dict[int, str]) -> None:
    for r in results:
        asset = assets[r.asset_id]
        asset.inspection = Asset.Inspection.READABLE
        asset.thumbnail_name = thumbnails[r.asset_id]
    Asset.objects.bulk_update([assets[r.asset_id] for r in results], ["inspection", "thumbnail_name"])
    Fingerprint.objects.bulk_create(
        [
            Fingerprint(
                asset_id=r.asset_id,
                phash=r.prints.phash,
                dhash=r.prints.dhash,
                phash_zoom=r.prints.phash_zoom,
                phash256=r.prints.phash256,
                phash256_zoom=r.prints.phash256_zoom,
            )
            for r in results
        ],
        update_conflicts=True,
        unique_fields=["asset"],
        update_fields=FINGERPRINT_FIELDS,
    )


def _mark_unreadable(asset: Asset, problem: str, event) -> None:
    """An unreadable asset keeps its bytes; the placeholders showing it become stripped."""
    Asset.objects.filter(pk=asset.pk).update(inspection=Asset.Inspection.UNREADABLE, unreadable_reason=problem)
    shown = Attachment.objects.select_for_update().filter(
        asset=asset, state__in=[Attachment.State.ATTACHED, Attachment.State.RESTORED]
    )
    for attachment in shown:
        reason = f"asset {asset.pk} is unreadable: {problem}"
        attachment_repoint(
            attachment, asset_id=asset.pk, state=Attachment.State.STRIPPED, reason=reason, audit_event=event
        )
    if asset.import_run_id is not None:
        ImportProblem.objects.create(
            run_id=asset.import_run_id, row=asset.import_row, path=asset.origin_path, reason=problem, asset=asset
        )


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def wait_for_inspection(pending_count: Callable[[], int], progress: Callable[[int], None], *, timeout: float) -> int:
    """Poll until workers have settled every pending asset or `timeout` passes; returns what is left."""
    deadline = time.monotonic() + timeout
    left = pending_count()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        now = pending_count()
        progress(left - now)
        left = now
    return left
