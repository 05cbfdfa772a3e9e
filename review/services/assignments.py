"""Handing pairs to one reviewer, or back to the common queue; each hand-out is an audit event."""

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.models import Candidate
from dedupe.roles import Capability

from ..models import ReviewAssignment
from .authority import pairs_within_sight, require_capability


def assignments_clear(*, actor: Any, candidates: Sequence[Candidate]) -> None:
    """Put the pairs back in the common queue (those the actor may see; the others are left alone)."""
    require_capability(actor, Capability.APPROVE)
    candidates = pairs_within_sight(actor, candidates)
    with transaction.atomic():
        gone = ReviewAssignment.objects.filter(candidate__in=candidates)
        audit_record(
            action=Action.QUEUE_UNASSIGN, actor=actor, subjects=[(Subject.CANDIDATE, c.pk) for c in candidates]
        )
        gone.delete()


def assignments_give(*, actor: Any, reviewer: Any, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Give the pairs to `reviewer`; those whose sources the actor or the reviewer may not see are left out.

    Returns the pairs given.
    """
    require_capability(actor, Capability.APPROVE)
    given = pairs_within_sight(reviewer, pairs_within_sight(actor, candidates))
    with transaction.atomic():
        for candidate in given:
            ReviewAssignment.objects.update_or_create(
                candidate=candidate, defaults={"reviewer": reviewer, "assigned_by": actor}
            )
        audit_record(
            action=Action.QUEUE_ASSIGN,
            actor=actor,
            subjects=[(Subject.USER, reviewer.pk), *[(Subject.CANDIDATE, c.pk) for c in given]],
            after={"reviewer": reviewer.get_username(), "pairs": [c.pk for c in given]},
        )
    return given
