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
    query, after = query.get("q", "").strip(), query.get("after", "")
    if query:
        records = records.filter(Q(external_id__icontains=query) | Q(address__icontains=query))
    if after.isdigit():
        records = records.filter(pk__gt=int(after))
    page = list(records.order_by("pk")[: PAGE_SIZE + 1])
    return {
        "q": query,
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
    for attachment in attachments:
        attachment.foreign = not _seen(attachment.asset, seen)
        attachment.steps = list(attachment.history.all())
        for step in attachment.steps:
            step.hidden = not (_seen(step.from_asset, seen) and _seen(step.to_asset, seen))
        latest_hidden = bool(attachment.steps) and attachment.steps[-1].hidden
        attachment.shown_reason = "" if attachment.foreign or latest_hidden else attachment.reason
    return attachments


def _seen(asset: Asset | None, seen: set[int]) -> bool:
    return asset is None or asset.source_id in seen
