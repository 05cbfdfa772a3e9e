"""Lists of records, found by id or address and paged by keyset, as the source and search pages show them;
one record's placeholders and their history as a person may read them."""

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet

from dedupe.models import Asset, Attachment, Record

from .visibility import visible_sources

PAGE_SIZE = 50


def record_page(records: QuerySet[Record], query: Mapping[str, str]) -> dict:
    """`q` narrows by external id or address; `after` continues after a record id (no OFFSET,
    so the list stays stable while rows are added). Returns the template's q, records, next_after."""
    text, after = query.get("q", "").strip(), query.get("after", "")
    if text:
        records = records.filter(Q(external_id__icontains=text) | Q(address__icontains=text))
    if after.isdigit():
        records = records.filter(pk__gt=int(after))
    page = list(records.order_by("pk")[: PAGE_SIZE + 1])
    return {
        "q": text,
        "records": page[:PAGE_SIZE],
        "next_after": page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None,
    }


def record_story(user: Any, record: Record) -> list[Attachment]:
    """The record's placeholders with their history, masked where they touch another source.

    A record may show an image of another source (an archivist merged across sources): its file
    name, facts and the decisions behind each step stay out of this person's page. Each
    attachment gains `foreign` (its image is elsewhere), `steps` (history rows, each with
    `hidden`) and `shown_reason` (its reason, unless that comes from elsewhere).
    """
    seen = set(visible_sources(user).values_list("pk", flat=True))
    attachments = list(
        record.attachments.select_related("asset").prefetch_related("history__from_asset", "history__to_asset")
    )
    for attachment in attachments:  # display attributes for the template, not fields: set by name
        foreign = not _seen(attachment.asset, seen)
        steps = list(attachment.history.all())
        hidden = [not (_seen(step.from_asset, seen) and _seen(step.to_asset, seen)) for step in steps]
        for step, masked in zip(steps, hidden, strict=True):
            setattr(step, "hidden", masked)  # noqa: B010
        setattr(attachment, "foreign", foreign)  # noqa: B010
        setattr(attachment, "steps", steps)  # noqa: B010
        setattr(attachment, "shown_reason", "" if foreign or (hidden and hidden[-1]) else attachment.reason)  # noqa: B010
    return attachments


def _seen(asset: Asset | None, seen: set[int]) -> bool:
    return asset is None or asset.source_id in seen
