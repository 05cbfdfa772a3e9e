"""The storage page's figures: bytes active, quarantined and reclaimed per source, and what is pending."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from dedupe.models import Asset, Blob, Candidate, Source

from ..models import Purge


@dataclass
class StorageFigures:
    """What the storage page shows: bytes per source and state, reclamation over time, what is pending."""

    sources: list[dict[str, Any]]
    totals: dict[str, int]
    reclaimed_by_day: list[tuple[date, int]]
    open_candidates: dict[str, int]
    exact_estimate: dict[str, int]
    where: dict[str, int]  # the archive's bytes, those we store, those kept at the sources (issue 16)


def storage_figures(*, within: Collection[int] | None = None) -> StorageFigures:
    """Bytes active, quarantined and reclaimed per source; `within` limits it to the sources a person sees."""
    sources = Source.objects.order_by("slug")
    assets, purges = Asset.objects.all(), Purge.objects.all()
    candidates = Candidate.objects.filter(status=Candidate.Status.OPEN)
    if within is not None:
        sources = sources.filter(pk__in=within)
        assets, purges = assets.filter(source_id__in=within), purges.filter(source_id__in=within)
        candidates = candidates.filter(asset_a__source_id__in=within, asset_b__source_id__in=within)
    rows: dict[int, dict[str, Any]] = {
        s.pk: {"slug": s.slug, "name": s.name, **dict.fromkeys(_FIGURES, 0)} for s in sources
    }
    by_state = assets.values("source_id", "state").annotate(n=Count("pk"), bytes=Sum("byte_size"))
    for row in by_state.order_by():
        if row["source_id"] in rows and row["state"] in (Asset.State.ACTIVE, Asset.State.QUARANTINED):
            rows[row["source_id"]][f"{row['state']}_bytes"] = row["bytes"] or 0
            rows[row["source_id"]][f"{row['state']}_count"] = row["n"]
    for purged in purges.values("source_id").annotate(n=Count("pk"), bytes=Sum("byte_size")).order_by():
        if purged["source_id"] in rows:
            rows[purged["source_id"]].update(reclaimed_bytes=purged["bytes"] or 0, purged_count=purged["n"])
    per_day = purges.annotate(day=TruncDate("at")).values("day").annotate(bytes=Sum("byte_size")).order_by("day")
    kinds = dict(candidates.values("kind").annotate(n=Count("pk")).order_by().values_list("kind", "n"))
    # Approving an exact pair quarantines one copy; the keeper is usually the older, smaller id.
    # Counted once per asset, however many pairs it is in.
    losers = assets.filter(
        state=Asset.State.ACTIVE, pk__in=candidates.filter(kind=Candidate.Kind.EXACT).values("asset_b")
    ).aggregate(n=Count("pk"), bytes=Sum("byte_size"))
    return StorageFigures(
        sources=list(rows.values()),
        totals={key: sum(r[key] for r in rows.values()) for key in _FIGURES},
        reclaimed_by_day=[(row["day"], row["bytes"] or 0) for row in per_day],
        open_candidates={kind: kinds.get(kind, 0) for kind in Candidate.Kind.values},
        exact_estimate={"assets": losers["n"] or 0, "bytes": losers["bytes"] or 0},
        where=_where(assets),
    )


def _where(assets) -> dict[str, int]:
    """The archive (images not purged), the bytes we store for it (each blob once; images stored
    before blobs, a file each; thumbnails not counted), and what stays at the sources: in use, and
    what the sources may delete (quarantined: after retention; purged: now), or what we deleted
    there ourselves (purged from a bucket whose source granted write access)."""
    live = assets.exclude(state=Asset.State.PURGED)
    in_place = assets.filter(storage_name="")
    theirs, writable = in_place.filter(source__write_access=False), in_place.filter(source__write_access=True)

    def total(rows) -> int:
        return rows.aggregate(n=Sum("byte_size"))["n"] or 0

    blobs = Blob.objects.filter(storage_name__in=live.exclude(storage_name="").values("storage_name"))
    older = live.exclude(storage_name="").exclude(storage_name__startswith="blobs/")
    return {
        "archive_bytes": total(live),
        "ours_bytes": total(blobs) + total(older),
        "in_place_bytes": total(in_place.exclude(state=Asset.State.PURGED)),
        "source_may_delete_later_bytes": total(theirs.filter(state=Asset.State.QUARANTINED)),
        "source_may_delete_now_bytes": total(theirs.filter(state=Asset.State.PURGED)),
        "we_delete_later_bytes": total(writable.filter(state=Asset.State.QUARANTINED)),
        "deleted_at_source_bytes": total(writable.filter(state=Asset.State.PURGED)),
    }


_FIGURES = (
    "active_bytes",
    "active_count",
    "quarantined_bytes",
    "quarantined_count",
    "reclaimed_bytes",
    "purged_count",
)
