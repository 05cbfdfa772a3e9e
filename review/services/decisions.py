"""Reviewers' verdicts on candidates and groups, applied once however many people click at once.

Every decision locks the candidate rows it concerns (select_for_update; SQLite serialises
writers anyway) and checks that the reviewer saw the latest state: the form carries the id of
the last decision it knew of (0 for none). A partial unique index allows one live decision per
candidate, so even a path that forgot the lock cannot apply two.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.attachments import attachment_repoint
from dedupe.audit import audit_record
from dedupe.candidates import group_refresh
from dedupe.models import Asset, Attachment, Candidate
from dedupe.roles import Capability

from ..models import Decision, Merge, Reversal
from ..selectors.queue import pair_moved
from .authority import (
    DecisionRefused,
    attachment_named,
    decision_reach,
    require_another_person,
    require_capability,
    require_pair_visible,
    reversal_sources,
    second_person_needed,
    sees_every,
)
from .merges import MergeRefused, canonical_of, joined_by, merge_onto, pair_reopen, unmerge

LIVE = (Decision.Status.PROPOSED, Decision.Status.APPLIED)


class AlreadyDecided(DecisionRefused):
    def __init__(self, decision: Decision | None, what: str = "this candidate", why: str = "") -> None:
        self.decision = decision
        if why:
            super().__init__(why)
        elif decision is None:
            super().__init__(f"{what} changed since you loaded it; reload to see its current state")
        else:
            who = decision.decided_by.get_full_name() or decision.decided_by.get_username()
            super().__init__(
                f"{what} was already decided by {who} at {decision.decided_at:%Y-%m-%d %H:%M:%S} "
                f"({decision.get_verdict_display().lower()}, {decision.get_status_display().lower()})"
            )


def last_decision_id(candidate_id: int) -> int:
    """The token a review form carries: what it knew of the candidate's decisions."""
    return Decision.objects.filter(candidate_id=candidate_id).order_by("-id").values_list("id", flat=True).first() or 0


def decide_candidate(
    *,
    candidate_id: int,
    verdict: str,
    actor,
    seen: int,
    canonical_id: int | None = None,
    reason: str = "",
    wrong_attachment_id: int | None = None,
    note: str = "",
) -> Decision:
    """Apply (or propose) one verdict on one pair. `seen` is the form's `last_decision_id`.

    A merge or detach that reaches a source the person cannot see, or a sensitive source when they
    may not approve, is only proposed; `decision.proposed_because` then says why.
    """
    require_capability(actor, Capability.DECIDE)
    with transaction.atomic():
        candidate = _lock_open(candidate_id, seen, actor)
        pair = Asset.objects.select_related("source").in_bulk([candidate.asset_a_id, candidate.asset_b_id])
        decision = Decision(candidate=candidate, verdict=verdict, decided_by=actor, note=note)
        decision.proposed_because = ""
        if verdict == Decision.Verdict.SAME:
            if canonical_id not in pair:
                raise DecisionRefused("choose which of the two images to keep")
            decision.canonical_id = canonical_id
        elif verdict == Decision.Verdict.DIFFERENT:
            if reason not in Decision.Reason.values:
                raise DecisionRefused("say why they are different photographs")
            decision.reason = reason
        elif verdict == Decision.Verdict.WRONG_ATTACHMENT:
            decision.wrong_attachment = attachment_named(actor, pair, wrong_attachment_id)
            if decision.wrong_attachment is None:
                raise DecisionRefused("choose which attachment is wrong: one that shows one of the two images")
        else:
            raise DecisionRefused(f"unknown verdict {verdict!r}")
        if verdict != Decision.Verdict.DIFFERENT:  # "different" changes no record: nothing to agree on
            decision.proposed_because = second_person_needed(actor, decision_reach(decision, pair))
        decision.status = Decision.Status.PROPOSED if decision.proposed_because else Decision.Status.APPLIED
        save_decision(decision, candidate)
        if decision.status == Decision.Status.APPLIED:
            _apply(decision, candidate, pair)
            record_decision(decision, Action.DECISION_APPLY)
        else:
            record_decision(decision, Action.DECISION_PROPOSE)
    group_refresh(candidate.group_id)
    return decision


def _lock_open(candidate_id: int, seen: int, actor) -> Candidate:
    candidate = Candidate.objects.select_for_update().get(pk=candidate_id)
    require_pair_visible(actor, candidate.pk)
    live = Decision.objects.filter(candidate=candidate, status__in=LIVE).select_related("decided_by").first()
    if candidate.status == Candidate.Status.MOVED and (moved := pair_moved(candidate)):
        where = f"decide pair {moved.replacement_id}" if moved.replacement_id else "the two are one image now"
        raise AlreadyDecided(None, why=f"this pair was closed when image {moved.merge.duplicate_id} was merged "
                                       f"onto image {moved.merge.canonical_id}: {where}")  # fmt: skip
    if live or candidate.status != Candidate.Status.OPEN:
        raise AlreadyDecided(live or _latest(candidate))
    if last_decision_id(candidate_id) != seen:
        raise AlreadyDecided(None)  # decided and reopened since the form was loaded
    return candidate


def _latest(candidate: Candidate) -> Decision | None:
    return Decision.objects.filter(candidate=candidate).select_related("decided_by").order_by("-id").first()


def save_decision(decision: Decision, candidate: Candidate) -> None:
    try:
        with transaction.atomic():
            decision.save()
    except IntegrityError:  # the database's last word: another live decision got in first
        raise AlreadyDecided(_latest(candidate)) from None


def _apply(decision: Decision, candidate: Candidate, pair: dict[int, Asset]) -> None:
    """Carry out an applied decision: merge, or mark, or detach."""
    # A group proposal between two copies neither of which is kept has nothing to merge itself:
    # both are merged through their own pairs with the kept copy.
    if decision.verdict == Decision.Verdict.SAME and decision.canonical_id in pair:
        keep = pair[decision.canonical_id]
        duplicate = next(a for pk, a in pair.items() if pk != decision.canonical_id)
        try:
            merge = merge_onto(canonical=keep, duplicate=duplicate, decision=decision, actor=_actor(decision))
        except MergeRefused as refused:
            raise DecisionRefused(f"not merged: {refused}") from None
        record_outcome(decision, merge, keep.pk, duplicate.pk)
    elif decision.verdict == Decision.Verdict.WRONG_ATTACHMENT:
        _detach(decision)
    candidate.status = decision.verdict
    candidate.save(update_fields=["status"])


def record_outcome(decision: Decision, merge: Merge | None, keep_id: int, other_id: int) -> None:
    """Store what a "same" did: the image kept, and when the two were already one, who made them so.

    Racing reviewers (A onto B, B onto C, C onto A at once) leave the last of them nothing to
    merge; its decision must not claim a keeper or a merge that another decision made.
    """
    if merge is not None:
        decision.kept_id = merge.canonical_id
    else:
        decision.kept_id = canonical_of(keep_id)
        joined = joined_by(keep_id, other_id)
        decision.already_one_by_id = joined.decision_id if joined else None
    decision.save(update_fields=["kept", "already_one_by"])


def _actor(decision: Decision):
    return decision.approved_by or decision.decided_by


def _detach(decision: Decision) -> None:
    assert decision.wrong_attachment_id is not None  # _attachment_of set it when this verdict was decided
    attachment = Attachment.objects.select_for_update().get(pk=decision.wrong_attachment_id)
    event = audit_record(
        action=Action.ATTACHMENT_DETACH,
        actor=_actor(decision),
        subjects=[(Subject.ATTACHMENT, attachment.pk), (Subject.RECORD, attachment.record_id),
                  (Subject.ASSET, attachment.asset_id), (Subject.DECISION, decision.pk)],
        before={"state": attachment.state},
        after={"state": Attachment.State.DETACHED},
        reason=decision.note,
    )  # fmt: skip
    why = f"wrong attachment (decision {decision.pk})" + (f": {decision.note}" if decision.note else "")
    attachment_repoint(
        attachment, asset_id=attachment.asset_id, state=Attachment.State.DETACHED, reason=why, audit_event=event
    )


def record_decision(decision: Decision, action: Action, actor=None) -> None:
    candidate = decision.candidate
    audit_record(
        action=action,
        actor=actor or decision.decided_by,
        subjects=[(Subject.DECISION, decision.pk), (Subject.CANDIDATE, candidate.pk),
                  (Subject.ASSET, candidate.asset_a_id), (Subject.ASSET, candidate.asset_b_id)],
        before={"candidate": Candidate.Status.OPEN},
        after={"verdict": decision.verdict, "status": decision.status, "canonical": decision.canonical_id,
               "kept": decision.kept_id, "already_one_by_decision": decision.already_one_by_id,
               "reason": decision.reason, "wrong_attachment": decision.wrong_attachment_id,
               # the evidence as the reviewer saw it: kept with the event, whatever happens to the rows
               "evidence": {"kind": candidate.kind, "score": candidate.score, **candidate.evidence}},
        reason=decision.note,
    )  # fmt: skip


def decision_approve(*, decision_id: int, actor) -> Decision:
    """The second pair of eyes: an archivist applies a caseworker's proposal."""
    require_capability(actor, Capability.APPROVE)
    with transaction.atomic():
        decision = Decision.objects.select_for_update().select_related("candidate", "decided_by").get(pk=decision_id)
        if decision.status != Decision.Status.PROPOSED:
            raise AlreadyDecided(decision, "this proposal")
        require_another_person(actor, decision.decided_by_id, "a proposal needs another person's approval")
        candidate = Candidate.objects.select_for_update().get(pk=decision.candidate_id)
        pair = Asset.objects.select_related("source").in_bulk([candidate.asset_a_id, candidate.asset_b_id])
        if not sees_every(actor, decision_reach(decision, pair)):
            raise DecisionRefused("it would change records in sources you may not see: another archivist must answer")
        decision.status, decision.approved_by, decision.approved_at = Decision.Status.APPLIED, actor, timezone.now()
        decision.save(update_fields=["status", "approved_by", "approved_at"])
        _apply(decision, candidate, pair)
        record_decision(decision, Action.DECISION_APPROVE, actor=actor)
    group_refresh(candidate.group_id)
    return decision


def decision_reject(*, decision_id: int, actor, note: str = "") -> Decision:
    require_capability(actor, Capability.APPROVE)
    with transaction.atomic():
        decision = Decision.objects.select_for_update().select_related("candidate", "decided_by").get(pk=decision_id)
        if decision.status != Decision.Status.PROPOSED:
            raise AlreadyDecided(decision, "this proposal")
        require_another_person(actor, decision.decided_by_id, "a proposal is answered by another person")
        require_pair_visible(actor, decision.candidate_id)
        decision.status = Decision.Status.REJECTED
        decision.save(update_fields=["status"])
        record_decision(decision, Action.DECISION_REJECT, actor=actor)
    return decision


def decision_reverse(*, decision_id: int, actor, reason: str = "") -> Decision | Reversal:
    """Reopen a decided candidate: undo its merges (or re-attach what it detached) and record why.

    Four eyes apply to undoing as to doing: on a sensitive source from someone who may not approve,
    or reaching sources the person cannot see, the reversal is only requested (a `Reversal`
    returned, the decision untouched) until another person approves it (services.reversals).
    """
    # Whoever may decide may reverse (the desk offers each person only their own decisions).
    require_capability(actor, Capability.DECIDE)
    with transaction.atomic():
        decision = Decision.objects.select_for_update().select_related("candidate").get(pk=decision_id)
        require_pair_visible(actor, decision.candidate_id)
        if decision.status != Decision.Status.APPLIED:
            raise AlreadyDecided(decision, "this decision")
        if because := second_person_needed(actor, reversal_sources(decision)):
            return _reversal_request(decision, actor, reason, because)
        reverse_applied(decision, actor, reason)
    group_refresh(decision.candidate.group_id)
    return decision


def _reversal_request(decision: Decision, actor, reason: str, because: str) -> Reversal:
    waiting = Reversal.objects.filter(decision=decision, status=Reversal.Status.PROPOSED).first()
    if waiting is not None:
        raise DecisionRefused(f"its reversal was already asked for by {waiting.requested_by}; it waits for approval")
    reversal = Reversal.objects.create(decision=decision, reason=reason, because=because, requested_by=actor)
    audit_record(
        action=Action.REVERSAL_PROPOSE,
        actor=actor,
        subjects=[
            (Subject.REVERSAL, reversal.pk),
            (Subject.DECISION, decision.pk),
            (Subject.CANDIDATE, decision.candidate_id),
        ],
        after={"status": reversal.status, "because": because},
        reason=reason,
    )
    return reversal


def reverse_applied(decision: Decision, actor, reason: str) -> None:
    """The reversal itself, inside the caller's transaction, once it is allowed."""
    for merge in Merge.objects.filter(decision=decision, undone_at__isnull=True):
        try:
            unmerge(merge_id=merge.pk, actor=actor, reason=reason or f"decision {decision.pk} reversed")
        except MergeRefused as refused:
            raise DecisionRefused(str(refused)) from None
    if decision.verdict == Decision.Verdict.WRONG_ATTACHMENT:
        _reattach(decision, actor, reason)
    decision.status, decision.reversed_at = Decision.Status.REVERSED, timezone.now()
    decision.save(update_fields=["status", "reversed_at"])
    record_decision(decision, Action.DECISION_REVERSE, actor=actor)
    pair_reopen(Candidate.objects.select_for_update().get(pk=decision.candidate_id))


def _reattach(decision: Decision, actor, reason: str) -> None:
    assert decision.wrong_attachment_id is not None  # only a wrong-attachment decision detached one
    attachment = Attachment.objects.select_for_update().get(pk=decision.wrong_attachment_id)
    if attachment.state != Attachment.State.DETACHED:
        return
    was = attachment.asset_id
    assert was is not None  # a detached placeholder keeps its image (Attachment.State.DETACHED)
    # Its image may have been merged away while it was detached: it comes back on the kept copy.
    now = canonical_of(was)
    why = f"re-attached: decision {decision.pk} reversed"
    if now != was:
        why += f"; image {was} was merged into {now} meanwhile"
    event = audit_record(
        action=Action.ATTACHMENT_REATTACH,
        actor=actor,
        subjects=[(Subject.ATTACHMENT, attachment.pk), (Subject.RECORD, attachment.record_id),
                  (Subject.DECISION, decision.pk), (Subject.ASSET, was), (Subject.ASSET, now)],
        before={"state": Attachment.State.DETACHED, "asset": was},
        after={"state": Attachment.State.ATTACHED, "asset": now},
        reason=reason,
    )  # fmt: skip
    attachment_repoint(attachment, asset_id=now, state=Attachment.State.ATTACHED, reason=why, audit_event=event)
