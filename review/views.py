"""Pages of the site. Each view starts with an access helper from review.access."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db.models import Count, Q, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from dedupe.models import Asset, Attachment, Candidate, ImportRun, ScanRun
from dedupe.roles import Capability, can
from dedupe.scanning import scan_start

from .access import (
    asset_for,
    audit_image_view,
    private_image,
    record_for,
    require,
    source_for,
    visible_candidates,
    visible_sources,
)
from .archive_views import missing_for
from .models import Decision, Purge
from .paging import record_page


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
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
def scan_create(request: HttpRequest) -> HttpResponse:
    """The administrator's scan button; pressing it while a scan runs joins that scan."""
    require(request.user, Capability.SCAN)
    scan, _ = scan_start(started_by=request.user.get_username(), actor=request.user)
    if not request.htmx:
        return redirect("review:home")
    scan.refresh_from_db()  # planning the first phase set the total in the database
    return render(request, "review/home.html#scan-progress", {"scan": scan, "can_scan": True})


@require_GET
@login_required
def scan_progress(request: HttpRequest) -> HttpResponse:
    """The progress panel alone, polled by htmx while a scan runs (it stops polling when done)."""
    context = {"scan": ScanRun.objects.first(), "can_scan": can(request.user, Capability.SCAN)}
    return render(request, "review/home.html#scan-progress", context)


@require_GET
@login_required
def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    source = source_for(request.user, slug)
    records = source.records.annotate(
        attachment_count=Count("attachments"),
        missing=Count("attachments", filter=Q(attachments__state=Attachment.State.STRIPPED)),
    )
    return render(request, "review/source_detail.html", {"source": source, **record_page(request, records)})


@require_GET
@login_required
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = record_for(request.user, pk)
    attachments = record.attachments.select_related("asset").prefetch_related(
        "history__from_asset", "history__to_asset"
    )
    shown = [a.asset_id for a in attachments if a.asset_id]
    candidates = (
        visible_candidates(request.user)
        .filter(Q(asset_a__in=shown) | Q(asset_b__in=shown))
        .order_by("-score", "pk")[:50]
    )
    decisions = (
        Decision.objects.filter(
            Q(candidate__asset_a__in=shown) | Q(candidate__asset_b__in=shown) | Q(wrong_attachment__record=record)
        )
        .select_related("decided_by")
        .distinct()
        .order_by("-decided_at")[:50]
    )
    context = {
        "record": record,
        "attachments": attachments,
        "candidates": candidates,
        "decisions": decisions,
        "suggestions": missing_for(request.user, record),
        "can_restore": can(request.user, Capability.RESTORE),
    }
    return render(request, "review/record_detail.html", context)


@require_GET
@login_required
def asset_thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    asset = asset_for(request.user, pk)
    if not asset.thumbnail_name:
        raise Http404("No thumbnail yet.")
    audit_image_view(request, asset, "thumbnail")
    return private_image(FileResponse(default_storage.open(asset.thumbnail_name, "rb"), content_type="image/webp"))


@require_GET
@login_required
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, Capability.SEE_IMPORTS)
    run = get_object_or_404(ImportRun, pk=pk)
    return render(request, "review/import_run.html", {"run": run, "problems": run.problems.all()[:1000]})
