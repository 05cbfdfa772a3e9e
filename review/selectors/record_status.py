"""A record's imagery as a source system or a resident's portal asks for it: each slot, what it
shows, and for a stripped slot why, since when and whether a restore is waiting for a person."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max

from dedupe.models import Asset, Attachment, Record

from .imagery import records_missing_imagery


@dataclass(frozen=True)
class SlotStatus:
    attachment: Attachment
    since: datetime
    suggestions: int


def record_status(record: Record, *, within: Collection[int]) -> list[SlotStatus]:
    """Each slot of `record`; suggestions only from sources in `within` (ids the caller may read).

    `since` is the time of the slot's last history step (its current state began then).
    """
    attachments = list(record.attachments.select_related("asset").order_by("slot"))
    last = dict(Attachment.objects.filter(record=record).annotate(last=Max("history__at")).values_list("pk", "last"))
    offers = {m.attachment_id: len(m.suggestions) for m in records_missing_imagery(record_id=record.pk, within=within)}
    return [
        SlotStatus(attachment=a, since=last.get(a.pk) or a.updated_at, suggestions=offers.get(a.pk, 0))
        for a in attachments
    ]


def shown_on(asset_ids: Collection[int], *, within: Collection[int]) -> dict[int, list[tuple[str, str, str]]]:
    """(source, record, slot) showing each asset, in sources `within` only: a match in a source the
    caller may not read is named by its image id alone."""
    found: dict[int, list[tuple[str, str, str]]] = {asset_id: [] for asset_id in asset_ids}
    rows = Attachment.objects.filter(
        asset_id__in=asset_ids, state__in=Attachment.SHOWN, record__source_id__in=within
    ).values_list("asset_id", "record__source__slug", "record__external_id", "slot")
    for asset_id, source, record, slot in rows.order_by("asset_id", "pk")[:1000]:
        found[asset_id].append((source, record, slot))
    return found


def image_facts(asset: Asset) -> dict:
    return {
        "id": asset.pk, "sha256": asset.sha256, "byte_size": asset.byte_size,
        "width": asset.width, "height": asset.height, "format": asset.format,
    }  # fmt: skip
