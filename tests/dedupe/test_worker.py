"""The per-file work really runs on a Celery worker process, over the embedded broker and over Redis."""

import json

import pytest

from dedupe.models import Asset, AuditEvent
from tests.conftest import manage
from tests.factories import small_archive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_worker_process_decodes_what_the_import_queued(broker_env, worker_factory, tmp_path):
    """import_archive finds the worker, hands it the decoding, waits, and reports what it found."""
    manifest = small_archive(tmp_path / "archive")
    worker_factory(broker_env)

    done = manage("import_archive", str(manifest), "--json", env=broker_env)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["imported"] == 5
    assert {"images/truncated.jpg", "images/corrupt-middle.jpg"} <= {f["path"] for f in summary["failed"]}
    assert "on the Celery workers" in done.stderr
    assert not Asset.objects.filter(inspection=Asset.Inspection.PENDING).exists()
    inspections = AuditEvent.objects.filter(action="asset.inspect")
    assert inspections.exists()
    assert all(event.task_id for event in inspections), "inspection ran outside a worker task"


def test_without_a_worker_the_import_decodes_in_its_own_process(broker_env, tmp_path):
    manifest = small_archive(tmp_path / "archive", bad=False)

    done = manage("import_archive", str(manifest), "--json", env=broker_env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 5
    assert "no Celery worker answered" in done.stderr
    assert not AuditEvent.objects.filter(action="asset.inspect").exclude(task_id="").exists()
