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
    # A fast path: without it, the filter below over every source gives the same pairs (an
    # equivalent mutant, left unmutated).
    if can(user, Capability.SEE_ALL_SOURCES):  # pragma: no mutate
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
        # select_related saves a query, changes no answer: left unmutated.
        return Record.objects.select_related("source").get(pk=pk, source__in=visible_sources(user))  # pragma: no mutate
    except Record.DoesNotExist:
        raise Http404("No such record.") from None


def asset_for(user, pk: int) -> Asset:
    try:
        # select_related saves a query, changes no answer: left unmutated.
        return Asset.objects.select_related("source").get(pk=pk, source__in=visible_sources(user))  # pragma: no mutate
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
    members = group_members(pk)  # none for a group that does not exist
    if group is None or not members:
        raise Http404("No such group, or nothing in it is open.")
    members_shown = Asset.objects.filter(pk__in=members).order_by("pk")
    assets = list(members_shown.select_related("source"))  # pragma: no mutate (saves queries, changes no answer)
    # values_list(flat=True) without "pk" is the same query: an equivalent mutant, left unmutated.
    visible = set(visible_sources(user).values_list("pk", flat=True))  # pragma: no mutate
    if any(a.source_id not in visible for a in assets):
        raise Http404("No such group.")
    return group, assets
