"""Sources kept in place (issue 16): the import records where each file lies and stores only what
the desk needs; originals are read from the source while they are the files imported, drift is
found and shown as missing imagery, and a purge leaves the source's file to the source."""

import io
import os
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from dedupe.models import Asset, Attachment, AuditEvent, Blob, Source
from dedupe.verify import sources_verify
from review.selectors.changes import changes_head
from review.services.api_tokens import api_token_create
from review.services.mergemap import merge_map_rows
from review.services.placeholders import RestoreRefused, attachment_restore
from review.services.storage import purge_quarantined
from tests.api.conftest import ApiClient
from tests.factories import jpeg_bytes, merged, photo, user_with_role, write_manifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_place(settings, tmp_path) -> Path:
    """Three files (two of them byte copies) imported into a new source, kept in place."""
    settings.DEDUPE_NEW_SOURCES_KEEP = "in_place"
    archive = tmp_path / "share"
    (archive / "images").mkdir(parents=True)
    copy = jpeg_bytes(photo(1, (320, 240)))
    for name, data in (("a.jpg", copy), ("b.jpg", copy), ("c.jpg", jpeg_bytes(photo(2, (320, 240))))):
        (archive / "images" / name).write_bytes(data)
    rows = [[f"images/{n}.jpg", "parcels", f"P-{n}", 1, "1 Main St", ""] for n in "abc"]
    call_command("import_archive", str(write_manifest(archive, rows)), stdout=io.StringIO())
    return archive


def ours() -> int:
    return sum(p.stat().st_size for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_the_import_stores_no_original_only_what_the_desk_needs(in_place):
    assets = list(Asset.objects.order_by("origin_path"))

    assert [(a.storage_name, a.origin_root) for a in assets] == [("", str(in_place.resolve()))] * 3
    assert all(a.inspection == "readable" and a.thumbnail_name for a in assets)  # read from the share
    assert not Blob.objects.exists() and not Path(settings.MEDIA_ROOT, "blobs").exists()
    archive = sum(p.stat().st_size for p in (in_place / "images").iterdir())
    assert ours() < 0.5 * archive  # thumbnails only (tiny pictures here; a few per cent on real ones)
    call_command("check_invariants", stdout=io.StringIO())  # exits 1 on a broken promise


def test_the_desk_reads_the_original_from_the_source(in_place, client):
    client.force_login(user_with_role("ana", "archivist"))
    asset = Asset.objects.get(origin_path="images/c.jpg")

    response = client.get(f"/assets/{asset.pk}/original/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (in_place / "images/c.jpg").read_bytes()


def test_a_file_changed_at_its_source_is_drift_never_served_and_its_placeholder_says_why(in_place, client):
    client.force_login(user_with_role("ana", "archivist"))
    changed, touched = Asset.objects.get(origin_path="images/c.jpg"), Asset.objects.get(origin_path="images/a.jpg")
    (in_place / "images/c.jpg").write_bytes(jpeg_bytes(photo(9, (320, 240))))  # other bytes, same name
    later = (in_place / "images/a.jpg").stat().st_mtime_ns + 5_000_000_000
    os.utime(in_place / "images/a.jpg", ns=(later, later))  # touched only

    assert client.get(f"/assets/{changed.pk}/original/").status_code == 404  # never the new bytes
    report = sources_verify()

    assert report.checked == 3 and report.touched == 1
    assert [pk for pk, _ in report.drifted] == [changed.pk]
    attachment = Attachment.objects.get(asset=changed)
    assert attachment.state == "stripped" and "changed at its source" in attachment.reason
    assert Asset.objects.get(pk=touched.pk).origin_mtime_ns == later
    event = AuditEvent.objects.get(action="sources.drift")
    assert event.after["stripped"] == [attachment.pk]
    page = client.get("/missing/").content.decode()
    assert "changed at its source" in page
    assert sources_verify().drifted == []  # reported once
    with pytest.raises(RestoreRefused, match="file at its source is not the one imported"):
        attachment_restore(attachment_id=attachment.pk, asset_id=changed.pk, actor=None, reason="try", actor_name="t")


def test_a_removed_file_or_a_link_out_of_the_share_is_drift(in_place, tmp_path):
    (in_place / "images/c.jpg").unlink()
    outside = tmp_path / "secret.jpg"
    outside.write_bytes((in_place / "images/a.jpg").read_bytes())  # the same bytes, outside the share
    (in_place / "images/b.jpg").unlink()
    (in_place / "images/b.jpg").symlink_to(outside)

    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_sources", "--source", "parcels", stdout=out)

    drifted = {a.origin_path for a in Asset.objects.exclude(source_drift="")}
    assert drifted == {"images/b.jpg", "images/c.jpg"}
    assert "2 drifted" in out.getvalue()


def test_a_purge_leaves_the_file_to_its_source_and_says_so(in_place):
    keep, duplicate = Asset.objects.filter(origin_path__in=["images/a.jpg", "images/b.jpg"]).order_by("origin_path")
    merged(keep, duplicate, user_with_role("ana", "archivist"))

    summary = purge_quarantined(dry_run=False, now=timezone.now() + timedelta(days=settings.DEDUPE_RETENTION_DAYS + 1))

    assert summary.purged_count == 1 and summary.purged[0].error == ""
    assert (in_place / "images/b.jpg").exists()  # not ours to delete
    event = AuditEvent.objects.get(action="asset.purge")
    assert event.after["source_may_delete"] == "images/b.jpg" and event.after["sha256"] == duplicate.sha256


def test_the_merge_map_says_when_and_the_changes_feed_says_now(in_place):
    """The source system learns from its own channels which of its files it may delete, and when."""
    keep, duplicate = Asset.objects.filter(origin_path__in=["images/a.jpg", "images/b.jpg"]).order_by("origin_path")
    merge = merged(keep, duplicate, user_with_role("ana", "archivist"))
    _, secret = api_token_create(name="parcel-system", sources=["parcels"], actor_name="test")
    parcels = ApiClient(secret)
    before = parcels.get("/api/v1/sources/parcels/changes").json()

    [row] = merge_map_rows(source="parcels")
    retention_ends = merge.at + timedelta(days=settings.DEDUPE_RETENTION_DAYS)
    assert row["duplicate_path"] == "images/b.jpg"
    assert row["duplicate_may_delete_after"] == retention_ends.astimezone(UTC).isoformat()
    assert "may_delete" not in [c["kind"] for c in before["changes"]]  # quarantined: not yet

    purge_quarantined(dry_run=False, now=retention_ends + timedelta(hours=1))
    after = parcels.get("/api/v1/sources/parcels/changes", {"after": before["next"]}).json()

    [entry] = after["changes"]
    assert entry["kind"] == "may_delete" and entry["path"] == "images/b.jpg"
    assert (entry["sha256"], entry["byte_size"]) == (duplicate.sha256, duplicate.byte_size)
    assert parcels.get("/api/v1/sources/parcels/changes", {"after": after["next"]}).json()["changes"] == []
    assert changes_head(duplicate.source_id) == entry["cursor"]  # a new webhook starts after it
    Source.objects.create(slug="others", name="Others")
    _, other = api_token_create(name="other", sources=["others"], actor_name="test")
    others = ApiClient(other).get("/api/v1/sources/others/changes").json()
    assert others["changes"] == []  # another source's file is not theirs to delete


def test_the_storage_page_tells_apart_the_archive_our_bytes_and_what_the_sources_may_delete(in_place, settings):
    from review.selectors.storage import storage_figures

    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"  # a second source, being retired: copied, each content once
    retired = in_place.parent / "retired"
    (retired / "images").mkdir(parents=True)
    data = jpeg_bytes(photo(5, (320, 240)))
    for name in ("x.jpg", "y.jpg"):
        (retired / "images" / name).write_bytes(data)
    rows = [[f"images/{n}.jpg", "old-system", f"O-{n}", 1, "5 Main St", ""] for n in "xy"]
    call_command("import_archive", str(write_manifest(retired, rows)), stdout=io.StringIO())
    keep, duplicate = Asset.objects.filter(origin_path__in=["images/a.jpg", "images/b.jpg"]).order_by("origin_path")
    merged(keep, duplicate, user_with_role("ana", "archivist"))
    shares = sum(p.stat().st_size for p in (in_place / "images").iterdir())

    where = storage_figures().where

    assert where["archive_bytes"] == shares + 2 * len(data)
    assert where["ours_bytes"] == len(data)  # the two retired copies, stored once
    assert where["in_place_bytes"] == shares
    assert (where["source_may_delete_later_bytes"], where["source_may_delete_now_bytes"]) == (duplicate.byte_size, 0)
    purge_quarantined(dry_run=False, now=timezone.now() + timedelta(days=settings.DEDUPE_RETENTION_DAYS + 1))
    after = storage_figures().where
    assert (after["source_may_delete_later_bytes"], after["source_may_delete_now_bytes"]) == (0, duplicate.byte_size)
    assert after["archive_bytes"] == where["archive_bytes"] - duplicate.byte_size


def test_the_daily_check_fans_out_to_the_workers_a_chunk_a_task(in_place, monkeypatch):
    from config.celery import app
    from dedupe import verify
    from dedupe.tasks import verify_sources_task

    monkeypatch.setattr(verify, "CHUNK", 2)  # three files: two chunks
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the chunks run here, as a worker runs them
    (in_place / "images/c.jpg").write_bytes(jpeg_bytes(photo(9, (320, 240))))

    assert verify_sources_task.apply().get() == 2
    assert [a.origin_path for a in Asset.objects.exclude(source_drift="")] == ["images/c.jpg"]
    assert AuditEvent.objects.get(action="sources.drift").actor_name == "system:verify_sources (worker)"
    assert verify_sources_task.apply().get() == 1  # the drifted image is not checked again
