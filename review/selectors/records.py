"""Lists of records, found by id or address and paged by keyset, as the source and search pages show them."""

from collections.abc import Mapping

from django.db.models import Q, QuerySet

from dedupe.models import Record

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
