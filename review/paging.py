"""Lists of records, found by id or address and paged by keyset, as the source and search pages show them."""

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from dedupe.models import Record

PAGE_SIZE = 50


def record_page(request: HttpRequest, records: QuerySet[Record]) -> dict:
    """`?q=` narrows by external id or address; `?after=` continues after a record id (no OFFSET,
    so the list stays stable while rows are added). Returns the template's q, records, next_after."""
    query = request.GET.get("q", "").strip()
    if query:
        records = records.filter(Q(external_id__icontains=query) | Q(address__icontains=query))
    after = request.GET.get("after", "")
    if after.isdigit():
        records = records.filter(pk__gt=int(after))
    page = list(records.order_by("pk")[: PAGE_SIZE + 1])
    return {
        "q": query,
        "records": page[:PAGE_SIZE],
        "next_after": page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None,
    }
