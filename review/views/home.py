"""The home page: what waits for this person, the sources they see, imports and the scan panel."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import ImportRun
from dedupe.recovery import import_resume_hint
from dedupe.roles import Capability, can
from dedupe.scanning import scan_start

from ..selectors.overview import home_figures, scan_latest
from .shared import AuthenticatedHttpRequest, HtmxHttpRequest, require


@require_GET
@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    context = {**home_figures(request.user), "scan": scan_latest(), "can_scan": can(request.user, Capability.SCAN)}
    return render(request, "review/home.html", context)


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
    context = {"scan": scan_latest(), "can_scan": can(request.user, Capability.SCAN)}
    return render(request, "review/home.html#scan-progress", context)


@require_GET
@login_required
def import_run(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(request.user, Capability.SEE_IMPORTS)
    run = get_object_or_404(ImportRun, pk=pk)
    resume = import_resume_hint(run) if run.status == ImportRun.Status.INTERRUPTED else ""
    context = {"run": run, "problems": run.problems.all()[:1000], "resume": resume}
    return render(request, "review/import_run.html", context)
