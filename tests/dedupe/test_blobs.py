"""Bytes stored once per SHA-256 (issue 16): copies share a blob, and nothing deletes bytes an
image still needs: not a purge of one copy, not an import that rolls back."""

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from dedupe.blobs import blob_keep, blob_release
from dedupe.ingest import Importer
from dedupe.models import Asset, Blob
from review.services.storage import purge_quarantined
from tests.factories import archive_rows, jpeg_bytes, merged, photo, user_with_role, write_manifest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def copy_mode(settings):
    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"  # what these tests are about, whatever the default


def copies(root: Path, n: int = 3) -> Path:
    """One photograph filed `n` times (three systems' copies of one file), and one other photograph."""
    (root / "images").mkdir(parents=True)
    data = jpeg_bytes(photo(1))
    rows = []
    for i in range(n):
        (root / "images" / f"copy{i}.jpg").write_bytes(data)
        rows.append([f"images/copy{i}.jpg", "permits", f"P-{i}", 1, "1 Main St", ""])
    (root / "images" / "other.jpg").write_bytes(jpeg_bytes(photo(2)))
    rows.append(["images/other.jpg", "permits", "P-9", 1, "9 Main St", ""])
    return write_manifest(root, rows)


def stored_bytes() -> int:
    return sum(p.stat().st_size for p in Path(settings.MEDIA_ROOT, "blobs").rglob("*") if p.is_file())


def test_three_copies_of_a_file_cost_the_bytes_of_one(tmp_path):
    call_command("import_archive", str(copies(tmp_path)), stdout=io.StringIO())

    assets = list(Asset.objects.order_by("pk"))
    assert len(assets) == 4 and len({a.storage_name for a in assets}) == 2
    assert Blob.objects.count() == 2
    assert stored_bytes() == sum({a.sha256: a.byte_size for a in assets}.values())  # each content once


def test_purging_a_merged_copy_keeps_the_bytes_the_kept_copy_shows(tmp_path):
    call_command("import_archive", str(copies(tmp_path, n=2)), stdout=io.StringIO())
    keep, duplicate = Asset.objects.filter(origin_path__startswith="images/copy").order_by("pk")
    merged(keep, duplicate, user_with_role("ana", "archivist"))

    summary = purge_quarantined(dry_run=False, now=timezone.now() + timedelta(days=settings.DEDUPE_RETENTION_DAYS + 1))

    assert summary.purged_count == 1 and summary.purged[0].error == ""
    assert Asset.objects.get(pk=duplicate.pk).state == "purged"
    assert default_storage.exists(keep.storage_name)  # the same name: the kept copy's bytes
    with default_storage.open(keep.storage_name, "rb") as f:
        assert f.read() == (tmp_path / "images/copy0.jpg").read_bytes()
    assert Blob.objects.filter(storage_name=keep.storage_name).exists()


def test_bytes_go_when_the_last_image_needing_them_is_purged(tmp_path):
    data = jpeg_bytes(photo(3))
    (tmp_path / "a.jpg").write_bytes(data)
    name, written = blob_keep("ab" * 32, len(data), lambda: open(tmp_path / "a.jpg", "rb"))  # noqa: SIM115
    again, written_again = blob_keep("ab" * 32, len(data), lambda: open(tmp_path / "a.jpg", "rb"))  # noqa: SIM115
    assert (written, written_again, again) == (True, False, name)
    source_asset = dict(byte_size=len(data), sha256="ab" * 32, storage_name=name, origin_path="a.jpg")
    source, _ = archive_rows("blobs", records=0)
    first = Asset.objects.create(source=source, **source_asset)
    second = Asset.objects.create(source=source, **source_asset | {"origin_path": "b.jpg"})

    Asset.objects.filter(pk=first.pk).update(state="purged")
    assert blob_release(name) is False and default_storage.exists(name)  # the second still needs them
    Asset.objects.filter(pk=second.pk).update(state="purged")
    assert blob_release(name) is True
    assert not default_storage.exists(name) and not Blob.objects.exists()
    # gone from the rows too: the next import of these bytes writes them anew
    assert blob_keep("ab" * 32, len(data), lambda: open(tmp_path / "a.jpg", "rb"))[1] is True  # noqa: SIM115


def test_a_rolled_back_import_leaves_the_blob_an_earlier_import_gave_an_image(tmp_path, monkeypatch):
    manifest = copies(tmp_path, n=1)
    call_command("import_archive", str(manifest), stdout=io.StringIO())
    kept = Asset.objects.get(origin_path="images/copy0.jpg")
    # a second system files the same bytes again; its batch fails after storing
    (tmp_path / "images" / "again.jpg").write_bytes((tmp_path / "images" / "copy0.jpg").read_bytes())
    (tmp_path / "images" / "new.jpg").write_bytes(jpeg_bytes(photo(4)))
    rows = [
        ["images/again.jpg", "cases", "C-1", 1, "1 Main St", ""],
        ["images/new.jpg", "cases", "C-2", 1, "2 Main St", ""],
    ]
    second = write_manifest(tmp_path, rows)  # the first manifest's place: it has been imported
    monkeypatch.setattr(Importer, "_attach", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("batch fails")))

    with pytest.raises(RuntimeError):
        call_command("import_archive", str(second), stdout=io.StringIO())

    assert default_storage.exists(kept.storage_name)  # shared, not this batch's to delete
    new_sha = {a.sha256 for a in Asset.objects.all()}
    leftovers = [p.name for p in Path(settings.MEDIA_ROOT, "blobs").rglob("*") if p.is_file()]
    assert sorted(leftovers) == sorted(new_sha)  # what the failed batch wrote for itself is gone


def test_a_blob_row_that_does_not_describe_its_bytes_is_replaced_by_one_upsert_not_a_second_row():
    data = jpeg_bytes(photo(3))
    sha = hashlib.sha256(data).hexdigest()
    first, wrote = blob_keep(sha, len(data), lambda: io.BytesIO(data))
    assert wrote and Blob.objects.get(sha256=sha).storage_name == first
    Blob.objects.filter(sha256=sha).update(byte_size=1)  # a row that no longer describes the file it names

    again, wrote = blob_keep(sha, len(data), lambda: io.BytesIO(data))

    assert wrote and again != first and default_storage.open(again).read() == data
    assert list(Blob.objects.filter(sha256=sha).values_list("storage_name", "byte_size")) == [(again, len(data))]
    assert blob_keep(sha, len(data), lambda: io.BytesIO(b"never read")) == (again, False)  # kept now: not written
