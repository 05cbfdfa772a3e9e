"""Access rules in one place: every view starts from these, so a rule is never only a hidden link."""

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from dedupe.audit import audit_record
from dedupe.models import Asset, Candidate, Record, Source
from dedupe.roles import Capability, can


def visible_sources(user) -> QuerySet[Source]:
    if not user.is_authenticated:
        return Source.objects.none()
    if can(user, Capability.SEE_ALL_SOURCES):
        return Source.objects.all()
    if can(user, Capability.SEE_ASSIGNED_SOURCES):
        return Source.objects.filter(assignments__user=user)
    return Source.objects.none()


def visible_candidates(user) -> QuerySet[Candidate]:
    """Pairs whose two images both come from sources the person may see."""
    if can(user, Capability.SEE_ALL_SOURCES):
        return Candidate.objects.all()  # no join to filter by: the desk's queue stays on its index
    sources = visible_sources(user)
    return Candidate.objects.filter(asset_a__source__in=sources, asset_b__source__in=sources)


def can_view_source(user, source: Source) -> bool:
    return visible_sources(user).filter(pk=source.pk).exists()


def source_for(user, slug: str) -> Source:
    """The source, or 404 when it does not exist or the user may not see it (no difference shown)."""
    try:
        return visible_sources(user).get(slug=slug)
    except Source.DoesNotExist:
        raise Http404("No such source.") from None


def record_for(user, pk: int) -> Record:
    try:
        return Record.objects.select_related("source").get(pk=pk, source__in=visible_sources(user))
    except Record.DoesNotExist:
        raise Http404("No such record.") from None


def asset_for(user, pk: int) -> Asset:
    try:
        return Asset.objects.select_related("source").get(pk=pk, source__in=visible_sources(user))
    except Asset.DoesNotExist:
        raise Http404("No such image.") from None


def require(user, capability: Capability) -> None:
    """A person without the capability is told the page does not exist (no difference shown)."""
    if not can(user, capability):
        raise Http404("Not here.")


def audit_image_view(request, asset: Asset, what: str) -> None:
    """Who looked at which case-file photograph: every view of an image from a sensitive source."""
    if asset.source.sensitivity == Source.Sensitivity.SENSITIVE:
        with transaction.atomic():
            audit_record(
                action=f"image.view.{what}",
                actor=request.user,
                subjects=[("asset", asset.pk), ("source", asset.source.slug)],
            )


def private_image(response):
    """Image responses: cached only by this browser (never a shared proxy), never content-sniffed."""
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
