"""Drift of files kept in place (issue 16): a file changed or removed at its source after import.

An object in a bucket is checked the same way: size, ETag and LastModified from a HEAD first,
SHA-256 (streamed) only where they differ.

A file is checked by size and modification time first (a stat, cheap enough for millions) and,
where those differ, by SHA-256: a file touched but not changed is not drift (its time is updated).
A drifted file's image is marked, and every placeholder showing it is stripped with the reason, so
a record shows "missing imagery: the file changed at its source" instead of other bytes. Each
drifted image is an audit event. Runs in chunks of ids, one transaction each.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction

from .actions import Action, Subject
from .attachments import attachment_repoint, attachments_locked
from .audit import audit_record
from .buckets import ObjectUnavailable, object_chunks, object_facts
from .models import Asset, Attachment, Source
from .originals import asset_place, in_bucket, object_drift, object_key, original_drift, original_path

CHUNK = 500


@dataclass
class VerifyReport:
    checked: int = 0
    touched: int = 0  # time changed, bytes the same: not drift
    drifted: list[tuple[int, str]] = field(default_factory=list)  # (image, why)
    unreachable: list[tuple[int, str]] = field(default_factory=list)  # (image, why): a store that did not answer


def sources_verify(*, source: str | None = None, actor_name: str = "system:verify_sources") -> VerifyReport:
    """Check every file kept in place (of one source, or all), chunk by chunk, in this process."""
    report = VerifyReport()
    for ids in verify_chunks(source=source):
        verify_chunk(ids, report=report, actor_name=actor_name)
    return report


def verify_chunks(*, source: str | None = None) -> Iterator[list[int]]:
    """The ids to check, CHUNK at a time (the Celery fan-out sends each as one task)."""
    assets = Asset.objects.filter(source__keeps=Source.Keeps.IN_PLACE, storage_name="", source_drift="").exclude(
        state=Asset.State.PURGED
    )
    if source is not None:
        assets = assets.filter(source__slug=source)
    after = 0
    while ids := list(assets.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:CHUNK]):
        yield ids
        after = ids[-1]


def verify_chunk(ids: list[int], *, report: VerifyReport | None = None, actor_name: str) -> VerifyReport:
    """One chunk in one transaction; safe to run twice (an image already found drifted is skipped)."""
    report = report or VerifyReport()
    with transaction.atomic():
        for asset in Asset.objects.select_for_update().filter(pk__in=ids, source_drift="").order_by("pk"):
            report.checked += 1
            try:
                why = object_drift(asset) if in_bucket(asset) else original_drift(asset)
            except ObjectUnavailable as exc:  # the store did not answer: checked again next time
                report.unreachable.append((asset.pk, str(exc)))
                continue
            if not why:
                continue
            if in_bucket(asset):
                if _object_touched(asset):
                    report.touched += 1
                    continue
            elif _same_bytes(asset):
                Asset.objects.filter(pk=asset.pk).update(origin_mtime_ns=original_path(asset).stat().st_mtime_ns)
                report.touched += 1
                continue
            _mark_drifted(asset, why, actor_name)
            report.drifted.append((asset.pk, why))
    return report


def _same_bytes(asset: Asset) -> bool:
    """Whether the file at the source still has the SHA-256 recorded at import."""
    digest = hashlib.sha256()
    try:
        with open(original_path(asset), "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == asset.sha256


def _object_touched(asset: Asset) -> bool:
    """Whether an object whose size, ETag or time differ still holds the bytes imported (SHA-256,
    streamed once); if so its new ETag and time are recorded, and it is served again."""
    place, key = asset_place(asset), object_key(asset)
    try:
        facts = object_facts(place, key)
        if facts is None or facts.size != asset.byte_size:
            return False
        digest = hashlib.sha256()
        for chunk in object_chunks(place, key, etag=facts.etag, limit=facts.size):
            digest.update(chunk)
    except OSError:
        return False
    if digest.hexdigest() != asset.sha256:
        return False
    Asset.objects.filter(pk=asset.pk).update(origin_etag=facts.etag, origin_mtime_ns=facts.modified_ns)
    return True


def _mark_drifted(asset: Asset, why: str, actor_name: str) -> None:
    shown = list(attachments_locked(asset=asset, state__in=Attachment.SHOWN))
    event = audit_record(
        action=Action.SOURCES_DRIFT,
        actor_name=actor_name,
        subjects=[(Subject.ASSET, asset.pk), (Subject.SOURCE, asset.source.slug)]
        + [(Subject.ATTACHMENT, a.pk) for a in shown],
        before={"origin_path": asset.origin_path, "sha256": asset.sha256, "byte_size": asset.byte_size},
        after={"source_drift": why, "stripped": [a.pk for a in shown]},
        reason=why,
    )
    Asset.objects.filter(pk=asset.pk).update(source_drift=why[:500])
    for attachment in shown:
        attachment_repoint(
            attachment, asset_id=asset.pk, state=Attachment.State.STRIPPED,
            reason=f"image {asset.pk}: {why}", audit_event=event,
        )  # fmt: skip
