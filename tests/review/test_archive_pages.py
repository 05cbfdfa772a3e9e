"""The archive pages of issue 4: finding records, an image's story, restoring, storage, the merge map
download and bulk approval of exact groups; each checks who may see and do it on the server."""

import csv
import io
import json

import pytest
from django.core import signing

from dedupe.candidates import groups_rebuild
from dedupe.models import Asset, Attachment, AuditEvent, Candidate
from review.admin import KeeperPolicyForm
from review.services.storage import purge_quarantined
from tests.factories import archive_rows, merged, store_bytes, strip, user_with_role

pytestmark = pytest.mark.django_db


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_record_search_finds_by_address_in_every_visible_source(client, archivist, permits, cases):
    client.force_login(archivist)
    record = cases[1][0][0]
    record.address = "14 Harbour Lane"
    record.save()

    page = text(client.get("/records/", {"q": "harbour"}))

    assert record.external_id in page and "PERM-0" not in page
    assert "PERM-0" in text(client.get("/records/", {"q": "PERM-0"}))


def test_record_search_never_shows_an_unassigned_source(client, caseworker, permits):
    client.force_login(caseworker)

    page = text(client.get("/records/", {"q": "Main St"}))

    assert "CASE-0" in page and "PERM-0" not in page


def test_the_canonical_page_keeps_the_duplicates_own_metadata(client, archivist, permits):
    _, [(_, keep), (_, duplicate)] = permits
    Asset.objects.filter(pk=duplicate.pk).update(origin_path="scans/1998/permit-0042.tif")
    merged(keep, duplicate, archivist)
    client.force_login(archivist)

    page = text(client.get(f"/assets/{keep.pk}/"))

    assert "scans/1998/permit-0042.tif" in page and f"image {duplicate.pk}" in page
    assert f'Merged onto <a href="/assets/{keep.pk}/">' in text(client.get(f"/assets/{duplicate.pk}/"))


def test_an_unassigned_image_page_is_not_found(client, caseworker, permits):
    client.force_login(caseworker)

    assert client.get(f"/assets/{permits[1][0][1].pk}/").status_code == 404


def test_a_stripped_placeholder_is_restored_from_its_record_page(client, archivist, permits):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    attachment = strip(record.attachments.get())
    client.force_login(archivist)

    assert f'name="asset" value="{asset.pk}"' in text(client.get(f"/records/{record.pk}/"))
    response = client.post(f"/attachments/{attachment.pk}/restore/", {"asset": asset.pk, "note": "checked the file"})

    assert response.status_code == 302
    attachment.refresh_from_db()
    assert (attachment.state, attachment.asset_id) == ("restored", asset.pk)
    event = AuditEvent.objects.get(action="attachment.restore")
    assert (event.actor_name, event.reason) == ("archivist", "checked the file")
    assert "shows image" in text(client.get(f"/records/{record.pk}/"))


def test_an_auditor_cannot_restore(client, auditor, permits):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    attachment = strip(record.attachments.get())
    client.force_login(auditor)

    page = text(client.get(f"/records/{record.pk}/"))
    response = client.post(f"/attachments/{attachment.pk}/restore/", {"asset": asset.pk})

    assert "Restore slot" not in page
    assert response.status_code == 403  # auditors are refused every POST
    assert Attachment.objects.get(pk=attachment.pk).state == "stripped"


def test_a_refused_restore_says_why(client, archivist, permits):
    _, [(record, _), (_, other)] = permits
    attachment = strip(record.attachments.get())
    client.force_login(archivist)

    response = client.post(f"/attachments/{attachment.pk}/restore/", {"asset": other.pk}, follow=True)

    assert f"Not restored: image {other.pk} has no bytes in storage" in text(response)
    assert Attachment.objects.get(pk=attachment.pk).state == "stripped"


def test_the_storage_page_shows_reclaimed_bytes_and_their_chart(client, archivist, permits, settings):
    settings.DEDUPE_RETENTION_DAYS = 0
    _, [(_, keep), (_, duplicate)] = permits
    store_bytes(keep, duplicate)
    merged(keep, duplicate, archivist)
    assert purge_quarantined(dry_run=False).purged_count == 1
    client.force_login(archivist)

    page = text(client.get("/storage/"))

    assert "1001\xa0bytes</span><span>reclaimed · 1 images purged" in page  # the purged duplicate's size
    assert page.count("<rect ") == 1


def test_a_caseworker_sees_storage_of_assigned_sources_only(client, caseworker, permits):
    client.force_login(caseworker)

    page = text(client.get("/storage/"))

    assert "Cases" in page and "Permits" not in page


def test_the_merge_map_downloads_as_csv_and_json(client, archivist, permits):
    _, [(record, keep), (duplicate_record, duplicate)] = permits
    merged(keep, duplicate, archivist)
    client.force_login(archivist)

    response = client.get("/merge-map/", {"format": "csv", "source": "permits"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    as_json = json.loads(b"".join(client.get("/merge-map/", {"format": "json"}).streaming_content))

    assert response["Content-Disposition"].startswith('attachment; filename="merge-map-permits')
    assert [(r["action"], r["record"], r["duplicate_path"], r["canonical_path"]) for r in rows] == [
        ("merge", duplicate_record.external_id, duplicate.origin_path, keep.origin_path)
    ]
    assert [row["record"] for row in as_json] == [duplicate_record.external_id]


def test_the_merge_map_is_for_archivists_and_administrators(client, caseworker, auditor):
    for user in (caseworker, auditor):
        client.force_login(user)
        assert client.get("/merge-map/", {"format": "csv"}).status_code == 404


def exact_group(slug: str = "exact") -> list[Asset]:
    _, made = archive_rows(slug, records=3)
    assets = [a for _, a in made]
    Asset.objects.filter(pk__in=[a.pk for a in assets]).update(sha256="e" * 64)
    for i, a in enumerate(assets):
        for b in assets[i + 1 :]:
            Candidate.objects.create(asset_a=a, asset_b=b, kind="exact", score=1.0)
    groups_rebuild()
    return assets


def test_exact_groups_are_applied_only_as_the_plan_was_shown(client, archivist):
    assets = exact_group()
    client.force_login(archivist)

    page = text(client.get("/exact-groups/"))
    signed = page.split('name="plan" value="')[1].split('"')[0]
    assert "makes <strong>2</strong> merge(s)" in page
    response = client.post("/exact-groups/", {"plan": signed}, follow=True)

    assert "Applied 1 group(s); 0 skipped." in text(response)
    assert Asset.objects.filter(pk__in=[a.pk for a in assets], state="quarantined").count() == 2
    assert AuditEvent.objects.filter(action="asset.merge").count() == 2


def test_an_altered_plan_is_refused(client, archivist):
    assets = exact_group()
    client.force_login(archivist)
    forged = signing.dumps([{"group": 1, "keep": assets[0].pk, "members": [a.pk for a in assets]}], salt="other")

    response = client.post("/exact-groups/", {"plan": forged}, follow=True)

    assert "too old or was altered" in text(response)
    assert not Asset.objects.filter(state="quarantined").exists()


def test_a_caseworker_cannot_bulk_approve(client, caseworker):
    client.force_login(caseworker)

    assert client.get("/exact-groups/").status_code == 404
    assert client.post("/exact-groups/", {"plan": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("rules", "valid"),
    [(["source:permits", "most_pixels"], True), (["biggest"], False), ("most_pixels", False)],
)
def test_keeper_rules_are_checked_in_the_admin(permits, rules, valid):
    form = KeeperPolicyForm(data={"source": permits[0].pk, "rules": json.dumps(rules)})

    assert form.is_valid() is valid, form.errors


def test_a_second_reviewer_gets_a_fresh_plan_after_an_approval(client, archivist):
    exact_group()
    other = user_with_role("other", "archivist")
    client.force_login(archivist)
    signed = text(client.get("/exact-groups/")).split('name="plan" value="')[1].split('"')[0]
    client.post("/exact-groups/", {"plan": signed})
    client.force_login(other)

    response = client.post("/exact-groups/", {"plan": signed}, follow=True)

    assert "Applied 0 group(s); 1 skipped." in text(response)
    assert AuditEvent.objects.filter(action="asset.merge").count() == 2
