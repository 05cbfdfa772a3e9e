"""Who sees what: every view and service asks here, so a rule is never only a hidden link.

A caseworker sees only the sources assigned to them; an object outside them is a 404, with no
difference shown between "does not exist" and "not yours".
"""

from django.db.models import QuerySet
from django.http import Http404

from dedupe.models import Asset, Candidate, CandidateGroup, Record, Source
from dedupe.roles import Capability, can

from .groups import group_members


def visible_sources(user) -> QuerySet[Source]:
    """Every source, the assigned ones, or none (anyone signed out or without a role: no capability)."""
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


def candidate_for(user, pk: int) -> Candidate:
    try:
        return visible_candidates(user).select_related("asset_a__source", "asset_b__source").get(pk=pk)
    except Candidate.DoesNotExist:
        raise Http404("No such candidate.") from None


def group_for(user, pk: int) -> tuple[CandidateGroup, list[Asset]]:
    """The group and its members, or 404 unless the person may see every member's source."""
    group = CandidateGroup.objects.filter(pk=pk).first()
    members = group_members(pk) if group else set()
    if group is None or not members:
        raise Http404("No such group, or nothing in it is open.")
    assets = list(Asset.objects.filter(pk__in=members).select_related("source").order_by("pk"))
    # values_list(flat=True) without "pk" is the same query: an equivalent mutant, left unmutated.
    visible = set(visible_sources(user).values_list("pk", flat=True))  # pragma: no mutate
    if any(a.source_id not in visible for a in assets):
        raise Http404("No such group.")
    return group, assets
