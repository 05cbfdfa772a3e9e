"""Four eyes on undoing as on doing: on a sensitive source, reversing a decision and detaching need
a second person, and nobody answers their own request."""

import pytest

from dedupe.models import Asset, Attachment, AuditEvent, Candidate, Source
from review.models import Decision, Reversal
from review.services.decisions import DecisionRefused, decide_candidate, decision_approve, decision_reject
from review.services.decisions import decision_reverse as reverse
from review.services.reversals import reversal_approve, reversal_reject
from tests.factories import archive_rows, user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    """A sensitive `cases` source with a pair; cleo (caseworker, assigned) and ana, bo (archivists)."""
    source, ((_, keep), (_, dup)) = archive_rows("cases")
    Source.objects.filter(pk=source.pk).update(sensitivity="sensitive")
    pair = Candidate.objects.create(asset_a=keep, asset_b=dup, kind="near", score=0.9)
    return {"keep": keep, "dup": dup, "pair": pair,
            "caseworker": user_with_role("cleo", "caseworker", sources=(source,)),
            "archivist": user_with_role("ana", "archivist"),
            "other_archivist": user_with_role("bo", "archivist")}  # fmt: skip


def approved_merge(world) -> Decision:
    proposal = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["keep"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip
    decision_approve(decision_id=proposal.pk, actor=world["archivist"])
    return proposal


def dup_state(world) -> str:
    return Asset.objects.get(pk=world["dup"].pk).state


def test_the_proposer_of_a_four_eyes_merge_cannot_undo_the_approval_alone(world):
    decision = approved_merge(world)

    outcome = reverse(decision_id=decision.pk, actor=world["caseworker"], reason="I was wrong")

    assert isinstance(outcome, Reversal) and outcome.status == "proposed"
    assert "sensitive source" in outcome.because
    assert Decision.objects.get(pk=decision.pk).status == "applied"
    assert dup_state(world) == "quarantined", "a request changes nothing"
    assert AuditEvent.objects.filter(action="reversal.propose", actor_name="cleo").count() == 1
    assert not AuditEvent.objects.filter(action="asset.unmerge").exists()


def test_a_second_person_approving_the_reversal_undoes_the_merge(world):
    decision = approved_merge(world)
    request = reverse(decision_id=decision.pk, actor=world["caseworker"], reason="I was wrong")

    reversal_approve(reversal_id=request.pk, actor=world["other_archivist"])

    assert Decision.objects.get(pk=decision.pk).status == "reversed"
    assert dup_state(world) == "active"
    assert Candidate.objects.get(pk=world["pair"].pk).status == "open"
    request.refresh_from_db()
    assert (request.status, request.answered_by) == ("applied", world["other_archivist"])
    assert AuditEvent.objects.filter(action="asset.unmerge", actor_name="bo", reason="I was wrong").count() == 1
    with pytest.raises(DecisionRefused, match="already answered"):
        reversal_reject(reversal_id=request.pk, actor=world["archivist"])


def test_a_rejected_reversal_leaves_the_decision_standing(world):
    decision = approved_merge(world)
    request = reverse(decision_id=decision.pk, actor=world["caseworker"])

    reversal_reject(reversal_id=request.pk, actor=world["archivist"], note="it is the same photograph")

    assert Reversal.objects.get(pk=request.pk).status == "rejected"
    assert Decision.objects.get(pk=decision.pk).status == "applied" and dup_state(world) == "quarantined"
    event = AuditEvent.objects.get(action="reversal.reject")
    assert (event.actor_name, event.reason) == ("ana", "it is the same photograph")


def test_one_request_waits_at_a_time_and_a_caseworker_cannot_answer_one(world):
    decision = approved_merge(world)
    request = reverse(decision_id=decision.pk, actor=world["caseworker"])

    with pytest.raises(DecisionRefused, match="already asked for by cleo"):
        reverse(decision_id=decision.pk, actor=world["caseworker"])
    with pytest.raises(DecisionRefused, match="role"):
        reversal_approve(reversal_id=request.pk, actor=world["caseworker"])
    assert Reversal.objects.filter(status="proposed").count() == 1


def test_nobody_answers_their_own_request_or_proposal(world):
    """However the rows came about, the person who asked is never the second pair of eyes."""
    archivist = world["archivist"]
    decision = Decision.objects.create(candidate=world["pair"], verdict="different", reason="other",
                                       status="applied", decided_by=archivist)  # fmt: skip
    request = Reversal.objects.create(decision=decision, requested_by=archivist)

    with pytest.raises(DecisionRefused, match="another person"):
        reversal_approve(reversal_id=request.pk, actor=archivist)
    with pytest.raises(DecisionRefused, match="another person"):
        reversal_reject(reversal_id=request.pk, actor=archivist)
    Decision.objects.filter(pk=decision.pk).update(status="proposed")
    with pytest.raises(DecisionRefused, match="another person"):
        decision_reject(decision_id=decision.pk, actor=archivist)
    assert Decision.objects.get(pk=decision.pk).status == "proposed"


def test_a_caseworkers_detach_on_a_sensitive_source_waits_for_a_second_person(world):
    shown = Attachment.objects.get(asset=world["dup"])

    proposal = decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                                seen=0, wrong_attachment_id=shown.pk)  # fmt: skip

    assert proposal.status == "proposed" and "sensitive source" in proposal.proposed_because
    assert Attachment.objects.get(pk=shown.pk).state == "attached"
    decision_approve(decision_id=proposal.pk, actor=world["archivist"])
    assert Attachment.objects.get(pk=shown.pk).state == "detached"


def test_an_archivist_still_reverses_alone(world):
    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["keep"].pk,
                                actor=world["archivist"], seen=0)  # fmt: skip

    outcome = reverse(decision_id=decision.pk, actor=world["archivist"])

    assert outcome.status == "reversed" and dup_state(world) == "active"


def test_the_desk_and_the_proposals_page_carry_the_request_through(client, world):
    decision = approved_merge(world)
    client.force_login(world["caseworker"])

    undo = client.post(f"/decisions/{decision.pk}/undo/", follow=True).content.decode()
    assert "Not undone yet" in undo and dup_state(world) == "quarantined"
    client.force_login(world["other_archivist"])
    waiting = client.get("/proposals/").content.decode()
    request = Reversal.objects.get(decision=decision)
    assert f"/reversals/{request.pk}/" in waiting and "cleo" in waiting
    answered = client.post(f"/reversals/{request.pk}/", {"answer": "approve"}, follow=True).content.decode()

    assert f"decision {decision.pk} reversed" in answered
    assert dup_state(world) == "active"


def test_a_merge_keeping_a_sensitive_image_waits_though_the_duplicate_is_not_sensitive(world):
    """The kept copy's source counts too: nothing of it is moved, but the pair touches it."""
    _, ((_, other),) = archive_rows("permits", records=1)
    world["caseworker"].source_assignments.create(source=other.source)
    pair = Candidate.objects.create(asset_a=world["keep"], asset_b=other, kind="near", score=0.9)

    decision = decide_candidate(candidate_id=pair.pk, verdict="same", canonical_id=world["keep"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip

    assert decision.status == "proposed" and Asset.objects.get(pk=other.pk).state == "active"
