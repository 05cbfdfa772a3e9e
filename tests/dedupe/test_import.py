"""import_archive and import_folder: every bad input reported by row and reason, the rest imported."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from dedupe.models import Asset, Attachment, AttachmentChange, AuditEvent, ImportProblem, ImportRun, Record, Source
from tests.factories import jpeg_bytes, photo, png_bomb, small_archive, write_manifest

pytestmark = pytest.mark.django_db


def run_import(manifest: Path, *args: str) -> dict:
    out = io.StringIO()
    call_command("import_archive", str(manifest), "--root", str(manifest.parent), "--json", "--sync", *args, stdout=out)
    return json.loads(out.getvalue())


def reasons_by_path(summary: dict) -> dict[str, str]:
    return {f["path"]: f["reason"] for f in summary["failed"]}


def test_it_imports_good_files_and_reports_each_bad_one(tmp_path):
    """Five readable files are imported; each of the nine bad rows is reported with its row and reason."""
    summary = run_import(small_archive(tmp_path))

    assert summary["imported"] == 5
    reasons = reasons_by_path(summary)
    assert set(reasons) == {
        "images/truncated.jpg", "images/empty.jpg", "images/not-an-image.jpg", "images/error-page.png",
        "images/corrupt-middle.jpg", "images/bomb.png", "images/missing.jpg", "../escape.jpg", "/etc/hostname",
    }  # fmt: skip
    assert "truncated" in reasons["images/truncated.jpg"]
    assert "empty" in reasons["images/empty.jpg"]
    assert "PDF" in reasons["images/not-an-image.jpg"]
    assert "HTML" in reasons["images/error-page.png"]
    assert "corrupt" in reasons["images/corrupt-middle.jpg"]
    assert "decompression bomb" in reasons["images/bomb.png"]
    assert "missing" in reasons["images/missing.jpg"]
    assert "leaves the import root" in reasons["../escape.jpg"]
    assert "absolute path" in reasons["/etc/hostname"]
    assert all(isinstance(f["row"], int) for f in summary["failed"])


def test_it_stores_each_problem_for_people_to_see_later(tmp_path):
    summary = run_import(small_archive(tmp_path))

    run = ImportRun.objects.get(pk=summary["run"])
    assert run.status == ImportRun.Status.FINISHED
    assert run.problems.count() == len(summary["failed"]) == run.failed == 9
    assert run.imported == 5


def test_byte_identical_files_stay_two_assets_on_one_stored_copy_of_the_bytes(tmp_path, settings):
    """Equal bytes are a duplicate for people to approve, not something the import collapses; but
    the bytes are stored once (issue 16): a copy costs nothing from the moment it is imported."""
    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"
    run_import(small_archive(tmp_path, bad=False))

    copy = Asset.objects.get(origin_path="images/copy.jpg")
    original = Asset.objects.get(origin_path="images/p0.jpg")
    assert copy.pk != original.pk and copy.sha256 == original.sha256
    assert copy.storage_name == original.storage_name == f"blobs/{copy.sha256[:2]}/{copy.sha256}"
    stored = [p for p in Path(settings.MEDIA_ROOT, "blobs").rglob("*") if p.is_file()]
    assert len(stored) == Asset.objects.values("sha256").distinct().count()


def test_a_missing_file_leaves_its_record_missing_imagery(tmp_path):
    run_import(small_archive(tmp_path))

    record = Record.objects.get(external_id="MISSING")
    attachment = record.attachments.get()
    assert attachment.state == Attachment.State.STRIPPED
    assert attachment.asset is None
    assert "missing" in attachment.reason
    assert attachment.history.get().to_state == Attachment.State.STRIPPED


def test_an_unreadable_file_keeps_its_bytes_and_strips_its_placeholder(tmp_path):
    run_import(small_archive(tmp_path))

    asset = Asset.objects.get(origin_path="images/truncated.jpg")
    assert asset.inspection == Asset.Inspection.UNREADABLE
    assert asset.state == Asset.State.ACTIVE
    assert asset.byte_size == (tmp_path / "images/truncated.jpg").stat().st_size
    attachment = asset.attachments.get()
    assert attachment.state == Attachment.State.STRIPPED
    states = list(attachment.history.values_list("from_state", "to_state"))
    assert states == [("", "attached"), ("attached", "stripped")]


def test_readable_files_get_fingerprints_and_a_thumbnail(tmp_path):
    summary = run_import(small_archive(tmp_path, bad=False))

    assets = list(Asset.objects.select_related("fingerprint"))
    assert summary["imported"] == len(assets) == 5  # an empty import must not pass the checks below
    for asset in assets:
        assert asset.inspection == Asset.Inspection.READABLE
        assert asset.fingerprint.phash != 0
        assert asset.thumbnail_name.endswith(".webp")
        assert (asset.width, asset.height, asset.format) == (640, 480, "JPEG")


def test_inspection_keeps_the_facts_the_keeper_reads(tmp_path):
    """The picture without its bars, and the JPEG quality estimate: from the file, once."""
    from tests.factories import letterboxed

    picture = photo(7)
    (tmp_path / "images").mkdir()
    (tmp_path / "images/plain.jpg").write_bytes(jpeg_bytes(picture, quality=75))
    (tmp_path / "images/boxed.jpg").write_bytes(jpeg_bytes(letterboxed(picture), quality=95))
    rows = [["images/plain.jpg", "permits", "P-1", "1", "1 Main St", ""],
            ["images/boxed.jpg", "permits", "P-2", "1", "1 Main St", ""]]  # fmt: skip

    run_import(write_manifest(tmp_path, rows))

    plain, boxed = (Asset.objects.get(origin_path=f"images/{n}.jpg") for n in ("plain", "boxed"))
    assert (plain.jpeg_quality, boxed.jpeg_quality) == (75, 95)
    assert plain.content_pixels == plain.pixels == 640 * 480
    assert boxed.pixels == 800 * 480 and boxed.content_pixels == pytest.approx(640 * 480, rel=0.02)


def test_reimporting_changes_nothing(tmp_path):
    manifest = small_archive(tmp_path)
    first = run_import(manifest)
    counts = [m.objects.count() for m in (Source, Record, Asset, Attachment, AttachmentChange)]

    second = run_import(manifest)

    assert (second["imported"], second["unchanged"]) == (0, 5)
    assert reasons_by_path(second) == reasons_by_path(first)
    assert [m.objects.count() for m in (Source, Record, Asset, Attachment, AttachmentChange)] == counts


def test_a_file_changed_at_its_path_becomes_a_new_asset_and_the_old_one_is_kept(tmp_path):
    manifest = small_archive(tmp_path, bad=False)
    run_import(manifest)
    old = Asset.objects.get(origin_path="images/p1.jpg")
    (tmp_path / "images/p1.jpg").write_bytes(jpeg_bytes(photo(99)))

    summary = run_import(manifest)

    assert summary["imported"] == 1
    new = Asset.objects.exclude(pk=old.pk).get(origin_path="images/p1.jpg")
    attachment = Record.objects.get(external_id="P-1").attachments.get()
    assert attachment.asset == new
    assert attachment.history.last().from_asset == old
    assert "changed" in attachment.history.last().reason
    assert Asset.objects.filter(pk=old.pk, state=Asset.State.ACTIVE).exists()


def test_two_files_for_one_slot_both_stay_attached(tmp_path):
    """A second file naming an occupied slot gets its own slot next to it, never replaces the first."""
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(photo(1)))
    (tmp_path / "b.jpg").write_bytes(jpeg_bytes(photo(2)))
    manifest = write_manifest(tmp_path, [["a.jpg", "s", "R1", 3, "", ""], ["b.jpg", "s", "R1", 3, "", ""]])

    run_import(manifest)
    run_import(manifest)

    slots = dict(Record.objects.get(external_id="R1").attachments.values_list("slot", "asset__origin_path"))
    assert slots == {"3": "a.jpg", "3.2": "b.jpg"}


def test_it_refuses_a_link_that_leaves_the_root(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg_bytes(photo(3)))
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link.jpg")
    manifest = write_manifest(root, [["link.jpg", "s", "R1", 1, "", ""]])

    summary = run_import(manifest)

    assert "through a link" in summary["failed"][0]["reason"]
    assert not Asset.objects.exists()


def test_a_bomb_is_refused_fast_and_small(tmp_path):
    """Rejecting a 2.5-gigapixel PNG costs neither time nor memory: the header alone decides."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(50000))
    code = (
        "import time, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup(); from django.conf import settings; from dedupe import imaging; t = time.monotonic()\n"
        "try:\n imaging.probe(open(os.environ['BOMB'], 'rb'), max_pixels=settings.DEDUPE_MAX_IMAGE_PIXELS)\n"
        "except imaging.UnreadableImage as e: print('refused', e)\n"
        # VmHWM is this process's own peak; ru_maxrss would carry over the peak of the pytest
        # process that started it (Linux keeps it across fork and exec), whatever ran before.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(time.monotonic() - t, hwm)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=os.environ | {"BOMB": str(bomb)}, capture_output=True, text=True, check=True
    )
    refused, figures = done.stdout.splitlines()
    seconds, peak_kib = float(figures.split()[0]), int(figures.split()[1])
    assert refused.startswith("refused decompression bomb")
    assert seconds < 2
    assert peak_kib < 512 * 1024, f"peak {peak_kib} KiB"


def test_the_import_writes_audit_events_in_its_transactions(tmp_path):
    summary = run_import(small_archive(tmp_path))

    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions[0] == "import.start" and actions[-1] == "import.finish"
    assert "import.batch" in actions and "asset.inspect" in actions
    batch = AuditEvent.objects.get(action="import.batch")
    assert batch.subjects.filter(kind="asset").count() == Asset.objects.count()
    # The loop fails only rows without a file it may read; what the bytes are, the sandbox says.
    assert len(batch.after["failures"]) == 3
    inspected = AuditEvent.objects.filter(action="asset.inspect")
    assert sum(len(e.after["unreadable"]) for e in inspected) == 6
    assert summary["run"] == int(batch.subjects.get(kind="import").object_id)


def test_every_attachment_change_points_at_its_audit_event(tmp_path):
    run_import(small_archive(tmp_path))

    assert not AttachmentChange.objects.filter(audit_event__isnull=True).exists()
    assert ImportProblem.objects.count() == 9


def test_import_folder_makes_one_record_per_file(tmp_path):
    (tmp_path / "2024").mkdir()
    (tmp_path / "2024/a.jpg").write_bytes(jpeg_bytes(photo(1)))
    (tmp_path / "b.jpg").write_bytes(jpeg_bytes(photo(2)))
    out = io.StringIO()

    call_command("import_folder", str(tmp_path), "--source", "field-tablets", "--json", "--sync", stdout=out)

    assert json.loads(out.getvalue())["imported"] == 2
    assert set(Record.objects.values_list("external_id", flat=True)) == {"2024/a", "b"}


def test_import_folder_makes_one_record_per_sub_folder(tmp_path):
    for seed, name in enumerate(("case-7/front.jpg", "case-7/back.jpg", "case-9/front.jpg")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(jpeg_bytes(photo(seed)))

    call_command(
        "import_folder", str(tmp_path), "--source", "cases", "--record-per", "folder", "--sync", stdout=io.StringIO()
    )

    record = Record.objects.get(external_id="case-7")
    assert sorted(record.attachments.values_list("slot", flat=True)) == ["back.jpg", "front.jpg"]
    assert Record.objects.count() == 2


def test_a_manifest_without_the_expected_columns_is_refused_with_its_name(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,where\nx.jpg,here\n")

    with pytest.raises(Exception, match=r"m\.csv: missing column\(s\) path"):
        call_command("import_archive", str(manifest), "--json", "--sync", stdout=io.StringIO())
