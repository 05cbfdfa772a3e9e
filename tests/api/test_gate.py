"""The gate: an upload is stored, attached to the copy already kept, or stored for review."""

import io

from django.core.management import call_command

from dedupe.models import Asset, Attachment, AuditEvent, Candidate
from review.models import GatePolicy
from tests.factories import jpeg_bytes, photo, png_bytes, write_manifest


def test_a_new_photograph_is_stored_and_attached(permit_tablets):
    response = permit_tablets.upload("building-permits", jpeg_bytes(photo(1)), record_id="P-7", address="1 Main St")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "stored" and body["matches"] == [] and body["slot"] == "1"
    asset = Asset.objects.get(pk=body["image"]["id"])
    assert asset.inspection == "readable" and asset.fingerprint.phash is not None
    attachment = Attachment.objects.get(record__external_id="P-7")
    assert attachment.asset_id == asset.pk and attachment.state == "attached"
    event = AuditEvent.objects.get(action="gate.store")
    assert event.actor_name == "api:permit-tablets" and event.after["outcome"] == "stored"


def test_a_byte_copy_is_attached_to_the_kept_image_without_new_bytes(permit_tablets):
    data = jpeg_bytes(photo(2))
    first = permit_tablets.upload("building-permits", data, record_id="P-1").json()
    response = permit_tablets.upload("building-permits", data, record_id="P-2")
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "duplicate" and body["image"]["id"] == first["image"]["id"]
    assert body["matches"][0]["kind"] == "exact"
    assert {"source": "building-permits", "record_id": "P-1", "slot": "1"} in body["matches"][0]["shown_on"]
    assert Asset.objects.count() == 1
    assert Attachment.objects.get(record__external_id="P-2").asset_id == first["image"]["id"]
    assert AuditEvent.objects.filter(action="gate.attach", actor_name="api:permit-tablets").count() == 1


def test_a_pixel_identical_copy_is_attached_too(permit_tablets):
    picture = photo(3)
    first = permit_tablets.upload("building-permits", png_bytes(picture, compress_level=1), record_id="P-1").json()
    response = permit_tablets.upload("building-permits", png_bytes(picture, compress_level=9, note="re-saved"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["outcome"] == "duplicate" and body["matches"][0]["kind"] == "pixel"
    assert body["image"]["id"] == first["image"]["id"] and Asset.objects.count() == 1


def test_a_pixel_copy_of_a_file_kept_in_place_is_recognised_from_the_share(permit_tablets, tmp_path, settings):
    """The stored image's pixels are read where it lies (dedupe.originals), not from our storage."""
    settings.DEDUPE_NEW_SOURCES_KEEP = "in_place"
    picture = photo(3)
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "p1.png").write_bytes(png_bytes(picture, compress_level=1))
    rows = [["p1.png", "building-permits", "P-1", 1, "", ""]]
    call_command("import_archive", str(write_manifest(tmp_path / "share", rows)), "--sync", stdout=io.StringIO())
    kept = Asset.objects.get()
    assert kept.storage_name == "" and kept.fingerprint.pixel_sha256 == ""  # in place; pixels not yet read

    body = permit_tablets.upload("building-permits", png_bytes(picture, compress_level=9, note="re-saved")).json()

    assert body["outcome"] == "duplicate" and body["matches"][0]["kind"] == "pixel"
    assert body["image"]["id"] == kept.pk and Asset.objects.count() == 1


def test_a_near_copy_is_stored_and_a_pair_opened_for_the_desk(permit_tablets):
    picture = photo(4)
    first = permit_tablets.upload("building-permits", jpeg_bytes(picture, quality=95), record_id="P-1").json()
    smaller = io.BytesIO()
    picture.resize((480, 360)).save(smaller, "JPEG", quality=70)
    response = permit_tablets.upload("building-permits", smaller.getvalue(), record_id="P-2")
    body = response.json()
    assert response.status_code == 201, body
    assert body["outcome"] == "stored_pending_review" and body["candidates_opened"] == 1
    assert [(m["image"], m["kind"]) for m in body["matches"]] == [(first["image"]["id"], "near")]
    pair = Candidate.objects.get()
    assert {pair.asset_a_id, pair.asset_b_id} == {first["image"]["id"], body["image"]["id"]}
    assert pair.status == "open" and pair.kind == "near"


def test_a_different_photograph_matches_nothing(permit_tablets):
    permit_tablets.upload("building-permits", jpeg_bytes(photo(5)), record_id="P-1")
    body = permit_tablets.upload("building-permits", jpeg_bytes(photo(6)), record_id="P-2").json()
    assert body["outcome"] == "stored" and body["matches"] == [] and Candidate.objects.count() == 0


def test_a_source_that_refuses_copies_refuses_them_and_stores_nothing(permit_tablets, permits):
    GatePolicy.objects.create(source=permits, exact=GatePolicy.Action.REFUSE)
    data = jpeg_bytes(photo(7))
    permit_tablets.upload("building-permits", data, record_id="P-1")
    response = permit_tablets.upload("building-permits", data, record_id="P-2")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/duplicate-refused") and response.json()["matches"][0]["kind"] == "exact"
    assert Asset.objects.count() == 1 and not Attachment.objects.filter(record__external_id="P-2").exists()


def test_a_source_that_reviews_copies_stores_them_with_a_pair(permit_tablets, permits):
    GatePolicy.objects.create(source=permits, exact=GatePolicy.Action.REVIEW)
    data = jpeg_bytes(photo(8))
    permit_tablets.upload("building-permits", data, record_id="P-1")
    body = permit_tablets.upload("building-permits", data, record_id="P-2").json()
    assert body["outcome"] == "stored_pending_review" and Asset.objects.count() == 2
    assert Candidate.objects.get().kind == "exact"


def test_an_upload_into_a_slot_showing_another_image_gets_a_sibling_slot(permit_tablets):
    permit_tablets.upload("building-permits", jpeg_bytes(photo(9)), record_id="P-1")
    body = permit_tablets.upload("building-permits", jpeg_bytes(photo(10)), record_id="P-1").json()
    assert body["slot"] == "1.2"
    assert sorted(Attachment.objects.values_list("slot", flat=True)) == ["1", "1.2"]


def test_lookup_reports_matches_and_stores_nothing(permit_tablets):
    data = jpeg_bytes(photo(11))
    stored = permit_tablets.upload("building-permits", data, record_id="P-1").json()
    events = AuditEvent.objects.count()
    response = permit_tablets.lookup("building-permits", data)
    assert response.status_code == 200
    assert response.json()["matches"][0]["image"] == stored["image"]["id"]
    fresh = permit_tablets.lookup("building-permits", jpeg_bytes(photo(12)))
    assert fresh.json()["matches"] == []
    assert Asset.objects.count() == 1 and AuditEvent.objects.count() == events


def test_a_store_chosen_to_break_a_deadlock_is_run_again_and_leaves_no_file(permit_tablets, monkeypatch, media_root):
    from django.db import OperationalError

    from review.services import gate

    class Deadlock(Exception):
        sqlstate = "40P01"

    real, calls = gate._apply, []

    def deadlock_once(token, upload, examined, policy, stored):
        calls.append(1)
        admitted = real(token, upload, examined, policy, stored)  # rows and files written, then aborted
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return admitted

    monkeypatch.setattr(gate, "_apply", deadlock_once)
    response = permit_tablets.upload("building-permits", jpeg_bytes(photo(13)), record_id="P-1")
    assert response.status_code == 201 and len(calls) == 2
    asset = Asset.objects.get()
    kept = {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}
    assert kept == {asset.storage_name, asset.thumbnail_name}
