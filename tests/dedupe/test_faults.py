"""Transient faults in one process: a full disk, a lost database, a broker that is down."""

import errno
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError

from dedupe import tasks
from dedupe.ingest import Importer, import_finish, import_start, manifest_rows
from dedupe.inspect_chunks import inspect_chunks_plan
from dedupe.models import Asset, AuditEvent, ImportChunk, ImportProblem, ImportRun, ScanChunk, ScanRun
from dedupe.recovery import work_recover
from dedupe.resilience import GaveUp, retrying
from tests.factories import small_archive, user_with_role

pytestmark = pytest.mark.django_db


class FullDisk(FileSystemStorage):
    """Local storage that answers ENOSPC to the next `failures` saves, as a full MEDIA_ROOT does."""

    failures = 0

    def _save(self, name: str, content) -> str:
        if FullDisk.failures > 0:
            FullDisk.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._save(name, content)


@pytest.fixture
def full_disk(settings):
    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"  # a full disk while storing copies: in place stores none
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.dedupe.test_faults.FullDisk"}}
    settings.DEDUPE_COMMAND_PATIENCE_SECONDS = 20
    yield FullDisk
    FullDisk.failures = 0


def import_json(manifest: Path) -> dict:
    out = StringIO()
    call_command("import_archive", str(manifest), "--json", "--sync", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def undisturbed(summary: dict) -> tuple:
    return summary["imported"], summary["unchanged"], sorted(f["path"] for f in summary["failed"])


def test_a_full_disk_that_is_freed_is_retried_and_recorded_and_the_import_ends_as_undisturbed(full_disk, tmp_path):
    manifest = small_archive(tmp_path)
    full_disk.failures = 2

    summary = import_json(manifest)

    assert undisturbed(summary)[:2] == (5, 0)
    assert "images/p0.jpg" not in {f["path"] for f in summary["failed"]}
    event = AuditEvent.objects.get(action="import.storage_full")
    assert "storage is full" in event.after["error"]
    assert not ImportProblem.objects.filter(reason__contains="storage is full").exists()


def test_a_disk_that_stays_full_stops_the_import_in_one_line_with_a_problem_and_nothing_left_behind(
    full_disk, settings, tmp_path, media_root
):
    manifest = small_archive(tmp_path)
    settings.DEDUPE_COMMAND_PATIENCE_SECONDS = 0
    full_disk.failures = 10**6

    with pytest.raises(CommandError) as stopped:
        import_json(manifest)

    message = str(stopped.value)
    assert "\n" not in message and "storage is full" in message
    assert f"To resume, run `manage.py import_archive {manifest}" in message
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.INTERRUPTED
    assert ImportProblem.objects.filter(run=run, reason__contains="storage is full").exists()
    assert {"import.storage_full", "import.interrupt"} <= set(AuditEvent.objects.values_list("action", flat=True))
    assert not list((media_root / "assets").rglob("*")) if (media_root / "assets").exists() else True

    full_disk.failures = 0
    assert undisturbed(import_json(manifest))[:2] == (5, 0)


def test_a_worker_task_that_meets_a_full_disk_is_retried_not_lost(full_disk, tmp_path):
    manifest = small_archive(tmp_path, bad=False)
    run = import_start(kind="archive", location=str(manifest), root=tmp_path)
    Importer(run=run, root=tmp_path, on_batch=lambda run, ids: inspect_chunks_plan(run, ids, send=False)).import_rows(
        manifest_rows(manifest)
    )
    full_disk.failures = 1  # the first thumbnail

    # Eagerly, a retry runs again at once (no countdown); the first answer is the Retry itself.
    tasks.inspect_chunk_task.apply(args=[ImportChunk.objects.get().pk], throw=False)

    assert ImportChunk.objects.get().status == ImportChunk.Status.DONE
    assert Asset.objects.filter(inspection=Asset.Inspection.READABLE).count() == 5
    assert import_finish(run)["failed"] == []


def test_a_lost_database_connection_is_retried_and_the_import_ends_as_undisturbed(monkeypatch, tmp_path):
    manifest = small_archive(tmp_path)
    real = Importer._import_batch_rows
    calls = []

    def terminated_once(self, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real(self, rows)

    monkeypatch.setattr(Importer, "_import_batch_rows", terminated_once)

    summary = import_json(manifest)

    assert len(calls) == 2
    assert undisturbed(summary)[:2] == (5, 0)


def test_a_fault_that_outlasts_the_patience_is_one_line_saying_what_to_run():
    def down():
        refused = 'connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused'
        raise OperationalError(refused + "\nIs the server running?")

    with pytest.raises(GaveUp) as gave_up:
        retrying(down, what="import of m.csv", resume="Run it again.", patience=0)

    assert str(gave_up.value) == (
        'import of m.csv failed: the database is unreachable (connection to server at "db" (10.0.0.5), '
        "port 5432 failed: Connection refused). Run it again."
    )


def test_the_scan_button_answers_while_the_broker_is_down_and_the_scan_starts_when_it_returns(
    client, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    manifest = small_archive(tmp_path, bad=False)
    run = import_start(kind="archive", location=str(manifest), root=tmp_path)
    Importer(run=run, root=tmp_path).import_rows(manifest_rows(manifest))

    def broker_down(*args, **kwargs):
        raise BrokerError("Error 111 connecting to cache:6379. Connection refused.")

    monkeypatch.setattr(tasks.scan_decode_task, "delay", broker_down)
    client.force_login(user_with_role("ada", "administrator"))

    with django_capture_on_commit_callbacks(execute=True):  # the chunks are sent once the scan commits
        answer = client.post("/scans/")

    assert answer.status_code in (200, 302)
    scan = ScanRun.objects.get()
    assert scan.status == ScanRun.Status.RUNNING
    assert ScanChunk.objects.filter(scan=scan, queued_at__isnull=True).exists()

    sent: list[int] = []
    monkeypatch.setattr(tasks.scan_decode_task, "delay", sent.append)
    work_recover()
    assert sent == list(ScanChunk.objects.filter(scan=scan).values_list("pk", flat=True))
