"""Authorising a change by everything it names and everything it would change, not only the URL's object.

A form can name any id; a merge can reach records far from the pair on screen (an earlier merge
re-pointed another source's placeholder onto one of its images). So each service asks here:
may this person see every object named, and every source the change would write to? A change
that reaches a source the person cannot see, or a sensitive source when they may not approve,
waits for a second person instead of applying.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from dedupe.models import Asset, Attachment, Candidate, Source
from dedupe.roles import Capability, can

from ..models import Decision, Merge
from ..selectors.visibility import visible_candidates, visible_sources
from .merges import canonical_of


class DecisionRefused(Exception):
    """The decision was not applied; the message is for the reviewer."""


BEYOND_SIGHT = "it would change records or images in sources you are not assigned to"
SENSITIVE = "it touches a sensitive source, and a second person must agree"


def sees_every(actor: Any, source_ids: set[int]) -> bool:
    """Whether the person may see every one of these sources."""
    if can(actor, Capability.SEE_ALL_SOURCES):
        return True  # no query: a decision by an archivist costs what it did
    # values_list(flat=True) without "pk" is the same query: an equivalent mutant, left unmutated.
    return source_ids <= set(visible_sources(actor).values_list("pk", flat=True))  # pragma: no mutate


def merge_reach(canonical_id: int, duplicate_ids: Iterable[int]) -> set[int]:
    """Sources a merge of the duplicates onto the canonical would write to.

    Each duplicate's chain end is quarantined and every placeholder showing it re-pointed, so its
    source and the sources of those records; the canonical's chain end only gains placeholders.
    """
    target = canonical_of(canonical_id)
    ends = {canonical_of(pk) for pk in duplicate_ids} - {target}
    reach = set(Asset.objects.filter(pk__in=ends).values_list("source_id", flat=True))
    shown = Attachment.objects.filter(asset_id__in=ends, state__in=Attachment.SHOWN)
    return reach | set(shown.values_list("record__source_id", flat=True))


def reversal_reach(decision: Decision) -> set[int]:
    """Sources reversing the decision would write to: what it detached, or what its merges moved and quarantined."""
    if decision.wrong_attachment_id:  # a detach merges nothing: only its placeholder's record changes back
        detached = Attachment.objects.filter(pk=decision.wrong_attachment_id)
        return set(detached.values_list("record__source_id", flat=True))
    # Undone merges too: a wider reach only asks for more eyes. A merge that moved nothing has no rows.
    rows = Merge.objects.filter(decision=decision).values_list(
        "duplicate__source_id", "moves__attachment__record__source_id"
    )
    return {source for row in rows for source in row if source is not None}


def second_person_needed(actor: Any, reach: set[int]) -> str:
    """Why the change must wait for a second person; "" when this person may make it alone."""
    if not sees_every(actor, reach):
        return BEYOND_SIGHT
    if can(actor, Capability.APPROVE):
        return ""
    if Source.objects.filter(pk__in=reach, sensitivity=Source.Sensitivity.SENSITIVE).exists():
        return SENSITIVE
    return ""


def attachment_named(actor: Any, asset_ids: Iterable[int], attachment_id: int | None) -> Attachment | None:
    """The attachment, if it shows one of the assets and its record is in a source the person sees.

    Anything else is None, the same answer as for an id that does not exist: a person cannot
    choose a placeholder they were never shown, nor learn that one exists.
    """
    if attachment_id is None:
        return None
    seen = visible_sources(actor)
    return Attachment.objects.filter(pk=attachment_id, asset_id__in=list(asset_ids), record__source__in=seen).first()


def pairs_within_sight(person: Any, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The pairs among `candidates` the person may see: ids a form sends are never taken on trust."""
    # in_bulk(None) (every visible pair) answers the same membership question: an equivalent mutant.
    allowed = visible_candidates(person).in_bulk([c.pk for c in candidates])  # pragma: no mutate
    return [c for c in candidates if c.pk in allowed]


def require_capability(actor: Any, capability: Capability) -> None:
    if not can(actor, capability):
        raise DecisionRefused("your role may not do this")


def require_pair_visible(actor: Any, candidate_id: int) -> None:
    """The same refusal for a pair that does not exist and one outside the person's sources."""
    if can(actor, Capability.SEE_ALL_SOURCES):
        return  # every pair: nothing to ask the database
    if not visible_candidates(actor).filter(pk=candidate_id).exists():
        raise DecisionRefused(f"there is no pair {candidate_id} among the sources you may see")


def require_another_person(actor: Any, asker_id: int, refusal: str) -> None:
    """Four eyes: whoever proposed or asked is never the one who answers."""
    if asker_id == actor.pk:
        raise DecisionRefused(refusal)


def decision_reach(decision: Decision, pair: dict[int, Asset]) -> set[int]:
    """Sources applying the decision would write to (or, for "different", only look at)."""
    reach = {a.source_id for a in pair.values()}
    if decision.canonical_id in pair:  # "same" with its keeper in this pair (a group's other pairs merge nothing)
        reach |= merge_reach(decision.canonical_id, [pk for pk in pair if pk != decision.canonical_id])
    elif decision.wrong_attachment_id:
        attachment = Attachment.objects.filter(pk=decision.wrong_attachment_id)
        reach |= set(attachment.values_list("record__source_id", flat=True))
    return reach


def reversal_sources(decision: Decision) -> set[int]:
    """The pair's sources (whose sensitivity counts) and every source the reversal would write to."""
    candidate = decision.candidate
    pair = Asset.objects.filter(pk__in=[candidate.asset_a_id, candidate.asset_b_id])
    return set(pair.values_list("source_id", flat=True)) | reversal_reach(decision)
