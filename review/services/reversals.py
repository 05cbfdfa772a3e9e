"""The second person on a reversal: approving or rejecting a request to undo an applied decision.

`decision_reverse` makes the request when one person may not reverse alone (a sensitive source,
or sources they cannot see); here someone else who may approve, and sees everything the reversal
would change, answers it. The requester never answers their own request.
"""

from django.db import transaction
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.candidates import group_refresh
from dedupe.roles import Capability

from ..models import Decision, Reversal
from .authority import (
    DecisionRefused,
    require_another_person,
    require_capability,
    require_pair_visible,
    reversal_sources,
    sees_every,
)
from .decisions import AlreadyDecided, reverse_applied


def _lock_waiting(reversal_id: int, actor) -> Reversal:
    reversal = Reversal.objects.select_for_update().select_related("decision__candidate").get(pk=reversal_id)
    if reversal.status != Reversal.Status.PROPOSED:
        raise DecisionRefused(f"this reversal was already answered ({reversal.get_status_display().lower()})")
    require_another_person(actor, reversal.requested_by_id, "a reversal you asked for is answered by another person")
    require_pair_visible(actor, reversal.decision.candidate_id)
    return reversal


def _answer(reversal: Reversal, actor, status: str, note: str) -> None:
    reversal.status, reversal.answered_by, reversal.answered_at = status, actor, timezone.now()
    reversal.save(update_fields=["status", "answered_by", "answered_at"])
    audit_record(
        action=Action.REVERSAL_APPROVE if status == Reversal.Status.APPLIED else Action.REVERSAL_REJECT,
        actor=actor,
        subjects=[(Subject.REVERSAL, reversal.pk), (Subject.DECISION, reversal.decision_id),
                  (Subject.CANDIDATE, reversal.decision.candidate_id)],
        before={"status": Reversal.Status.PROPOSED, "requested_by": reversal.requested_by.get_username()},
        after={"status": status},
        reason=note,
    )  # fmt: skip


def reversal_approve(*, reversal_id: int, actor) -> Decision:
    """Reverse the decision as asked: its merges undone, its detached placeholder re-attached."""
    require_capability(actor, Capability.APPROVE)
    with transaction.atomic():
        reversal = _lock_waiting(reversal_id, actor)
        decision = Decision.objects.select_for_update().select_related("candidate").get(pk=reversal.decision_id)
        if decision.status != Decision.Status.APPLIED:
            raise AlreadyDecided(decision, "this decision")
        if not sees_every(actor, reversal_sources(decision)):
            raise DecisionRefused("it would change records in sources you may not see: another archivist must answer")
        _answer(reversal, actor, Reversal.Status.APPLIED, "")
        reverse_applied(decision, actor, reversal.reason or f"reversal {reversal.pk} approved")
    group_refresh(decision.candidate.group_id)
    return decision


def reversal_reject(*, reversal_id: int, actor, note: str = "") -> Reversal:
    """The decision stands; the request is closed with the answer on the record."""
    require_capability(actor, Capability.APPROVE)
    with transaction.atomic():
        reversal = _lock_waiting(reversal_id, actor)
        _answer(reversal, actor, Reversal.Status.REJECTED, note)
    return reversal
