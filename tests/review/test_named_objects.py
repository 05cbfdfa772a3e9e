"""Every object a request names is authorised, and every record a change would reach, not only the URL's object.

The situation the security review built: a caseworker assigned to `cases` only; an archivist
earlier merged a `permits` image onto a `cases` image, so a `permits` record's placeholder now
shows an image the caseworker may review.
"""

import pytest

from dedupe.candidates import groups_rebuild
from dedupe.models import Asset, Attachment, AuditEvent, Candidate, Source
from review.models import Decision, Reversal, ReviewAssignment
from review.services.assignments import assignments_clear, assignments_give
from review.services.authority import decision_reach, merge_reach
from review.services.decisions import DecisionRefused, decide_candidate, decision_approve, decision_reverse
from review.services.groups import decide_group
from review.services.reversals import reversal_approve
from tests.factories import archive_rows, merged, strip, user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    """x, y in `cases` paired; z (cases) paired with q (permits); permits' PERM-0 re-pointed onto x by an archivist."""
    cases, ((_, x), (_, y), (_, z)) = archive_rows("cases", records=3)
    _, ((perm0, p), (_, q)) = archive_rows("permits")
    archivist = user_with_role("ana", "archivist")
    caseworker = user_with_role("cleo", "caseworker", sources=(cases,))
    merged(x, p, archivist)
    pair = Candidate.objects.create(asset_a=x, asset_b=y, kind="near", score=0.9)
    hidden = Candidate.objects.create(asset_a=z, asset_b=q, kind="near", score=0.9)  # one image not assigned
    groups_rebuild()
    pair.refresh_from_db()
    hidden.refresh_from_db()
    foreign = Attachment.objects.get(record=perm0)
    assert foreign.asset_id == x.pk  # the cross-source merge the review found
    return {"x": x, "y": y, "z": z, "q": q, "pair": pair, "hidden": hidden, "foreign": foreign,
            "archivist": archivist, "caseworker": caseworker}  # fmt: skip


def test_a_wrong_attachment_verdict_naming_another_sources_placeholder_is_refused(world):
    foreign = world["foreign"]

    with pytest.raises(DecisionRefused, match="choose which attachment is wrong"):
        decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                         seen=0, wrong_attachment_id=foreign.pk)  # fmt: skip

    foreign.refresh_from_db()
    assert (foreign.asset_id, foreign.state) == (world["x"].pk, "attached")
    assert not Decision.objects.filter(candidate=world["pair"]).exists()


def test_the_desk_refuses_it_too_and_says_no_more_than_for_an_id_that_does_not_exist(client, world):
    client.force_login(world["caseworker"])
    url = f"/candidates/{world['pair'].pk}/decide/"

    named = client.post(url, {"verdict": "wrong_attachment", "seen": 0, "wrong_attachment": world["foreign"].pk})
    missing = client.post(url, {"verdict": "wrong_attachment", "seen": 0, "wrong_attachment": 999_999})

    assert named.status_code == missing.status_code == 409
    assert "choose which attachment is wrong" in named.content.decode()
    assert Attachment.objects.get(pk=world["foreign"].pk).state == "attached"


def test_a_placeholder_of_their_own_source_that_shows_neither_image_is_refused(world):
    elsewhere = Attachment.objects.get(asset=world["z"])  # cases, but not in this pair

    with pytest.raises(DecisionRefused, match="choose which attachment is wrong"):
        decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                         seen=0, wrong_attachment_id=elsewhere.pk)  # fmt: skip
    assert Attachment.objects.get(pk=elsewhere.pk).state == "attached"


def test_the_caseworker_may_still_detach_a_placeholder_of_their_own_source(world):
    own = Attachment.objects.get(asset=world["y"])

    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                                seen=0, wrong_attachment_id=own.pk)  # fmt: skip

    assert decision.status == "applied"
    assert Attachment.objects.get(pk=own.pk).state == "detached"


def test_a_merge_that_would_move_another_sources_record_is_only_proposed(world):
    x, y, foreign = world["x"], world["y"], world["foreign"]

    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=y.pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip

    assert decision.status == "proposed"
    assert "sources you are not assigned to" in decision.proposed_because
    assert Attachment.objects.get(pk=foreign.pk).asset_id == x.pk, "a proposal changes nothing"
    assert Asset.objects.get(pk=x.pk).state == "active"
    decision_approve(decision_id=decision.pk, actor=world["archivist"])
    assert Attachment.objects.get(pk=foreign.pk).asset_id == y.pk


def test_the_desk_tells_the_caseworker_their_merge_is_only_proposed(client, world):
    client.force_login(world["caseworker"])

    response = client.post(
        f"/candidates/{world['pair'].pk}/decide/", {"verdict": "same", "seen": 0, "canonical": world["y"].pk},
        follow=True,
    )  # fmt: skip

    page = response.content.decode()
    assert "proposed, not applied" in page and "sources you are not assigned to" in page
    assert Attachment.objects.get(pk=world["foreign"].pk).asset_id == world["x"].pk


def test_keeping_the_image_the_foreign_record_shows_merges_at_once(world):
    """Merging y onto x moves only y's own record: nothing outside the caseworker's sources changes."""
    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["x"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip

    assert decision.status == "applied"
    assert Asset.objects.get(pk=world["y"].pk).state == "quarantined"


def test_a_group_merge_that_would_move_another_sources_record_is_only_proposed(client, world):
    group = world["pair"].group
    members = {world["x"].pk, world["y"].pk}
    client.force_login(world["caseworker"])

    response = client.post(f"/groups/{group.pk}/decide/", {"seen": ",".join(map(str, members)),
                                                           "canonical": world["y"].pk}, follow=True)  # fmt: skip

    assert "proposed for an archivist" in response.content.decode()
    assert Decision.objects.get(candidate=world["pair"]).status == "proposed"
    assert Attachment.objects.get(pk=world["foreign"].pk).asset_id == world["x"].pk


def test_a_pair_or_group_outside_the_persons_sources_is_refused_by_the_service(world):
    hidden = world["hidden"]
    caseworker = world["caseworker"]

    with pytest.raises(DecisionRefused, match=f"no pair {hidden.pk}"):
        decide_candidate(candidate_id=hidden.pk, verdict="different", reason="other", actor=caseworker, seen=0)
    members = {world["q"].pk, world["z"].pk}
    with pytest.raises(DecisionRefused, match=f"no group {hidden.group_id}"):
        decide_group(group_id=hidden.group_id, canonical_id=world["z"].pk, actor=caseworker, seen_members=members)
    assert not Decision.objects.filter(decided_by=caseworker).exists()


def test_reversing_a_decision_that_would_move_another_sources_record_is_not_done_alone(world):
    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["y"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip
    decision_approve(decision_id=decision.pk, actor=world["archivist"])

    outcome = decision_reverse(decision_id=decision.pk, actor=world["caseworker"])

    assert isinstance(outcome, Reversal) and "sources you are not assigned to" in outcome.because
    assert Decision.objects.get(pk=decision.pk).status == "applied"
    assert Attachment.objects.get(pk=world["foreign"].pk).asset_id == world["y"].pk
    reversal_approve(reversal_id=outcome.pk, actor=world["archivist"])
    assert Attachment.objects.get(pk=world["foreign"].pk).asset_id == world["x"].pk


def test_pairs_are_assigned_and_cleared_only_by_someone_who_may_hand_them_out(world):
    archivist, caseworker, pair, hidden = world["archivist"], world["caseworker"], world["pair"], world["hidden"]

    with pytest.raises(DecisionRefused, match="^your role may not do this$"):  # the desk shows it as written
        assignments_give(actor=caseworker, reviewer=caseworker, candidates=[pair])
    given = assignments_give(actor=archivist, reviewer=caseworker, candidates=[pair, hidden])
    assert given == [pair]
    with pytest.raises(DecisionRefused, match="role"):
        assignments_clear(actor=caseworker, candidates=[pair])

    assert ReviewAssignment.objects.filter(candidate=pair, reviewer=caseworker).exists()
    assert AuditEvent.objects.filter(action="queue.unassign").count() == 0


def test_a_caseworker_reverses_their_own_merge_alone_whatever_other_merges_exist(world):
    """Only this decision's merges count: the archivist's earlier cross-source merge is not its reach."""
    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["x"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip

    outcome = decision_reverse(decision_id=decision.pk, actor=world["caseworker"])

    assert outcome.status == "reversed" and Asset.objects.get(pk=world["y"].pk).state == "active"


def test_reversing_an_archivists_detach_of_another_sources_placeholder_waits_for_an_archivist(world):
    foreign = world["foreign"]
    detach = decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["archivist"],
                              seen=0, wrong_attachment_id=foreign.pk)  # fmt: skip

    outcome = decision_reverse(decision_id=detach.pk, actor=world["caseworker"])

    assert isinstance(outcome, Reversal)
    assert Attachment.objects.get(pk=foreign.pk).state == "detached"


def test_reversing_a_merge_that_quarantined_another_sources_image_waits_for_an_archivist(world):
    """The merge moved only `cases` records, but it quarantined a `permits` image: undoing it changes that image."""
    x, y, q = world["x"], world["y"], world["q"]
    strip(world["foreign"])  # no permits record shows x or q any more
    strip(Attachment.objects.get(asset=q))
    merged(q, x, world["archivist"])  # x (and CASE-0) onto q: x's chain now ends in permits
    # The merge moves x's open pairs to q, but leaves one that another reviewer is deciding at that
    # instant (locked): this is that pair, still open, decided through the chain.
    Candidate.objects.filter(pk=world["pair"].pk).update(status="open")
    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=y.pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip
    decision_approve(decision_id=decision.pk, actor=world["archivist"])
    assert Asset.objects.get(pk=q.pk).state == "quarantined"

    outcome = decision_reverse(decision_id=decision.pk, actor=world["caseworker"])

    assert isinstance(outcome, Reversal) and Asset.objects.get(pk=q.pk).state == "quarantined"


def test_a_pair_already_merged_into_one_reaches_nothing_beyond_itself(world):
    """y merged onto x before: keeping x moves nothing, though PERM-0 shows x."""
    x, y = world["x"], world["y"]
    merged(x, y, world["archivist"])
    same = Decision(verdict="same", canonical_id=x.pk)

    assert merge_reach(x.pk, [y.pk]) == set()
    assert decision_reach(same, {x.pk: x, y.pk: y}) == {x.source_id}


def test_detaching_a_visible_placeholder_of_a_sensitive_source_beside_the_pair_is_proposed(world):
    """The detached record's source counts, not only the pair's: PERM-0 is permits', which is sensitive."""
    foreign = world["foreign"]
    world["caseworker"].source_assignments.create(source=foreign.record.source)
    Source.objects.filter(pk=foreign.record.source_id).update(sensitivity="sensitive")

    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                                seen=0, wrong_attachment_id=foreign.pk)  # fmt: skip

    assert decision.status == "proposed" and Attachment.objects.get(pk=foreign.pk).state == "attached"


def test_the_pairs_own_sensitive_source_counts_when_the_detached_record_is_elsewhere(world):
    foreign = world["foreign"]
    world["caseworker"].source_assignments.create(source=foreign.record.source)
    Source.objects.filter(pk=world["x"].source_id).update(sensitivity="sensitive")

    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                                seen=0, wrong_attachment_id=foreign.pk)  # fmt: skip

    assert decision.status == "proposed"


def test_a_caseworker_reverses_their_own_detach_alone(world):
    own = Attachment.objects.get(asset=world["y"])
    detach = decide_candidate(candidate_id=world["pair"].pk, verdict="wrong_attachment", actor=world["caseworker"],
                              seen=0, wrong_attachment_id=own.pk)  # fmt: skip

    outcome = decision_reverse(decision_id=detach.pk, actor=world["caseworker"])

    assert outcome.status == "reversed" and Attachment.objects.get(pk=own.pk).state == "attached"


def test_a_foreign_placeholder_that_no_longer_shows_the_image_does_not_hold_a_merge_back(world):
    """PERM-0 was stripped: merging x away moves nothing of permits, so it applies at once."""
    strip(world["foreign"])

    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["y"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip

    assert decision.status == "applied" and Asset.objects.get(pk=world["x"].pk).state == "quarantined"


def test_a_sensitive_source_elsewhere_does_not_make_a_proposal(world):
    Source.objects.filter(slug="permits").update(sensitivity="sensitive")

    decision = decide_candidate(candidate_id=world["pair"].pk, verdict="same", canonical_id=world["x"].pk,
                                actor=world["caseworker"], seen=0)  # fmt: skip

    assert decision.status == "applied"
