"""Whole groups: one decision for three copies, members split off, and bulk approval of exact groups."""

import pytest

from dedupe.candidates import groups_rebuild
from dedupe.models import Asset, Attachment, AuditEvent, Candidate, CandidateGroup
from review.models import KeeperPolicy
from review.selectors.groups import exact_groups_plan, group_members, suggest_canonical
from review.services.decisions import AlreadyDecided, DecisionRefused
from review.services.groups import decide_group, exact_groups_apply
from tests.factories import archive_rows, user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def group_of(n: int, kind: str = "near", slug: str = "permits") -> tuple[CandidateGroup, list[Asset]]:
    _, made = archive_rows(slug, records=n)
    assets = [a for _, a in made]
    for i, a in enumerate(assets):
        for b in assets[i + 1 :]:
            Candidate.objects.create(asset_a=a, asset_b=b, kind=kind, score=1.0 if kind == "exact" else 0.9)
    groups_rebuild()
    return Candidate.objects.filter(asset_a=assets[0]).first().group, assets


@pytest.fixture
def archivist():
    return user_with_role("ana", "archivist")


def test_three_copies_are_decided_once_onto_the_kept_one(archivist):
    group, (a, b, c) = group_of(3)

    decisions = decide_group(group_id=group.pk, canonical_id=b.pk, actor=archivist, seen_members={a.pk, b.pk, c.pk})

    assert len(decisions) == 3
    assert set(Attachment.objects.values_list("asset", flat=True)) == {b.pk}
    assert set(Asset.objects.filter(state="quarantined").values_list("pk", flat=True)) == {a.pk, c.pk}
    assert AuditEvent.objects.filter(action="asset.merge").count() == 2
    assert not Candidate.objects.filter(status="open").exists()


def test_a_member_that_is_not_the_same_is_split_off_and_stays_open(archivist):
    group, (a, b, c, d) = group_of(4)

    decide_group(group_id=group.pk, canonical_id=a.pk, actor=archivist, seen_members={a.pk, b.pk, c.pk, d.pk},
                 exclude={d.pk})  # fmt: skip

    assert Asset.objects.get(pk=d.pk).state == "active"
    # d against the kept copy is the one question left: its pairs with the merged-away copies moved there
    assert [(x.asset_a_id, x.asset_b_id) for x in Candidate.objects.filter(status="open")] == [(a.pk, d.pk)]
    assert Candidate.objects.filter(status="moved").count() == 2
    assert Attachment.objects.get(asset=d).record.external_id == "PERM-3"


def test_a_group_that_changed_since_the_form_was_loaded_is_refused(archivist):
    group, (a, b, c) = group_of(3)

    with pytest.raises(AlreadyDecided, match="this group changed"):
        decide_group(group_id=group.pk, canonical_id=a.pk, actor=archivist, seen_members={a.pk, b.pk})
    with pytest.raises(DecisionRefused, match="choose the copy to keep"):
        decide_group(group_id=group.pk, canonical_id=a.pk, actor=archivist, seen_members=group_members(group.pk),
                     exclude={a.pk})  # fmt: skip
    assert not Asset.objects.filter(state="quarantined").exists()


def test_the_suggested_keeper_follows_the_sources_rules():
    group, (a, b) = group_of(2)
    Asset.objects.filter(pk=a.pk).update(width=4000, height=3000)

    assert suggest_canonical([a.pk, b.pk]) == (a.pk, "Suggested because it has the most picture (bars trimmed).")
    KeeperPolicy.objects.create(source=a.source, rules=["earliest_import"])
    Asset.objects.filter(pk=b.pk).update(imported_at=a.imported_at.replace(year=2001))
    keep, why = suggest_canonical([a.pk, b.pk])
    assert keep == b.pk and "imported first" in why


def test_bulk_approval_shows_its_plan_then_applies_one_merge_per_duplicate(archivist):
    group_of(3, kind="exact", slug="permits")
    group_of(2, kind="near", slug="cases")

    plan = exact_groups_plan()

    assert len(plan.groups) == 1, "only the byte-identical group is offered"
    assert (plan.merges, plan.records) == (2, 2)
    others = Asset.objects.filter(source__slug="permits").exclude(pk=plan.groups[0]["keep"])
    assert plan.bytes_quarantined == sum(others.values_list("byte_size", flat=True))
    assert not Asset.objects.filter(state="quarantined").exists(), "a plan changes nothing"

    result = exact_groups_apply(plan, actor=archivist)

    assert result == {"applied": 1, "skipped": []}
    assert AuditEvent.objects.filter(action="asset.merge").count() == 2
    assert Candidate.objects.filter(status="open", kind="near").count() == 1


def test_the_byte_identical_members_of_a_mixed_group_are_planned_and_the_near_ones_left_open(archivist):
    """Most groups holding a byte copy also hold near copies: those groups are offered too."""
    group, (a, b, c, d) = group_of(4)  # all near
    Asset.objects.filter(pk__in=[a.pk, c.pk]).update(sha256="c" * 64)
    Candidate.objects.filter(asset_a=a, asset_b=c).update(kind="exact", score=1.0)

    plan = exact_groups_plan()

    assert [(g["group"], g["copies"], g["left_open"]) for g in plan.groups] == [(group.pk, [a.pk, c.pk], 2)]
    assert (plan.merges, plan.records) == (1, 1)
    kept, merged = plan.groups[0]["keep"], ({a.pk, c.pk} - {plan.groups[0]["keep"]}).pop()

    assert exact_groups_apply(plan, actor=archivist) == {"applied": 1, "skipped": []}

    assert Asset.objects.get(pk=merged).state == "quarantined"
    assert set(Asset.objects.filter(state="active").values_list("pk", flat=True)) == {kept, b.pk, d.pk}
    still_open = {(x.asset_a_id, x.asset_b_id) for x in Candidate.objects.filter(status="open")}
    near = {tuple(sorted(p)) for p in ((kept, b.pk), (kept, d.pk), (b.pk, d.pk))}
    assert still_open == near, "the near pairs stay open, asked of the kept copy"
    assert exact_groups_plan().groups == [], "nothing byte-identical left to plan"


def test_the_plan_shows_thumbnails_of_the_copy_kept_and_those_merged(client, archivist):
    group, (a, b, c) = group_of(3)
    Asset.objects.filter(pk__in=[a.pk, b.pk]).update(sha256="c" * 64)
    Candidate.objects.filter(asset_a=a, asset_b=b).update(kind="exact", score=1.0)
    client.force_login(archivist)

    page = client.get("/exact-groups/").content.decode()

    assert f"/assets/{a.pk}/thumbnail/" in page and f"/assets/{b.pk}/thumbnail/" in page
    assert f"/assets/{c.pk}/thumbnail/" not in page, "the near copy is not in the plan"


def test_only_an_archivist_approves_in_bulk():
    group_of(2, kind="exact")
    caseworker = user_with_role("cleo", "caseworker")

    with pytest.raises(DecisionRefused, match="role"):
        exact_groups_apply(exact_groups_plan(), actor=caseworker)
