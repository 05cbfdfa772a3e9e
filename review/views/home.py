"""The home page: what waits for this person, the sources they see, imports and the scan panel."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import Asset, Candidate, ImportRun, ScanRun
from dedupe.recovery import import_resume_hint
from dedupe.roles import Capability, can
from dedupe.scanning import scan_start

from ..models import Decision, Purge
from ..selectors.visibility import (
    visible_candidates,
    visible_sources,
)
from .shared import AuthenticatedHttpRequest, HtmxHttpRequest, require


@require_GET
@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    sources = visible_sources(request.user).annotate(
        record_count=Count("records", distinct=True),
        missing=Count("records__attachments", filter=Q(records__attachments__state="stripped"), distinct=True),
    )
    assets = Asset.objects.filter(source__in=visible_sources(request.user))
    storage = {
        state: assets.filter(state=state).aggregate(n=Count("pk"), bytes=Sum("byte_size"))
        for state in (Asset.State.ACTIVE, Asset.State.QUARANTINED)
    }
    visible = visible_sources(request.user)
    pairs = visible_candidates(request.user).filter(status=Candidate.Status.OPEN)
    proposals = Decision.objects.filter(status=Decision.Status.PROPOSED)
    waiting = {
        "pairs": pairs.count() if can(request.user, Capability.DECIDE) else 0,
        "proposals": proposals.count() if can(request.user, Capability.APPROVE) else 0,
        "reclaimed": Purge.objects.filter(source__in=visible).aggregate(bytes=Sum("byte_size"))["bytes"] or 0,
        "missing": sum(source.missing for source in sources),
    }
    return render(
        request,
        "review/home.html",
        {
            "sources": sources,
            "storage": storage,
            "waiting": waiting,
            "imports": ImportRun.objects.all()[:5] if can(request.user, Capability.SEE_IMPORTS) else [],
            "scan": ScanRun.objects.first(),
            "can_scan": can(request.user, Capability.SCAN),
        },
    )


@require_POST
@login_required
def scan_create(request: HtmxHttpRequest) -> HttpResponse:
    """The administrator's scan button; pressing it while a scan runs joins that scan."""
    require(request.user, Capability.SCAN)
    scan, _ = scan_start(started_by=request.user.get_username(), actor=request.user)
    if not request.htmx:
        return redirect("review:home")
    scan.refresh_from_db()  # planning the first phase set the total in the database
    return render(request, "review/home.html#scan-progress", {"scan": scan, "can_scan": True})


@require_GET
@login_required
def scan_progress(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The progress panel alone, polled by htmx while a scan runs (it stops polling when done)."""
    context = {"scan": ScanRun.objects.first(), "can_scan": can(request.user, Capability.SCAN)}
    return render(request, "review/home.html#scan-progress", context)


@require_GET
@login_required
def import_run(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(request.user, Capability.SEE_IMPORTS)
    run = get_object_or_404(ImportRun, pk=pk)
    resume = import_resume_hint(run) if run.status == ImportRun.Status.INTERRUPTED else ""
    context = {"run": run, "problems": run.problems.all()[:1000], "resume": resume}
    return render(request, "review/import_run.html", context)
