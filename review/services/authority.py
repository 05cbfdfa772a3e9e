"""Authorising a change by everything it names and everything it would change, not only the URL's object.

A form can name any id; a merge can reach records far from the pair on screen (an earlier merge
re-pointed another source's placeholder onto one of its images). So each service asks here:
may this person see every object named, and every source the change would write to? A change
that reaches a source the person cannot see, or a sensitive source when they may not approve,
waits for a second person instead of applying.
"""

from collections.abc import Iterable
from typing import Any

from dedupe.models import Asset, Attachment, Source
from dedupe.roles import Capability, can

from ..models import Decision, Merge
from ..selectors.visibility import visible_sources
from .merges import SHOWN, canonical_of

BEYOND_SIGHT = "it would change records or images in sources you are not assigned to"
SENSITIVE = "it touches a sensitive source, and a second person must agree"


def sees_every(actor: Any, source_ids: set[int]) -> bool:
    """Whether the person may see every one of these sources (system work, with no actor, sees all)."""
    if actor is None or can(actor, Capability.SEE_ALL_SOURCES):
        return True  # no query: a decision by an archivist costs what it did
    return source_ids <= set(visible_sources(actor).values_list("pk", flat=True))


def merge_reach(canonical_id: int, duplicate_ids: Iterable[int]) -> set[int]:
    """Sources a merge of the duplicates onto the canonical would write to.

    Each duplicate's chain end is quarantined and every placeholder showing it re-pointed, so its
    source and the sources of those records; the canonical's chain end only gains placeholders.
    """
    target = canonical_of(canonical_id)
    ends = {canonical_of(pk) for pk in duplicate_ids} - {target}
    reach = set(Asset.objects.filter(pk__in=ends).values_list("source_id", flat=True))
    shown = Attachment.objects.filter(asset_id__in=ends, state__in=SHOWN)
    return reach | set(shown.values_list("record__source_id", flat=True))


def reversal_reach(decision: Decision) -> set[int]:
    """Sources reversing the decision would write to: what its merges moved, what it detached."""
    merges = Merge.objects.filter(decision=decision, undone_at__isnull=True)
    reach = set(merges.values_list("duplicate__source_id", flat=True))
    reach |= set(merges.values_list("moves__attachment__record__source_id", flat=True)) - {None}
    if decision.wrong_attachment_id:
        detached = Attachment.objects.filter(pk=decision.wrong_attachment_id)
        reach |= set(detached.values_list("record__source_id", flat=True))
    return reach


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
    seen = visible_sources(actor)
    named = Attachment.objects.filter(pk=attachment_id, asset_id__in=list(asset_ids), record__source__in=seen)
    return named.select_related("record").first()
