"""Records missing imagery: each one is found, told how to be restored, and restored with its history."""

import io
import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from dedupe.models import Asset, Attachment, AuditEvent, Record
from review.selectors.imagery import records_missing_imagery
from review.services.placeholders import RestoreRefused, attachment_restore, restore_bulk
from tests.factories import merged, small_archive, store_bytes, strip

pytestmark = pytest.mark.django_db


def missing() -> dict[str, list[tuple[str, int]]]:
    """Every stripped placeholder by source/record, with its suggestions as (kind, asset id)."""
    return {f"{m.source}/{m.record}": [(s.kind, s.asset_id) for s in m.suggestions] for m in records_missing_imagery()}


def check_imagery_json(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("check_imagery", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_a_placeholder_whose_file_was_missing_at_import_is_listed(tmp_path):
    call_command("import_archive", str(small_archive(tmp_path)), "--sync", stdout=io.StringIO())

    listed = check_imagery_json()

    entry = next(item for item in listed if item["record"] == "MISSING")
    assert entry == {
        "source": "cases",
        "record": "MISSING",
        "slot": "1",
        "reason": "file missing: images/missing.jpg",
        "suggestions": [],
    }
    assert {item["record"] for item in listed} >= {"BAD-truncated.jpg", "BAD-empty.jpg", "ESCAPE"}
    assert not [item for item in listed if item["record"].startswith("P-")]


def test_the_text_table_says_how_to_restore(permits):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    strip(record.attachments.get())
    out = io.StringIO()

    call_command("check_imagery", "--source", "permits", stdout=out)

    assert f"-> image {asset.pk} (original)" in out.getvalue()
    assert "1 placeholder(s) missing imagery" in out.getvalue()


def test_a_placeholder_stripped_before_its_image_was_merged_is_offered_the_canonical(permits, archivist):
    _, [(_, keep), (record, duplicate)] = permits
    store_bytes(keep, duplicate)
    strip(record.attachments.get())  # a stripped placeholder is not moved by the merge
    merge = merged(keep, duplicate, archivist)

    [entry] = records_missing_imagery()

    assert [(s.kind, s.asset_id) for s in entry.suggestions] == [("merged", keep.pk)]
    assert f"merge {merge.pk}" in entry.suggestions[0].reason
    assert entry.as_json()["suggestions"][0]["asset"] == keep.pk


def test_the_canonical_at_the_end_of_a_chain_is_offered(permits, archivist):
    _, [(_, first), (record, second)] = permits
    source = first.source
    third = Asset.objects.create(
        source=source, origin_path="permits/2.jpg", sha256="f" * 64, byte_size=3000,
        storage_name="assets/permits-2.jpg", inspection=Asset.Inspection.READABLE,
    )  # fmt: skip
    store_bytes(first, second, third)
    strip(record.attachments.get())
    merged(first, second, archivist)
    merged(third, first, archivist)

    assert missing() == {"permits/PERM-1": [("merged", third.pk)]}


def test_a_placeholder_moved_by_a_merge_then_stripped_is_offered_its_quarantined_original(permits, archivist):
    _, [(kept_record, keep), (record, duplicate)] = permits
    store_bytes(keep, duplicate)
    merged(keep, duplicate, archivist)
    # The kept copy turns out unreadable: both placeholders showing it are stripped.
    Asset.objects.filter(pk=keep.pk).update(inspection=Asset.Inspection.UNREADABLE, unreadable_reason="truncated")
    for attachment in Attachment.objects.filter(asset=keep):
        strip(attachment, f"asset {keep.pk} is unreadable: truncated")

    assert missing() == {"permits/PERM-0": [], "permits/PERM-1": [("quarantined_original", duplicate.pk)]}

    restored = attachment_restore(
        attachment_id=record.attachments.get().pk, asset_id=duplicate.pk, actor=archivist, reason="the original file"
    )
    assert (restored.state, restored.asset_id) == ("restored", duplicate.pk)
    with pytest.raises(RestoreRefused, match="quarantined"):
        attachment_restore(
            attachment_id=kept_record.attachments.get().pk, asset_id=duplicate.pk, actor=archivist, reason=""
        )


def test_a_copy_with_the_same_bytes_is_offered(permits, cases):
    _, [(record, asset), _] = permits
    _, [(_, copy), _] = cases  # the factory gives the n-th asset of each source the same SHA-256
    store_bytes(copy)
    strip(record.attachments.get())

    [entry] = records_missing_imagery()

    assert [(s.kind, s.asset_id) for s in entry.suggestions] == [("matching_fingerprint", copy.pk)]
    assert "same bytes" in entry.suggestions[0].reason


def test_suggestions_are_limited_to_the_sources_a_person_sees(permits, cases):
    _, [(record, _), _] = permits
    _, [(_, copy), _] = cases
    store_bytes(copy)
    strip(record.attachments.get())

    [entry] = records_missing_imagery(within={record.source_id})

    assert entry.suggestions == []


def test_an_image_without_bytes_is_not_offered(permits):
    _, [(record, _), _] = permits  # archive_rows stores thumbnails, not the images' bytes
    strip(record.attachments.get())

    assert missing() == {"permits/PERM-0": []}


def test_restore_writes_history_and_an_audit_event(permits, archivist):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    attachment = strip(record.attachments.get())

    attachment_restore(attachment_id=attachment.pk, asset_id=asset.pk, actor=archivist, reason="checked the file")

    attachment.refresh_from_db()
    assert (attachment.state, attachment.asset_id) == ("restored", asset.pk)
    step = attachment.history.last()
    assert (step.from_state, step.to_state, step.to_asset_id) == ("stripped", "restored", asset.pk)
    assert "checked the file" in step.reason
    event = AuditEvent.objects.get(action="attachment.restore")
    assert step.audit_event == event
    assert event.actor_name == "archivist" and event.reason == "checked the file"
    assert event.before["state"] == "stripped" and event.after == {
        "state": "restored",
        "asset": asset.pk,
        "reason": "restored: checked the file",
    }
    assert {(s.kind, s.object_id) for s in event.subjects.all()} >= {
        ("attachment", str(attachment.pk)),
        ("record", str(record.pk)),
    }
    assert missing() == {}


def test_bulk_restore_restores_only_where_the_suggestion_is_unique(permits, cases):
    _, [(unique, asset), (ambiguous, other)] = permits
    _, [_, (_, same_bytes_as_other)] = cases
    store_bytes(asset, other, same_bytes_as_other)
    for record in (unique, ambiguous):
        strip(record.attachments.get())
    orphan = Record.objects.create(source=asset.source, external_id="PERM-X")
    Attachment.objects.create(record=orphan, slot="1", state="stripped", reason="file missing: x.jpg")

    counts = restore_bulk(actor=None, actor_name="system:tests")

    assert counts == {"restored": 1, "ambiguous": 1, "no_suggestion": 1, "refused": 0}
    assert unique.attachments.get().state == "restored"
    assert ambiguous.attachments.get().state == "stripped"
    assert AuditEvent.objects.get(action="attachment.restore").actor_name == "system:tests"


def test_the_restore_command_has_a_dry_run(permits):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    strip(record.attachments.get())
    out = io.StringIO()

    call_command("restore_imagery", "--dry-run", stdout=out)
    assert "would restore 1" in out.getvalue()
    assert record.attachments.get().state == "stripped"

    call_command("restore_imagery", "--source", "permits", stdout=out)
    assert record.attachments.get().state == "restored"
    assert AuditEvent.objects.get(action="attachment.restore").actor_name == "system:restore_imagery"


def test_it_refuses_to_restore_a_placeholder_that_is_not_stripped(permits, archivist):
    _, [(record, asset), _] = permits
    store_bytes(asset)

    with pytest.raises(RestoreRefused, match="not stripped"):
        attachment_restore(attachment_id=record.attachments.get().pk, asset_id=asset.pk, actor=archivist, reason="")


def test_it_refuses_a_purged_image(permits, archivist):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    attachment = strip(record.attachments.get())
    Asset.objects.filter(pk=asset.pk).update(state="purged")

    with pytest.raises(RestoreRefused, match="purged"):
        attachment_restore(attachment_id=attachment.pk, asset_id=asset.pk, actor=archivist, reason="")


def test_it_refuses_an_image_whose_bytes_are_missing(permits, archivist):
    _, [(record, asset), _] = permits
    store_bytes(asset)
    attachment = strip(record.attachments.get())
    default_storage.delete(asset.storage_name)

    with pytest.raises(RestoreRefused, match="no bytes"):
        attachment_restore(attachment_id=attachment.pk, asset_id=asset.pk, actor=archivist, reason="")
    assert Attachment.objects.get(pk=attachment.pk).state == "stripped"
    assert not AuditEvent.objects.filter(action="attachment.restore").exists()


def test_it_refuses_a_quarantined_image_the_placeholder_never_showed(permits, cases, archivist):
    _, [(_, keep), (_, duplicate)] = permits
    _, [(record, _), _] = cases
    store_bytes(keep, duplicate)
    merged(keep, duplicate, archivist)
    attachment = strip(record.attachments.get())

    with pytest.raises(RestoreRefused, match="quarantined"):
        attachment_restore(attachment_id=attachment.pk, asset_id=duplicate.pk, actor=archivist, reason="")


def test_it_refuses_a_caseworker_outside_their_sources(permits, outsider_caseworker, cases):
    _, [(record, asset), _] = cases
    store_bytes(asset)
    attachment = strip(record.attachments.get())

    with pytest.raises(RestoreRefused, match="assigned"):
        attachment_restore(attachment_id=attachment.pk, asset_id=asset.pk, actor=outsider_caseworker, reason="")


def test_a_caseworker_restores_in_an_assigned_source(caseworker, cases):
    _, [(record, asset), _] = cases
    store_bytes(asset)
    attachment = strip(record.attachments.get())

    attachment_restore(attachment_id=attachment.pk, asset_id=asset.pk, actor=caseworker, reason="found it")

    assert Attachment.objects.get(pk=attachment.pk).state == "restored"
    assert AuditEvent.objects.get(action="attachment.restore").actor_role == "caseworker"


def test_listing_takes_a_bounded_number_of_queries(permits, django_assert_max_num_queries):
    source, made = permits
    for n in range(40):
        record = Record.objects.create(source=source, external_id=f"MORE-{n}")
        asset = Asset.objects.create(
            source=source, origin_path=f"more/{n}.jpg", sha256=f"{n:064x}", byte_size=10,
            storage_name=f"assets/more-{n}.jpg", inspection=Asset.Inspection.READABLE,
        )  # fmt: skip
        Attachment.objects.create(record=record, slot="1", asset=asset, state="stripped", reason="cleanup")

    with django_assert_max_num_queries(12):
        assert len(list(records_missing_imagery())) == 40


def test_the_missing_imagery_list_shows_the_caseworkers_records_with_what_could_restore_each(
    client, caseworker, cases, permits
):
    _, [(mine, my_asset), _] = cases
    _, [(theirs, their_asset), _] = permits
    store_bytes(my_asset, their_asset)
    strip(mine.attachments.get())
    strip(theirs.attachments.get())
    client.force_login(caseworker)

    page = client.get("/missing/").content.decode()

    assert f"/records/{mine.pk}/" in page and f'name="asset" value="{my_asset.pk}"' in page
    assert theirs.external_id not in page and f"/records/{theirs.pk}/" not in page, "another source's record"
    assert 'href="/missing/"' in client.get("/").content.decode(), "the home page's figure links to it"
    assert client.get("/missing/", {"source": "permits"}).status_code == 404, "a source not theirs"
    assert theirs.external_id not in client.get("/missing/", {"source": "cases"}).content.decode()


def test_restoring_from_the_list_comes_back_to_the_list(client, caseworker, cases):
    _, [(record, asset), _] = cases
    store_bytes(asset)
    attachment = strip(record.attachments.get())
    client.force_login(caseworker)

    response = client.post(f"/attachments/{attachment.pk}/restore/", {"asset": asset.pk, "back": "missing"})

    assert response.status_code == 302 and response["Location"] == "/missing/"
    assert Attachment.objects.get(pk=attachment.pk).state == "restored"
    assert "No record is missing imagery." in client.get("/missing/").content.decode()


def test_a_slot_stripped_by_a_broken_re_upload_is_offered_the_good_image_it_showed_before(tmp_path, settings):
    # Copied: in place the re-upload overwrites the good file at its source, so none is offered.
    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"
    from tests.factories import jpeg_bytes, photo, write_manifest

    (tmp_path / "images").mkdir()
    good = jpeg_bytes(photo(3))
    rows = [["images/door.jpg", "permits", "P-1", "1", "1 Main St", ""]]
    (tmp_path / "images/door.jpg").write_bytes(good)
    call_command("import_archive", str(write_manifest(tmp_path, rows)), "--sync", stdout=io.StringIO())
    before = Asset.objects.get()
    (tmp_path / "images/door.jpg").write_bytes(good[: len(good) // 3])  # the tablet sent half the file
    call_command("import_archive", str(write_manifest(tmp_path, rows)), "--sync", stdout=io.StringIO())

    [missing] = records_missing_imagery()

    assert "unreadable" in missing.reason
    assert [(s.kind, s.asset_id) for s in missing.suggestions] == [("previous", before.pk)]
    assert "is still stored and readable" in missing.suggestions[0].reason
