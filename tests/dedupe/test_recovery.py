"""Leases, heartbeats and re-runs: work left behind by a dead process is found and finished."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from dedupe.ingest import Importer, import_finish, import_start, manifest_rows
from dedupe.leases import lease_claim, lease_resend, overdue
from dedupe.models import Asset, AuditEvent, ImportChunk, ImportRun
from dedupe.recovery import work_recover
from tests.factories import small_archive, user_with_role

pytestmark = pytest.mark.django_db


def chunk() -> ImportChunk:
    run = import_start(kind="archive", location="m.csv", root=".")
    return ImportChunk.objects.create(run=run, payload=[])


def test_a_rerun_decodes_files_a_dead_import_left_undecoded_instead_of_calling_them_unchanged(tmp_path):
    manifest = small_archive(tmp_path, bad=False)
    run = import_start(kind="archive", location=str(manifest), root=tmp_path)
    Importer(run=run, root=tmp_path).import_rows(manifest_rows(manifest))  # stored, never decoded
    import_finish(run)
    out = StringIO()

    call_command("import_archive", str(manifest), "--json", "--sync", stdout=out, stderr=StringIO())

    summary = json.loads(out.getvalue())
    assert (summary["imported"], summary["unchanged"], summary["failed"]) == (5, 0, [])
    assert not Asset.objects.filter(inspection=Asset.Inspection.PENDING).exists()


def test_a_retry_of_the_same_task_takes_its_chunk_back_without_counting_an_attempt():
    c = chunk()

    assert lease_claim(ImportChunk.objects.all(), c.pk, holder="task-1")
    assert lease_claim(ImportChunk.objects.all(), c.pk, holder="task-1")
    assert not lease_claim(ImportChunk.objects.all(), c.pk, holder="task-2")
    c.refresh_from_db()
    assert (c.attempts, c.holder) == (1, "task-1")


def test_a_chunk_the_broker_did_not_take_is_sent_by_the_next_recovery():
    c = chunk()
    sent: list[int] = []

    def broker_down(chunk_id: int) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    assert lease_resend(ImportChunk.objects.all(), broker_down) == 0
    assert list(overdue(ImportChunk.objects.all())) == [c]
    assert lease_resend(ImportChunk.objects.all(), sent.append) == 1
    assert sent == [c.pk]
    assert not overdue(ImportChunk.objects.all()).exists()  # sent a moment ago: not sent again yet


def test_a_chunk_held_past_its_lease_is_overdue_and_one_held_within_it_is_not():
    c = chunk()
    lease_claim(ImportChunk.objects.all(), c.pk, holder="task-1")
    assert not overdue(ImportChunk.objects.all()).exists()

    ImportChunk.objects.filter(pk=c.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert list(overdue(ImportChunk.objects.all())) == [c]


def test_an_import_whose_process_stopped_beating_is_shown_interrupted_with_how_to_resume(client, settings):
    run = import_start(kind="archive", location="/data/manifest.csv", root="/data")
    ImportRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    alive = import_start(kind="archive", location="/data/other.csv", root="/data")
    ImportRun.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now())

    assert work_recover()["interrupted"] == 1

    run.refresh_from_db()
    alive.refresh_from_db()
    assert (run.status, alive.status) == (ImportRun.Status.INTERRUPTED, ImportRun.Status.RUNNING)
    event = AuditEvent.objects.get(action="import.interrupt")
    assert "import_archive /data/manifest.csv --root /data" in event.after["resume"]
    client.force_login(user_with_role("archie", "archivist"))
    page = client.get(f"/imports/{run.pk}/").content.decode()
    assert "interrupted" in page and "manage.py import_archive /data/manifest.csv --root /data" in page
