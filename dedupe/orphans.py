"""Bytes in storage that no row references: what an interrupted import or a crashed worker left.

An import stores a file's bytes before its batch commits, and deletes them if the batch rolls
back; a process killed in between cannot, so the sweep reclaims them later. Only files older
than a grace period count: a younger one may belong to a batch that has not committed yet.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from .actions import Action
from .audit import audit_record
from .models import Asset, Blob

# Folders under storage that only the import (blobs/, and assets/ before blobs) and inspection
# (thumbnails/) write.
FOLDERS = ("blobs", "assets", "thumbnails")
GRACE = timedelta(hours=1)
BATCH = 1000  # names checked against the rows per query


def stored_files(folder: str) -> Iterator[str]:
    """Every file under `folder` in storage, depth first (works for local and object storage)."""
    if not default_storage.exists(folder):
        return
    dirs, files = default_storage.listdir(folder)
    for name in sorted(files):
        yield f"{folder}/{name}"
    for sub in sorted(dirs):
        yield from stored_files(f"{folder}/{sub}")


def orphans(*, grace: timedelta = GRACE) -> Iterator[tuple[str, int]]:
    """(name, size) of every stored file older than `grace` that no asset names as its bytes or thumbnail."""
    cutoff = timezone.now() - grace
    for folder in FOLDERS:
        batch: list[str] = []
        for name in stored_files(folder):
            batch.append(name)
            if len(batch) >= BATCH:
                yield from _unreferenced(batch, cutoff)
                batch = []
        yield from _unreferenced(batch, cutoff)


def _unreferenced(names: list[str], cutoff: datetime) -> Iterator[tuple[str, int]]:
    if not names:
        return
    known = set(Asset.objects.filter(storage_name__in=names).values_list("storage_name", flat=True))
    known |= set(Asset.objects.filter(thumbnail_name__in=names).values_list("thumbnail_name", flat=True))
    known |= set(Blob.objects.filter(storage_name__in=names).values_list("storage_name", flat=True))
    for name in names:
        if name not in known and default_storage.get_modified_time(name) < cutoff:
            yield name, default_storage.size(name)


def orphans_reclaim(found: list[tuple[str, int]], *, actor_name: str) -> int:
    """Delete the orphans found (re-checked against the rows first); returns the bytes reclaimed."""
    names = [name for name, _ in found]
    still = {name for batch in _batches(names) for name, _ in _unreferenced(batch, timezone.now())}
    gone = [(name, size) for name, size in found if name in still]
    for name, _ in gone:
        default_storage.delete(name)
    reclaimed = sum(size for _, size in gone)
    with transaction.atomic():
        audit_record(
            action=Action.STORAGE_ORPHANS_RECLAIM,
            actor_name=actor_name,
            after={"files": len(gone), "bytes": reclaimed, "names": [name for name, _ in gone[:100]]},
            reason="bytes in storage that no row referenced",
        )
    return reclaimed


def _batches(names: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(names), BATCH):
        yield names[i : i + BATCH]
