"""Sources kept in an S3-compatible bucket (issue 16), against a real S3 server on the loopback
(moto in server mode, spoken to over HTTP): the import reads each object once and stores only
what the desk needs; the desk reads originals from the bucket while they are the objects imported;
drift is found and shown as missing imagery; a purge deletes the object only where the source
grants write access, and otherwise says the source may."""

import hashlib
import io
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from dedupe.models import Asset, Attachment, AuditEvent, Blob, ImportProblem, Source
from dedupe.verify import sources_verify
from review.selectors.changes import changes_after
from review.selectors.storage import storage_figures
from review.services.merges import unmerge
from review.services.storage import purge_quarantined
from tests.conftest import s3_client
from tests.factories import jpeg_bytes, merged, photo, user_with_role, write_manifest

pytestmark = pytest.mark.django_db

PREFIX = "parcels"


@pytest.fixture
def archive(s3_bucket: str) -> dict[str, bytes]:
    """Three objects under the prefix (two of them byte copies), and one outside it."""
    copy = jpeg_bytes(photo(1, (320, 240)))
    objects = {"images/a.jpg": copy, "images/b.jpg": copy, "images/c.jpg": jpeg_bytes(photo(2, (320, 240)))}
    client = s3_client()
    for name, data in objects.items():
        client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}/{name}", Body=data)
    client.put_object(Bucket=s3_bucket, Key="secret.jpg", Body=jpeg_bytes(photo(3, (320, 240))))
    return objects


@pytest.fixture
def in_bucket(settings, tmp_path: Path, s3_bucket: str, archive: dict[str, bytes]) -> str:
    """The archive imported in place from s3://bucket/parcels through a local manifest."""
    settings.DEDUPE_NEW_SOURCES_KEEP = "in_place"
    import_from_bucket(tmp_path, s3_bucket, [[name, "parcels", f"P-{name[7]}", 1, "1 Main St", ""] for name in archive])
    return s3_bucket


def import_from_bucket(tmp_path: Path, bucket: str, rows: list[list]) -> None:
    """import_archive with a local manifest naming keys under s3://bucket/PREFIX."""
    call_command(
        "import_archive", str(write_manifest(tmp_path, rows)), "--root", f"s3://{bucket}/{PREFIX}",
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip


def ours() -> int:
    return sum(p.stat().st_size for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def later() -> timezone.datetime:
    return timezone.now() + timedelta(days=settings.DEDUPE_RETENTION_DAYS + 1)


def test_the_import_records_where_each_object_lies_and_stores_only_what_the_desk_needs(in_bucket, archive):
    assets = list(Asset.objects.order_by("origin_path"))

    assert [(a.origin_path, a.origin_root, a.storage_name) for a in assets] == [
        (name, f"s3://{in_bucket}/{PREFIX}", "") for name in sorted(archive)
    ]
    assert [(a.sha256, a.byte_size) for a in assets] == [
        (hashlib.sha256(archive[n]).hexdigest(), len(archive[n])) for n in sorted(archive)
    ]
    assert all(a.origin_etag and a.origin_mtime_ns for a in assets)
    assert all(a.inspection == "readable" and a.thumbnail_name for a in assets)  # decoded from the bucket
    assert not Blob.objects.exists()
    assert ours() < 0.5 * sum(len(d) for d in archive.values())
    call_command("check_invariants", stdout=io.StringIO())  # exits 1 on a broken promise


def test_import_folder_walks_the_prefix_and_leaves_out_what_is_outside_it(settings, s3_bucket, archive):
    settings.DEDUPE_NEW_SOURCES_KEEP = "in_place"

    call_command(
        "import_folder", f"s3://{s3_bucket}/{PREFIX}", "--source", "parcels", stdout=io.StringIO(),
        stderr=io.StringIO(),
    )  # fmt: skip

    assert sorted(Asset.objects.values_list("origin_path", flat=True)) == sorted(archive)
    assert Asset.objects.filter(inspection="readable").count() == 3


def test_the_desk_serves_the_original_from_the_bucket_and_refuses_it_once_changed(in_bucket, archive, client):
    client.force_login(user_with_role("ana", "archivist"))
    asset = Asset.objects.get(origin_path="images/c.jpg")

    response = client.get(f"/assets/{asset.pk}/original/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == archive["images/c.jpg"]
    s3_client().put_object(Bucket=in_bucket, Key=f"{PREFIX}/images/c.jpg", Body=jpeg_bytes(photo(9, (320, 240))))
    assert client.get(f"/assets/{asset.pk}/original/").status_code == 404  # never the new bytes


def test_an_outsider_cannot_read_an_original_kept_in_a_bucket(in_bucket, client):
    client.force_login(user_with_role("oscar", "caseworker"))  # assigned to no source
    asset = Asset.objects.get(origin_path="images/c.jpg")

    assert client.get(f"/assets/{asset.pk}/original/").status_code == 404


def test_verify_finds_a_changed_and_a_deleted_object_and_lets_a_rewritten_copy_be(in_bucket, archive, client):
    client.force_login(user_with_role("ana", "archivist"))
    s3 = s3_client()
    s3.put_object(Bucket=in_bucket, Key=f"{PREFIX}/images/c.jpg", Body=jpeg_bytes(photo(9, (320, 240))))
    s3.delete_object(Bucket=in_bucket, Key=f"{PREFIX}/images/b.jpg")
    s3.put_object(Bucket=in_bucket, Key=f"{PREFIX}/images/a.jpg", Body=archive["images/a.jpg"], Metadata={"x": "1"})
    rewritten = Asset.objects.get(origin_path="images/a.jpg")

    report = sources_verify(source="parcels")

    by_path = {Asset.objects.get(pk=pk).origin_path: why for pk, why in report.drifted}
    assert report.checked == 3 and report.touched == 1
    assert sorted(by_path) == ["images/b.jpg", "images/c.jpg"]
    assert "gone from its source" in by_path["images/b.jpg"] and "changed at its source" in by_path["images/c.jpg"]
    stripped = Attachment.objects.get(asset__origin_path="images/b.jpg")
    assert stripped.state == "stripped" and "gone from its source" in stripped.reason
    assert "changed at its source" in client.get("/missing/").content.decode()
    assert client.get(f"/assets/{rewritten.pk}/original/").status_code == 200  # the same bytes: served again
    assert AuditEvent.objects.filter(action="sources.drift").count() == 2
    assert sources_verify().drifted == []  # reported once


def test_a_key_that_leaves_the_prefix_is_refused_naming_the_file_and_the_rest_imports(
    settings, tmp_path, s3_bucket, archive
):
    settings.DEDUPE_NEW_SOURCES_KEEP = "in_place"
    rows = [
        [path, "parcels", f"P-{n}", 1, "", ""]
        for n, path in enumerate(["../secret.jpg", "images/./c.jpg", "images/c.jpg", "images/none.jpg"])
    ]

    import_from_bucket(tmp_path, s3_bucket, rows)

    problems = {p.path: p.reason for p in ImportProblem.objects.all()}
    assert problems["../secret.jpg"] == "path refused: key leaves the source's prefix ('..' refused)"
    assert "path refused" in problems["images/./c.jpg"]
    assert problems["images/none.jpg"] == "file missing: images/none.jpg"
    assert list(Asset.objects.values_list("origin_path", flat=True)) == ["images/c.jpg"]


def test_an_unreachable_bucket_is_one_clear_line(settings, tmp_path, s3_bucket):
    manifest = write_manifest(tmp_path, [["images/a.jpg", "parcels", "P-a", 1, "", ""]])

    with pytest.raises(CommandError, match="bucket no-such-bucket not reachable at http://127.0.0.1"):
        call_command("import_archive", str(manifest), "--root", "s3://no-such-bucket/x", stdout=io.StringIO())


def test_without_write_access_a_purge_leaves_the_object_and_says_the_source_may_delete_it(in_bucket):
    keep, duplicate = Asset.objects.filter(origin_path__in=["images/a.jpg", "images/b.jpg"]).order_by("origin_path")
    merged(keep, duplicate, user_with_role("ana", "archivist"))

    summary = purge_quarantined(dry_run=False, now=later())

    assert summary.purged_count == 1 and summary.purged[0].error == ""
    assert s3_client().head_object(Bucket=in_bucket, Key=f"{PREFIX}/images/b.jpg")["ContentLength"] > 0
    event = AuditEvent.objects.get(action="asset.purge")
    assert event.after["source_may_delete"] == "images/b.jpg"
    assert (event.after["sha256"], event.after["byte_size"]) == (duplicate.sha256, duplicate.byte_size)


def test_with_write_access_a_merge_moves_the_duplicate_aside_and_a_purge_deletes_it(
    in_bucket, client, django_capture_on_commit_callbacks
):
    Source.objects.filter(slug="parcels").update(write_access=True)
    keep, duplicate = Asset.objects.filter(origin_path__in=["images/a.jpg", "images/b.jpg"]).order_by("origin_path")
    s3 = s3_client()
    aside = f"{settings.DEDUPE_S3_QUARANTINE_PREFIX}/{PREFIX}/images/b.jpg"
    archivist = user_with_role("ana", "archivist")

    with django_capture_on_commit_callbacks(execute=True):
        merged(keep, duplicate, archivist)

    assert Asset.objects.get(pk=duplicate.pk).origin_moved_to == aside
    assert "Contents" not in s3.list_objects_v2(Bucket=in_bucket, Prefix=f"{PREFIX}/images/b.jpg")
    moved = AuditEvent.objects.get(action="sources.quarantine")
    assert (moved.after["to"], moved.after["sha256"], moved.after["byte_size"]) == (
        aside, duplicate.sha256, duplicate.byte_size
    )  # fmt: skip
    client.force_login(archivist)
    original = client.get(f"/assets/{duplicate.pk}/original/")  # still evidence, read where it now lies
    assert (
        original.status_code == 200
        and b"".join(original.streaming_content) == s3.get_object(Bucket=in_bucket, Key=aside)["Body"].read()
    )
    call_command("check_invariants", stdout=io.StringIO())
    where = storage_figures().where
    assert (where["we_delete_later_bytes"], where["source_may_delete_later_bytes"]) == (duplicate.byte_size, 0)

    summary = purge_quarantined(dry_run=False, now=later())

    assert summary.purged_count == 1 and summary.purged[0].error == ""
    assert "Contents" not in s3.list_objects_v2(Bucket=in_bucket, Prefix=aside)
    event = AuditEvent.objects.get(action="asset.purge")
    assert event.after["deleted_at_source"] == aside and "source_may_delete" not in event.after
    assert event.after["sha256"] == duplicate.sha256
    where = storage_figures().where  # deleted by us: nothing left for the source to delete
    assert (where["deleted_at_source_bytes"], where["source_may_delete_now_bytes"]) == (duplicate.byte_size, 0)
    assert changes_after(duplicate.source_id, "", 500)[0][-1]["kind"] != "may_delete"


def test_with_write_access_an_unmerge_moves_the_object_back(in_bucket, django_capture_on_commit_callbacks):
    Source.objects.filter(slug="parcels").update(write_access=True)
    keep, duplicate = Asset.objects.filter(origin_path__in=["images/a.jpg", "images/b.jpg"]).order_by("origin_path")
    with django_capture_on_commit_callbacks(execute=True):
        merge = merged(keep, duplicate, user_with_role("ana", "archivist"))

    with django_capture_on_commit_callbacks(execute=True):
        unmerge(merge_id=merge.pk, actor=None, reason="not the same after all")

    back = Asset.objects.get(pk=duplicate.pk)
    assert back.origin_moved_to == "" and back.state == "active"
    assert s3_client().head_object(Bucket=in_bucket, Key=f"{PREFIX}/images/b.jpg")["ContentLength"] == back.byte_size
    assert sources_verify().drifted == []  # its new ETag and time were recorded with the move
    assert AuditEvent.objects.filter(action="sources.return").count() == 1


def test_copy_mode_from_a_bucket_reads_each_object_once_and_stores_each_content_once(
    settings, tmp_path, s3_bucket, archive
):
    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"
    rows = [[name, "retired", f"R-{name[7]}", 1, "", ""] for name in archive]

    import_from_bucket(tmp_path, s3_bucket, rows)

    assert Blob.objects.count() == 2  # a.jpg and b.jpg are one content
    assert all(a.storage_name and a.origin_root == "" for a in Asset.objects.all())
    assert Asset.objects.filter(inspection="readable").count() == 3


def test_an_object_over_the_size_limit_is_refused_from_its_head_never_read(
    settings, tmp_path, s3_bucket, archive, caplog
):
    settings.DEDUPE_NEW_SOURCES_KEEP = "in_place"
    settings.DEDUPE_MAX_FILE_BYTES = len(archive["images/c.jpg"]) - 1
    caplog.set_level("INFO", logger="werkzeug")  # the S3 server's log of each request it answers

    import_from_bucket(tmp_path, s3_bucket, [["images/c.jpg", "parcels", "P-c", 1, "", ""]])

    problem = ImportProblem.objects.get()
    assert (problem.path, problem.reason) == ("images/c.jpg", f"file too large: {len(archive['images/c.jpg']):,} bytes")
    assert f"HEAD /{s3_bucket}/{PREFIX}/images/c.jpg" in caplog.text
    assert f"GET /{s3_bucket}/{PREFIX}/images/c.jpg" not in caplog.text
    assert Attachment.objects.get().state == "stripped" and not Asset.objects.exists()


def test_a_store_that_does_not_answer_is_not_drift(in_bucket, settings):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.DEDUPE_S3 = {**settings.DEDUPE_S3, "endpoint_url": f"http://127.0.0.1:{closed}"}
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(SystemExit):
        call_command("verify_sources", stdout=out, stderr=err)

    assert "0 drifted, 3 not checked (their store did not answer)" in out.getvalue()
    assert "not checked: " in err.getvalue()
    assert not Asset.objects.exclude(source_drift="").exists()
    assert not Attachment.objects.exclude(state="attached").exists()  # no placeholder stripped for an outage
