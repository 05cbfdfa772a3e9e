"""Pages a caseworker may open say nothing of sources they are not assigned to: the record page, the
image page, a group, the desk, the history and the restore suggestions.

The situation the review found: an archivist merged a caseworker's image onto another source's
copy, so the caseworker's own record now shows an image they may not see.
"""

import pytest

from dedupe.candidates import groups_rebuild
from dedupe.models import Attachment, Candidate, Record
from review.models import Decision, LegalHold
from tests.factories import archive_rows, merged, store_bytes, strip, user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(client):
    """CASE-0's image x merged onto permits' p (noted); permits' q merged onto cases' y; y and z paired;
    a decision inside permits; a hold on PERM-1; cleo (caseworker of cases) signed in."""
    cases, ((case0, x), (_, y), (_, z)) = archive_rows("cases", records=3)
    _, ((_, p), (perm1, q), (_, r)) = archive_rows("permits", records=3)
    archivist = user_with_role("ana", "archivist")
    merged(p, x, archivist, note="SECRET-MERGE-NOTE")
    merged(y, q, archivist)
    inside = Candidate.objects.create(asset_a=p, asset_b=r, kind="near", score=0.8)
    Decision.objects.create(candidate=inside, verdict="different", reason="other", status="applied",
                            decided_by=archivist, note="PERMITS-ONLY-VERDICT")  # fmt: skip
    pair = Candidate.objects.create(asset_a=y, asset_b=z, kind="near", score=0.9)
    groups_rebuild()
    LegalHold.objects.create(record=perm1, reason="PERMITS-LITIGATION", placed_by=archivist)
    client.force_login(user_with_role("cleo", "caseworker", sources=(cases,)))
    pair.refresh_from_db()
    return {"case0": case0, "x": x, "y": y, "z": z, "p": p, "perm1": perm1, "pair": pair}


def test_the_caseworkers_own_record_shows_nothing_of_the_other_sources_image(client, world):
    p = world["p"]
    assert Attachment.objects.get(record=world["case0"]).asset_id == p.pk  # the cross-source merge

    page = client.get(f"/records/{world['case0'].pk}/").content.decode()

    assert world["case0"].external_id in page  # the page itself is theirs
    assert p.origin_path not in page and p.sha256[:16] not in page
    assert f"/assets/{p.pk}/" not in page
    assert "SECRET-MERGE-NOTE" not in page and "PERMITS-ONLY-VERDICT" not in page
    assert "same photograph as" not in page  # the history step's reason names the other image
    assert "An image kept in a source you are not assigned to" in page


def test_the_image_page_does_not_say_where_its_image_was_merged_to(client, world):
    page = client.get(f"/assets/{world['x'].pk}/").content.decode()

    assert "Quarantined" in page  # its own state is the caseworker's to know
    assert f"/assets/{world['p'].pk}/" not in page
    assert "ana" not in page  # who decided the merge onto the other source's image


def test_a_group_and_the_desk_name_no_record_and_no_hold_of_another_source(client, world):
    group = client.get(f"/groups/{world['pair'].group_id}/").content.decode()
    desk = client.get(f"/candidates/{world['pair'].pk}/").content.decode()

    perm1 = world["perm1"].external_id
    assert "PERMITS-LITIGATION" not in desk
    assert perm1 not in group and perm1 not in desk
    assert Record.objects.get(pk=world["perm1"].pk).attachments.get().asset_id == world["y"].pk  # it shows y


def test_restore_suggestions_do_not_describe_a_pair_the_caseworker_cannot_open(client, world):
    y, p = world["y"], world["p"]
    store_bytes(y)
    hidden = Candidate.objects.create(asset_a=y, asset_b=p, kind="near", score=0.7)
    strip(Attachment.objects.get(record=world["case0"]))

    page = client.get(f"/records/{world['case0'].pk}/").content.decode()

    assert f'value="{y.pk}"' in page  # the copy the caseworker may use is still offered
    assert f"candidate {hidden.pk}" not in page and f"image {p.pk}" not in page
