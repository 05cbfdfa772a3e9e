"""The review queue: its filters, its order, the keyset cursor, and the next pair after one.

The order is Candidate.priority (stored), -score, id: one index, candidate_desk_queue, serves the
queue page, the cursor and "the next pair" without sorting the open pairs.
"""

from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from dedupe.models import Candidate
from dedupe.roles import GRANTS, Capability

from ..models import PairMove
from .visibility import visible_candidates

# The queue's filters, kept in its URL.
FILTERS = ("source", "kind", "min_score", "cross_source", "conflict", "assigned")


def queue_order(candidates: QuerySet[Candidate]) -> QuerySet[Candidate]:
    """Most useful first: exact copies (bulk-approvable), then address conflicts, then by score.

    The order is Candidate.priority (stored), -score, id: one index, candidate_desk_queue, serves
    the queue page, the keyset cursor and "the next pair" without sorting the open pairs.
    """
    return candidates.order_by("priority", "-score", "id")


def after_cursor(candidates: QuerySet[Candidate], priority: int, score: float, pk: int) -> QuerySet[Candidate]:
    """Keyset: the rows after (priority, score, id) in queue order, without OFFSET."""
    return candidates.filter(
        Q(priority__gt=priority) | Q(priority=priority, score__lt=score) | Q(priority=priority, score=score, id__gt=pk)
    )


def queue_filtered(user, query: Mapping[str, str]) -> tuple[QuerySet[Candidate], dict[str, str]]:
    """The open candidates the person may see, narrowed by the queue's filters, in queue order;
    and the filters as applied (an unusable minimum score is dropped)."""
    params = {k: query.get(k, "") for k in FILTERS}
    candidates = visible_candidates(user).filter(status=Candidate.Status.OPEN)
    if params["source"]:
        candidates = candidates.filter(
            Q(asset_a__source__slug=params["source"]) | Q(asset_b__source__slug=params["source"])
        )
    if params["kind"] in Candidate.Kind.values:
        candidates = candidates.filter(kind=params["kind"])
    try:
        if params["min_score"]:
            candidates = candidates.filter(score__gte=float(params["min_score"]))
    except ValueError:
        params["min_score"] = ""
    if params["cross_source"]:
        candidates = candidates.filter(cross_source=True)
    if params["conflict"]:
        candidates = candidates.filter(address_conflict=True)
    if params["assigned"] == "me":
        candidates = candidates.filter(assignment__reviewer=user)
    elif params["assigned"] == "none":
        candidates = candidates.filter(assignment__isnull=True)
    elif params["assigned"]:
        candidates = candidates.filter(assignment__reviewer__username=params["assigned"])
    return queue_order(candidates), params


def cursor_parse(text: str) -> tuple[int, float, int] | None:
    """The (priority, score, id) a "next pairs" link continues after, or None when unusable."""
    try:
        rank, score, pk = text.split("_")
        return int(rank), float(score), int(pk)
    except ValueError:
        return None


def cursor_of(candidate: Candidate) -> str:
    return f"{candidate.priority}_{candidate.score!r}_{candidate.pk}"


def reviewers() -> QuerySet:
    """People who may decide: the choices when handing out pairs."""
    deciders = get_user_model().objects.filter(is_active=True, groups__name__in=GRANTS[Capability.DECIDE])
    return deciders.distinct().order_by("username")


def next_after(user, candidate: Candidate, skipped: list[int]) -> Candidate | None:
    """The pair after this one in queue order (wrapping to the first), leaving out skipped pairs."""
    ordered = queue_order(visible_candidates(user).filter(status=Candidate.Status.OPEN)).exclude(pk__in=skipped)
    following = after_cursor(ordered, candidate.priority, candidate.score, candidate.pk).first()
    return following or ordered.exclude(pk=candidate.pk).first()


def pair_moved(candidate: Candidate) -> PairMove | None:
    """Why a closed pair was moved: the merge that closed it and the pair that carries its question."""
    if candidate.status != Candidate.Status.MOVED:
        return None
    return PairMove.objects.filter(candidate=candidate).select_related("merge").order_by("-pk").first()


def next_group(user, after_group: int) -> int | None:
    """The group to review after this one: that of the first open pair in queue order in a group of
    three or more (pairs are reviewed at the desk), other than this group."""
    pairs = visible_candidates(user).filter(status=Candidate.Status.OPEN, group__size__gt=2)
    pairs = pairs.exclude(group_id=after_group)
    return queue_order(pairs).values_list("group_id", flat=True).first()
