"""Bytes stored once per SHA-256 (issue 16, copy mode): byte-identical files share one blob.

Copies cost no extra bytes from the moment they are imported. A blob's row (`Blob`) is the lock
both sides take: the import that reuses a blob holds it until its batch commits, and the release
that would delete the bytes takes it and then counts the assets still needing them. So bytes are
never deleted under an image that was just given them, and an import that finds no row writes
the bytes anew.
"""

from collections.abc import Callable
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F

from .models import Asset, Blob
from .resilience import storage_full_named


def blob_keep(sha256: str, byte_size: int, opener: Callable[[], IO[bytes]]) -> tuple[str, bool]:
    """The storage name of these bytes, writing them only if no blob holds them yet; and whether
    this call wrote them (the caller deletes what it wrote if its transaction rolls back).

    Called inside the caller's transaction: the blob's row stays locked until it commits.
    """
    blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
    if blob is not None and blob.byte_size == byte_size and default_storage.exists(blob.storage_name):
        return blob.storage_name, False
    with opener() as f, storage_full_named():
        # No extension: an uploaded ".html" or ".svg" must never become a live page if the media
        # folder is ever served as files; the sandbox records what the bytes are.
        name = default_storage.save(f"blobs/{sha256[:2]}/{sha256}", File(f))
    # One upsert: update_or_create costs six statements (a savepoint around each try), and the gate
    # waits for each of them while it holds the upload's lock.
    Blob.objects.bulk_create(
        [Blob(sha256=sha256, storage_name=name, byte_size=byte_size)],
        update_conflicts=True,
        unique_fields=["sha256"],
        update_fields=["storage_name", "byte_size"],
    )
    return name, True


def blob_release(name: str, *, but: int | None = None) -> bool:
    """Delete the bytes at `name` unless an asset other than `but` that is not purged still needs
    them; True when deleted. Bytes of assets stored before blobs (one file each) go the same way.
    """
    with transaction.atomic():
        # A write first: on PostgreSQL it locks the blob's row; on SQLite it takes the write lock,
        # so an import that is reusing the blob commits (or rolls back) before the count below.
        Blob.objects.filter(storage_name=name).update(byte_size=F("byte_size"))
        others = Asset.objects.filter(storage_name=name).exclude(state=Asset.State.PURGED)
        if but is not None:
            others = others.exclude(pk=but)
        if others.exists():
            return False
        Blob.objects.filter(storage_name=name).delete()
        default_storage.delete(name)  # while locked: a waiting import then finds no row and writes anew
    return True


def blob_orphaned(name: str) -> bool:
    """True when neither a blob row nor an asset names these bytes (what a rolled-back import wrote)."""
    return not (Blob.objects.filter(storage_name=name).exists() or Asset.objects.filter(storage_name=name).exists())
