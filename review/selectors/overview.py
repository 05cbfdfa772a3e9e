"""The home page's figures: what waits for this person, the sources they see, storage, the scan.

Each figure counts only what the person may see (`visibility`), and a figure for work they may
not do is zero rather than a count of someone else's queue.
"""

from typing import Any, TypedDict

from django.db.models import Count, Q, QuerySet, Sum

from dedupe.models import Asset, Attachment, Candidate, ImportRun, ScanRun, Source
from dedupe.roles import Capability, can

from ..models import Decision, Purge
from .visibility import visible_candidates, visible_sources

# Import runs listed on the home page; the rest are a click away in the admin.
RECENT_IMPORTS = 5


class HomeFigures(TypedDict):
    sources: QuerySet[Source]
    storage: dict[str, dict[str, Any]]
    waiting: dict[str, int]
    imports: list[ImportRun]


def home_figures(user: Any) -> HomeFigures:
    """The sources with their record and missing-imagery counts, images by state, and the work waiting."""
    visible = visible_sources(user)
    sources = visible.annotate(
        record_count=Count("records", distinct=True),
        missing=Count(
            "records__attachments", filter=Q(records__attachments__state=Attachment.State.STRIPPED), distinct=True
        ),
    )
    assets = Asset.objects.filter(source__in=visible)
    storage: dict[str, dict[str, Any]] = {
        state: assets.filter(state=state).aggregate(n=Count("pk"), bytes=Sum("byte_size"))
        for state in (Asset.State.ACTIVE, Asset.State.QUARANTINED)
    }
    pairs = visible_candidates(user).filter(status=Candidate.Status.OPEN)
    proposals = Decision.objects.filter(status=Decision.Status.PROPOSED)
    waiting = {
        "pairs": pairs.count() if can(user, Capability.DECIDE) else 0,
        "proposals": proposals.count() if can(user, Capability.APPROVE) else 0,
        "reclaimed": Purge.objects.filter(source__in=visible).aggregate(bytes=Sum("byte_size"))["bytes"] or 0,
        "missing": sum(source.missing for source in sources),
    }
    imports = list(ImportRun.objects.all()[:RECENT_IMPORTS]) if can(user, Capability.SEE_IMPORTS) else []
    return {"sources": sources, "storage": storage, "waiting": waiting, "imports": imports}


def scan_latest() -> ScanRun | None:
    """The scan the panel shows: the one started last, running or done."""
    return ScanRun.objects.first()
