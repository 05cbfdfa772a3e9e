"""Writes to a source kept in a bucket, where the source grants them (`Source.write_access`, off
by default; issue 16): a quarantined duplicate is moved aside to the quarantine prefix, an unmerge
moves it back, and a purge after retention deletes it. Without write access none of this happens:
a purge records that the source may delete the file (`source_may_delete`), as for a share.

Each runs after the commit of the merge, unmerge or purge that calls for it: the object store is
not part of the transaction, and a rolled-back merge must not have moved anything. Each move is an
audit event with the object's SHA-256 and size; a failure is an event too, and the object is still
read where it lies (`dedupe.originals.object_key`).
"""

from django.db import transaction

from .actions import Action, Subject
from .audit import audit_record
from .buckets import ObjectUnavailable, object_delete, object_move, quarantine_key
from .models import Asset
from .originals import asset_place, in_bucket, object_key

ACTOR = "system:source_writes"


def source_writable(asset: Asset) -> bool:
    """Whether we may move and delete this asset's original at its source."""
    return in_bucket(asset) and asset.source.write_access


def source_quarantine_after_commit(asset_id: int) -> None:
    """Called by a merge inside its transaction: the object moves only if the merge commits."""
    transaction.on_commit(lambda: source_quarantine(asset_id))


def source_return_after_commit(asset_id: int) -> None:
    """Called by an unmerge inside its transaction: the object moves back only if it commits."""
    transaction.on_commit(lambda: source_return(asset_id))


def source_quarantine(asset_id: int) -> str:
    """Move a quarantined duplicate's object to the quarantine prefix; the key, or "" if not moved."""
    asset = Asset.objects.select_related("source").get(pk=asset_id)
    if asset.state != Asset.State.QUARANTINED or asset.origin_moved_to or not source_writable(asset):
        return ""
    place = asset_place(asset)
    to_key = quarantine_key(place, asset.origin_path)
    return _move(asset, object_key(asset), to_key, Action.SOURCES_QUARANTINE, moved_to=to_key)


def source_return(asset_id: int) -> str:
    """Move an unmerged asset's object back where the import found it; the key, or "" if not moved."""
    asset = Asset.objects.select_related("source").get(pk=asset_id)
    if asset.state != Asset.State.ACTIVE or not asset.origin_moved_to or not source_writable(asset):
        return ""
    home = asset_place(asset).key(asset.origin_path)
    return _move(asset, asset.origin_moved_to, home, Action.SOURCES_RETURN, moved_to="")


def _move(asset: Asset, from_key: str, to_key: str, action: Action, *, moved_to: str) -> str:
    facts = {"sha256": asset.sha256, "byte_size": asset.byte_size, "from": from_key, "to": to_key}
    try:
        moved = object_move(asset_place(asset), from_key, to_key)
    except ObjectUnavailable as exc:
        _record(asset, action, {**facts, "error": str(exc)}, reason=f"not moved: {exc}")
        return ""
    with transaction.atomic():
        Asset.objects.filter(pk=asset.pk).update(
            origin_moved_to=moved_to, origin_etag=moved.etag, origin_mtime_ns=moved.modified_ns
        )
        _record(asset, action, facts, reason=f"{asset.source.slug} grants write access")
    return to_key


def _record(asset: Asset, action: Action, after: dict, *, reason: str) -> None:
    audit_record(
        action=action,
        actor_name=ACTOR,
        subjects=[(Subject.ASSET, asset.pk), (Subject.SOURCE, asset.source.slug)],
        before={"key": after["from"]},
        after=after,
        reason=reason,
    )


def source_delete(asset: Asset) -> str:
    """Delete a purged asset's object at its source; the key deleted (ObjectUnavailable if not)."""
    key = object_key(asset)
    object_delete(asset_place(asset), key)
    return key
