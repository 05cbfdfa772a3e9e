"""Reclaiming storage: purging quarantined bytes after retention (the figures are `review.selectors.storage`).

Purge is the only place bytes are ever deleted, so it refuses whenever anything could still need
them: a placeholder that points at the asset (even a stripped one: it may be restored onto it), a
legal hold, a merge that can still be undone within retention, or a quarantine nobody can explain
(no live merge). Conditions are checked twice: once in bulk to plan, again under row locks
before each asset is purged, one transaction per asset.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.blobs import blob_release
from dedupe.models import Asset, Attachment
from dedupe.originals import object_key
from dedupe.source_writes import source_delete, source_writable

from ..models import LegalHold, Merge, MergeMove, Purge
from .merges import holds_on

# Quarantined assets planned per round trip: three queries per batch, whatever its size.
BATCH = 500
# A placeholder in any of these states may show the asset again (a stripped one by a restore).
NEEDING = (*Attachment.SHOWN, Attachment.State.STRIPPED)
SYSTEM = "system:purge_quarantined"


class Refusal(StrEnum):
    """Why an asset may not be purged yet, as a code; `PurgeItem.reasons` says it in words."""

    NOT_QUARANTINED = "not_quarantined"
    NO_LIVE_MERGE = "no_live_merge"
    WITHIN_RETENTION = "within_retention"  # only waiting: purgeable once retention passes
    POINTED_AT = "pointed_at"
    HELD = "held"


@dataclass
class PurgeItem:
    """One quarantined asset: purged (or purgeable), or refused with the reasons and their codes."""

    asset_id: int
    source: str
    sha256: str
    byte_size: int
    quarantined_at: datetime | None
    reasons: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    error: str = ""

    def refuse(self, code: Refusal, reason: str) -> None:
        self.refusals.append(code)
        self.reasons.append(reason)

    @property
    def only_waiting(self) -> bool:
        """Refused only because retention has not passed yet: nothing to look into."""
        return self.refusals == [Refusal.WITHIN_RETENTION]

    def as_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset_id,
            "source": self.source,
            "sha256": self.sha256,
            "byte_size": self.byte_size,
            "quarantined_at": self.quarantined_at.isoformat() if self.quarantined_at else None,
            "reasons": self.reasons,
            "refusals": self.refusals,
            "error": self.error,
        }


@dataclass
class PurgeSummary:
    """What a purge did (or, in a dry run, would do) and why the rest stays."""

    dry_run: bool
    now: datetime
    purged: list[PurgeItem] = field(default_factory=list)
    refused: list[PurgeItem] = field(default_factory=list)

    @property
    def purged_count(self) -> int:
        return len(self.purged)

    @property
    def bytes_reclaimed(self) -> int:
        return sum(item.byte_size for item in self.purged)

    @property
    def bytes_by_source(self) -> dict[str, int]:
        by_source: dict[str, int] = defaultdict(int)
        for item in self.purged:
            by_source[item.source] += item.byte_size
        return dict(by_source)

    @property
    def errors(self) -> list[str]:
        return [f"image {item.asset_id}: {item.error}" for item in self.purged if item.error]

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "purged": self.purged_count,
            "bytes_reclaimed": self.bytes_reclaimed,
            "bytes_by_source": self.bytes_by_source,
            "purged_assets": [item.as_json() for item in self.purged],
            "refused": [item.as_json() for item in self.refused],
            "errors": self.errors,
        }


def purge_plan(now: datetime | None = None) -> PurgeSummary:
    """What purge_quarantined would do at `now`: purgeable assets, and the others with reasons."""
    summary = PurgeSummary(dry_run=True, now=now or timezone.now())
    for batch in _planned(summary.now):
        for item in batch:
            (summary.refused if item.reasons else summary.purged).append(item)
    return summary


def purge_quarantined(
    *, dry_run: bool = True, now: datetime | None = None, actor: Any = None, actor_name: str = SYSTEM
) -> PurgeSummary:
    """Delete the bytes of quarantined assets past retention that nothing needs; dry run by default."""
    summary = PurgeSummary(dry_run=dry_run, now=now or timezone.now())
    for batch in _planned(summary.now):
        for item in batch:
            if not item.reasons and not dry_run:
                item = asset_purge(asset_id=item.asset_id, now=summary.now, actor=actor, actor_name=actor_name)
            (summary.refused if item.reasons else summary.purged).append(item)
    return summary


def _planned(now: datetime) -> Iterator[list[PurgeItem]]:
    """Quarantined assets a batch at a time, each with the reasons it may not be purged (if any)."""
    holds = _Holds()
    quarantined = Asset.objects.filter(state=Asset.State.QUARANTINED).select_related("source").order_by("pk")
    after = 0
    while batch := list(quarantined.filter(pk__gt=after)[:BATCH]):
        ids = [asset.pk for asset in batch]
        merged_at = dict(
            Merge.objects.filter(duplicate_id__in=ids, undone_at__isnull=True).values_list("duplicate_id", "at")
        )
        pointing = dict(
            Attachment.objects.filter(asset_id__in=ids, state__in=NEEDING)
            .values("asset_id")
            .annotate(n=Count("pk"))
            .values_list("asset_id", "n")
        )
        held = holds.on(batch)
        yield [
            _item(asset, merged_at.get(asset.pk), pointing.get(asset.pk, 0), held.get(asset.pk, []), now)
            for asset in batch
        ]
        after = batch[-1].pk


def _item(asset: Asset, merged_at: datetime | None, pointing: int, holds: list[str], now: datetime) -> PurgeItem:
    item = PurgeItem(asset.pk, asset.source.slug, asset.sha256, asset.byte_size, merged_at)
    retention = timedelta(days=settings.DEDUPE_RETENTION_DAYS)
    if asset.state != Asset.State.QUARANTINED:
        item.refuse(Refusal.NOT_QUARANTINED, f"it is {asset.state}, not quarantined")
    if merged_at is None:
        item.refuse(Refusal.NO_LIVE_MERGE, "quarantined without a live merge: nothing says which image replaced it")
    elif merged_at + retention > now:
        item.refuse(
            Refusal.WITHIN_RETENTION,
            f"within retention: quarantined {merged_at:%Y-%m-%d %H:%M}, "
            f"its merge can be undone until {merged_at + retention:%Y-%m-%d %H:%M}",
        )
    if pointing:
        item.refuse(Refusal.POINTED_AT, f"{pointing} placeholder(s) still point at it")
    for hold in holds:
        item.refuse(Refusal.HELD, hold)
    return item


def asset_purge(*, asset_id: int, now: datetime, actor: Any = None, actor_name: str = SYSTEM) -> PurgeItem:
    """Purge one asset if it still may be: checked again under locks, recorded, then its bytes deleted.

    Bytes are deleted after the commit. Deleting first would risk, on a failed commit, a
    quarantined asset with no bytes that an unmerge would put back on records; deleting after
    risks at worst orphaned bytes, reported in `error`.
    """
    with transaction.atomic():
        # Merge row first, as unmerge locks it: the two serialise instead of deadlocking.
        merge = Merge.objects.select_for_update().filter(duplicate_id=asset_id, undone_at__isnull=True).first()
        asset = Asset.objects.select_for_update().select_related("source").get(pk=asset_id)
        pointing = Attachment.objects.filter(asset=asset, state__in=NEEDING).count()
        holds = holds_on(asset) + _Holds().before_merge(asset)
        item = _item(asset, merge.at if merge else None, pointing, holds, now)
        if item.reasons or merge is None:  # no live merge is a refusal: _item gave its reason
            return item
        Asset.objects.filter(pk=asset.pk).update(state=Asset.State.PURGED)
        Purge.objects.create(asset=asset, sha256=asset.sha256, byte_size=asset.byte_size, source=asset.source)
        facts = {"sha256": asset.sha256, "byte_size": asset.byte_size, "storage_name": asset.storage_name}
        audit_record(
            action=Action.ASSET_PURGE,
            actor=actor,
            actor_name=actor_name,
            subjects=[(Subject.ASSET, asset.pk), (Subject.MERGE, merge.pk), (Subject.SOURCE, asset.source.slug)],
            before={"state": Asset.State.QUARANTINED, **facts},
            after={
                "state": Asset.State.PURGED,
                **facts,
                "thumbnail_kept": asset.thumbnail_name,
                **_at_source(asset),
            },  # fmt: skip
            reason=f"merged onto image {merge.canonical_id} at {merge.at:%Y-%m-%d %H:%M} (merge {merge.pk}); "
            f"retention {settings.DEDUPE_RETENTION_DAYS} days passed; nothing points at it",
        )
    if source_writable(asset):  # a bucket that grants write access: we delete the object ourselves
        try:
            source_delete(asset)
        except OSError as exc:
            item.error = f"object not deleted at its source ({asset.origin_root}/{asset.origin_path}): {exc}"
        return item
    if not asset.storage_name:  # kept in place: the source deletes it (the merge map and this event say so)
        return item
    try:  # the thumbnail stays: evidence outlives originals; a byte copy still in use keeps the blob
        blob_release(asset.storage_name)
    except Exception as exc:  # noqa: BLE001 - whatever the storage raises, the purge is recorded; report it
        item.error = f"bytes not deleted from storage ({asset.storage_name}): {exc}"
    return item


def _at_source(asset: Asset) -> dict:
    """What the purge means at the source: nothing (our copy), we delete the object, or they may."""
    if asset.storage_name:
        return {}
    if source_writable(asset):
        return {"deleted_at_source": object_key(asset)}
    return {"source_may_delete": asset.origin_path}


class _Holds:
    """The legal holds in force, checked for many assets at once.

    Beyond holds_on (the asset, its source, records showing it), a record that showed the asset
    before a merge moved it away still holds it: that record's evidence is the original file.
    """

    def __init__(self) -> None:
        self.by_asset: dict[int, list[str]] = defaultdict(list)
        self.by_source: dict[int, list[str]] = defaultdict(list)
        self.by_record: dict[int, list[str]] = defaultdict(list)
        for hold in LegalHold.objects.filter(lifted_at__isnull=True).select_related("record", "source"):
            if hold.asset_id:
                self.by_asset[hold.asset_id].append(f"image {hold.asset_id} is under legal hold: {hold.reason}")
            elif hold.record_id:
                self.by_record[hold.record_id].append(f"record {hold.record} is under legal hold: {hold.reason}")
            elif hold.source_id:
                self.by_source[hold.source_id].append(f"source {hold.source} is under legal hold: {hold.reason}")

    def on(self, assets: list[Asset]) -> dict[int, list[str]]:
        """Reasons per asset id, for those under a hold."""
        if not (self.by_asset or self.by_source or self.by_record):
            return {}
        ids = [asset.pk for asset in assets]
        reasons = {a.pk: self.by_asset.get(a.pk, []) + self.by_source.get(a.source_id, []) for a in assets}
        for asset_id, record_id in Attachment.objects.filter(asset_id__in=ids).values_list("asset_id", "record_id"):
            reasons[asset_id] += self.by_record.get(record_id, [])
        for asset_id, reason in self._moved(ids):
            reasons[asset_id].append(reason)
        return {pk: list(dict.fromkeys(found)) for pk, found in reasons.items() if found}

    def before_merge(self, asset: Asset) -> list[str]:
        return [reason for _, reason in self._moved([asset.pk])]

    def _moved(self, ids: list[int]) -> Iterator[tuple[int, str]]:
        if not (self.by_source or self.by_record):
            return
        moved = MergeMove.objects.filter(from_asset_id__in=ids, merge__undone_at__isnull=True).values_list(
            "from_asset_id", "merge_id", "attachment__record_id", "attachment__record__source_id"
        )
        for asset_id, merge_id, record_id, source_id in moved:
            for why in self.by_record.get(record_id, []) + self.by_source.get(source_id, []):
                yield asset_id, f"{why} (it showed image {asset_id} before merge {merge_id})"
