"""Decisions and merges: applied once, undone exactly, refused with the reason when a promise is at stake."""

import pytest
from django.db import transaction

from dedupe.models import Asset, Attachment, AuditEvent, Candidate, Source
from review.models import Decision, LegalHold, Merge
from review.services import merges
from review.services.decisions import (
    AlreadyDecided,
    DecisionRefused,
    decide_candidate,
    decision_approve,
    decision_reverse,
    last_decision_id,
)
from review.services.merges import canonical_of
from tests.factories import archive_rows, user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def copies(slug: str, n: int = 2, **source_fields) -> list[Asset]:
    """n records in one source, each showing its own asset; candidates between neighbours."""
    source, made = archive_rows(slug, records=n)
    Source.objects.filter(pk=source.pk).update(**source_fields)
    assets = [asset for _, asset in made]
    for a, b in zip(assets, assets[1:], strict=False):
        Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9, evidence={"phash": 2})
    return assets


def candidate(a: Asset, b: Asset) -> Candidate:
    return Candidate.objects.get(asset_a=min(a, b, key=lambda x: x.pk), asset_b=max(a, b, key=lambda x: x.pk))


def same(c: Candidate, keep: Asset, actor) -> Decision:
    return decide_candidate(candidate_id=c.pk, verdict="same", canonical_id=keep.pk, actor=actor, seen=0)


def shown() -> dict[int, tuple[int | None, str]]:
    return {a.pk: (a.asset_id, a.state) for a in Attachment.objects.all()}


@pytest.fixture
def archivist():
    return user_with_role("ana", "archivist")


def latest_event() -> int:
    """Setting up (sources, roles, holds) writes events too; what a test checks comes after."""
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_same_photograph_merges_onto_the_kept_copy(archivist):
    keep, dup = copies("permits")

    decision = same(candidate(keep, dup), keep, archivist)

    assert decision.status == "applied"
    assert set(Attachment.objects.values_list("asset", flat=True)) == {keep.pk}
    assert Asset.objects.get(pk=dup.pk).state == "quarantined"
    assert candidate(keep, dup).status == "same"
    moved = Attachment.objects.get(record__external_id="PERM-1")
    assert [(h.from_asset_id, h.to_asset_id) for h in moved.history.all()] == [(dup.pk, keep.pk)]
    assert AuditEvent.objects.filter(action="asset.merge").count() == 1
    assert AuditEvent.objects.filter(action="decision.apply", subjects__kind="decision").count() == 1


def test_merge_then_unmerge_leaves_every_attachment_exactly_as_before(archivist):
    a, b, c = copies("permits", 3)
    before = shown()
    first = same(candidate(a, b), a, archivist)  # b onto a: pair b-c moves to a-c
    second = same(candidate(a, c), c, archivist)  # a (and b behind it) onto c
    assert canonical_of(b.pk) == c.pk and canonical_of(a.pk) == c.pk

    decision_reverse(decision_id=second.pk, actor=archivist)
    decision_reverse(decision_id=first.pk, actor=archivist)

    assert shown() == before
    assert set(Asset.objects.values_list("state", flat=True)) == {"active"}
    assert not Merge.objects.filter(undone_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="asset.unmerge").count() == 2


def test_merging_onto_a_merged_copy_lands_on_its_canonical_and_no_cycle_forms(archivist):
    a, b, c = copies("permits", 3)
    same(candidate(b, c), c, archivist)  # b -> c

    with transaction.atomic():  # keep b, which is c now (a proposal approved late does this): a -> c
        decision = Decision.objects.create(
            candidate=candidate(a, b), verdict="same", status="reversed", canonical=b, decided_by=archivist
        )
        merges.merge_onto(canonical=b, duplicate=a, decision=decision, actor=archivist)

    assert Merge.objects.get(duplicate=a).canonical_id == c.pk
    assert set(Attachment.objects.values_list("asset", flat=True)) == {c.pk}
    with transaction.atomic():  # a cycle cannot even be asked for: both ends resolve to c
        assert merges.merge_onto(canonical=a, duplicate=c, decision=decision, actor=archivist) is None


def proposed(c: Candidate, keep: Asset) -> Decision:
    """A caseworker's "same" on a sensitive source: it waits, its pair left as it is, for approval."""
    caseworker = user_with_role(f"cleo{c.pk}", "caseworker", sources=(keep.source,))
    return same(c, keep, caseworker)


def test_a_same_on_images_already_one_says_which_decision_made_them_one_and_what_is_kept(archivist):
    a, b, c = copies("cases", 3, sensitivity="sensitive")
    Candidate.objects.create(asset_a=a, asset_b=c, kind="near", score=0.9, evidence={"phash": 2})
    waiting = proposed(candidate(a, c), a)  # "keep a", proposed before the others were decided
    first = decision_approve(decision_id=proposed(candidate(a, b), b).pk, actor=archivist)  # a onto b
    second = decision_approve(decision_id=proposed(candidate(b, c), c).pk, actor=archivist)  # b (and a) onto c
    since = latest_event()

    third = decision_approve(decision_id=waiting.pk, actor=archivist)  # but a and c are one image already, c

    assert (first.kept_id, second.kept_id) == (b.pk, c.pk)
    assert (first.already_one_by_id, second.already_one_by_id) == (None, None)
    third.refresh_from_db()
    assert third.status == "applied" and third.canonical_id == a.pk  # what the reviewer chose stays on record
    assert third.kept_id == c.pk, "the image actually kept, not the one chosen"
    assert third.already_one_by_id == second.pk, "b onto c is what joined a and c"
    assert Merge.objects.filter(decision=third).count() == 0
    events = AuditEvent.objects.filter(pk__gt=since)
    assert [e.action for e in events] == ["decision.approve"]
    assert events[0].after["kept"] == c.pk and events[0].after["already_one_by_decision"] == second.pk
    assert events[0].after["canonical"] == a.pk


def test_the_image_kept_is_recorded_when_the_chosen_keeper_was_merged_away_before(archivist):
    a, b, c = copies("cases", 3, sensitivity="sensitive")
    waiting = proposed(candidate(a, b), b)
    same(candidate(b, c), c, archivist)  # b onto c; the waiting pair a-b stays as it is

    decision = decision_approve(decision_id=waiting.pk, actor=archivist)  # keep b, which is c now

    assert (decision.canonical_id, decision.kept_id, decision.already_one_by_id) == (b.pk, c.pk, None)
    event = AuditEvent.objects.filter(action="decision.approve").latest("pk")
    assert event.after["kept"] == c.pk


def open_pairs_showing(asset: Asset) -> list[Candidate]:
    return list(Candidate.objects.filter(status="open").filter(asset_a=asset) | Candidate.objects.filter(
        status="open", asset_b=asset))  # fmt: skip


def test_a_merge_moves_the_open_pairs_of_the_merged_image_to_the_kept_one_and_unmerge_moves_them_back(archivist):
    a, b, c = copies("permits", 3)  # pairs a-b and b-c
    b_c = candidate(b, c)
    Candidate.objects.filter(pk=b_c.pk).update(kind="exact", evidence={"sha256": "same"})

    decision = same(candidate(a, b), a, archivist)  # b onto a

    assert open_pairs_showing(b) == [], "no open pair offers the quarantined image"
    assert Candidate.objects.get(pk=b_c.pk).status == "moved"
    a_c = candidate(a, c)
    assert a_c.status == "open" and a_c.evidence["moved_from_pair"] == b_c.pk
    assert a_c.kind == "near", "a and c do not share bytes: not byte-identical because b and c did"
    merge_event = AuditEvent.objects.filter(action="asset.merge").latest("pk")
    assert merge_event.after["pairs_moved"] == {str(b_c.pk): a_c.pk}

    decision_reverse(decision_id=decision.pk, actor=archivist)

    assert Candidate.objects.get(pk=b_c.pk).status == "open", "the question is b's again"
    assert Candidate.objects.get(pk=a_c.pk).status == "moved", "the pair the merge opened is closed again"
    unmerge_event = AuditEvent.objects.filter(action="asset.unmerge").latest("pk")
    assert unmerge_event.after["pairs"] == {str(a_c.pk): "closed", str(b_c.pk): "reopened"}
    a_b = candidate(a, b).pk  # b onto a once more: the pair the unmerge closed reopens, no new row
    again = decide_candidate(candidate_id=a_b, verdict="same", canonical_id=a.pk, actor=archivist,
                             seen=last_decision_id(a_b))  # fmt: skip
    assert Candidate.objects.get(pk=a_c.pk).status == "open" and again.kept_id == a.pk
    assert Candidate.objects.filter(asset_a=a, asset_b=c).count() == 1


def test_a_pair_whose_other_image_already_pairs_with_the_kept_one_closes_into_that_pair(archivist):
    a, b, c = copies("permits", 3)
    a_c = Candidate.objects.create(asset_a=a, asset_b=c, kind="near", score=0.8, evidence={"phash": 4})
    same(candidate(b, c), c, archivist)  # b onto c: pair a-b now asks what a-c asks

    assert Candidate.objects.get(pk=candidate(a, b).pk).status == "moved"
    assert Candidate.objects.get(pk=a_c.pk).status == "open"
    assert Candidate.objects.filter(status="open").count() == 1

    same(a_c, c, archivist)  # a onto c: nothing left open, no pair showing a or b
    assert open_pairs_showing(a) == open_pairs_showing(b) == []


def test_a_pair_reopened_after_its_image_was_merged_away_asks_its_question_of_the_kept_image(archivist):
    a, b, c = copies("permits", 3)
    b_c = candidate(b, c)
    different = decide_candidate(candidate_id=b_c.pk, verdict="different", reason="other", actor=archivist, seen=0)
    same(candidate(a, b), a, archivist)  # b onto a

    decision_reverse(decision_id=different.pk, actor=archivist)  # "b and c differ" was wrong

    assert Candidate.objects.get(pk=b_c.pk).status == "moved"
    assert candidate(a, c).status == "open", "the question, of the kept image"
    assert open_pairs_showing(b) == []


def test_the_page_of_a_moved_pair_says_where_its_question_went(archivist, client):
    a, b, c = copies("permits", 3)
    b_c = candidate(b, c)
    same(candidate(a, b), a, archivist)
    client.force_login(archivist)

    page = client.get(f"/candidates/{b_c.pk}/").content.decode()

    assert f"image {b.pk} was merged onto" in page and f"pair {candidate(a, c).pk}</a>" in page


def test_the_second_reviewer_is_told_who_decided_first(archivist):
    keep, dup = copies("permits")
    other = user_with_role("omar", "archivist")
    same(candidate(keep, dup), keep, archivist)

    with pytest.raises(AlreadyDecided, match=r"already decided by ana at \d{4}-\d\d-\d\d \d\d:\d\d"):
        decide_candidate(candidate_id=candidate(keep, dup).pk, verdict="different", reason="other", actor=other, seen=0)
    assert Decision.objects.count() == 1


def test_a_stale_form_is_refused_never_applied(archivist):
    keep, dup = copies("permits")
    c = candidate(keep, dup)
    seen_by_form = last_decision_id(c.pk)
    decision_reverse(decision_id=same(c, keep, archivist).pk, actor=archivist)  # decided and reopened meanwhile

    with pytest.raises(AlreadyDecided, match="changed since you loaded it"):
        decide_candidate(candidate_id=c.pk, verdict="same", canonical_id=dup.pk, actor=archivist, seen=seen_by_form)
    assert Asset.objects.get(pk=keep.pk).state == "active"


def test_different_photographs_needs_a_reason_code(archivist):
    a, b = copies("permits")
    c = candidate(a, b)

    with pytest.raises(DecisionRefused, match="why"):
        decide_candidate(candidate_id=c.pk, verdict="different", actor=archivist, seen=0)
    decide_candidate(candidate_id=c.pk, verdict="different", reason="neighbouring_property", actor=archivist, seen=0)

    assert candidate(a, b).status == "different"
    assert Decision.objects.get().get_reason_display() == "Neighbouring property"


def test_a_wrong_attachment_is_detached_and_reattached_when_reversed(archivist):
    a, b = copies("permits")
    wrong = Attachment.objects.get(asset=b)

    decision = decide_candidate(
        candidate_id=candidate(a, b).pk, verdict="wrong_attachment", wrong_attachment_id=wrong.pk,
        note="photo of the house next door", actor=archivist, seen=0,
    )  # fmt: skip

    wrong.refresh_from_db()
    assert wrong.state == "detached" and "next door" in wrong.reason and wrong.asset_id == b.pk
    decision_reverse(decision_id=decision.pk, actor=archivist)
    wrong.refresh_from_db()
    assert wrong.state == "attached"
    assert [h.to_state for h in wrong.history.all()] == ["detached", "attached"]


def test_a_legal_hold_refuses_the_merge_and_says_why(archivist):
    keep, dup = copies("permits")
    record = Attachment.objects.get(asset=dup).record
    LegalHold.objects.create(record=record, reason="litigation 2026-114", placed_by=archivist)
    last = latest_event()

    with pytest.raises(DecisionRefused, match="legal hold: litigation 2026-114"):
        same(candidate(keep, dup), keep, archivist)

    assert Asset.objects.get(pk=dup.pk).state == "active"
    assert not Decision.objects.exists() and not AuditEvent.objects.filter(pk__gt=last).exists()


def test_a_caseworker_only_proposes_on_a_sensitive_source_until_an_archivist_approves(archivist):
    keep, dup = copies("cases", sensitivity="sensitive")
    caseworker = user_with_role("cleo", "caseworker", sources=(keep.source,))

    proposal = same(candidate(keep, dup), keep, caseworker)
    assert proposal.status == "proposed"
    assert Asset.objects.get(pk=dup.pk).state == "active", "a proposal changes nothing"
    with pytest.raises(AlreadyDecided, match="already decided by cleo"):
        same(candidate(keep, dup), keep, archivist)
    with pytest.raises(DecisionRefused, match="role"):
        decision_approve(decision_id=proposal.pk, actor=caseworker)

    decision_approve(decision_id=proposal.pk, actor=archivist)

    assert Asset.objects.get(pk=dup.pk).state == "quarantined"
    proposal.refresh_from_db()
    assert (proposal.status, proposal.approved_by) == ("applied", archivist)
    actions = list(AuditEvent.objects.values_list("action", "actor_name"))
    assert ("decision.propose", "cleo") in actions and ("decision.approve", "ana") in actions
    assert ("asset.merge", "ana") in actions


def test_a_failure_after_the_change_rolls_back_the_change_and_its_events(archivist, monkeypatch):
    keep, dup = copies("permits")
    before, last = shown(), latest_event()

    def fail(*args, **kwargs):
        raise RuntimeError("injected between the change and the commit")

    monkeypatch.setattr(merges, "attachment_repoint", fail)
    with pytest.raises(RuntimeError):
        same(candidate(keep, dup), keep, archivist)

    assert shown() == before
    assert Asset.objects.get(pk=dup.pk).state == "active"
    assert not Decision.objects.exists() and not Merge.objects.exists()
    assert not AuditEvent.objects.filter(pk__gt=last).exists()


def test_a_detached_attachment_whose_image_was_merged_meanwhile_comes_back_on_the_kept_copy(archivist):
    a, b, c = copies("permits", 3)
    wrong = Attachment.objects.get(asset=b)
    detach = decide_candidate(candidate_id=candidate(a, b).pk, verdict="wrong_attachment", wrong_attachment_id=wrong.pk,
                              actor=archivist, seen=0)  # fmt: skip
    same(candidate(b, c), c, archivist)  # b's image merged into c while the attachment was detached

    decision_reverse(decision_id=detach.pk, actor=archivist)

    wrong.refresh_from_db()
    assert (wrong.state, wrong.asset_id) == ("attached", c.pk)
    assert f"image {b.pk} was merged into {c.pk}" in wrong.reason
