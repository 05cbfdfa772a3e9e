"""Fault drills on PostgreSQL: every other connection to the database terminated by the server
(`pg_terminate_backend`, as a failover or an operator would) while an import and a scan run
through a real worker over Redis. Each ends as an undisturbed run, with nobody re-running anything.
"""

import json
import subprocess
import sys
import time

import pytest
from django.db import connection

from dedupe.models import Asset, Fingerprint, ImportChunk, ImportRun, ScanChunk, ScanRun
from tests.conftest import ROOT, redis_url
from tests.dedupe.test_recovery_workers import FAST, PHOTOS, undisturbed_result
from tests.dedupe.test_scan_workers import found_by_kind, import_undecoded, wait_for
from tests.factories import small_archive

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend needs PostgreSQL"),
]

BLOWS = 3  # terminations, a second apart: a retry must survive a connection lost again


def terminate_other_connections() -> int:
    """End every connection to the test database but this test's own; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def blows_while(running: subprocess.Popen) -> int:
    """Terminate the others BLOWS times while the process runs; the connections that were ended."""
    ended = 0
    for _ in range(BLOWS):
        if running.poll() is not None:
            break
        ended += terminate_other_connections()
        time.sleep(1)
    return ended


def drill(command: list[str], chunks, env: dict) -> str:
    """Run `manage.py COMMAND`, terminate the connections once its first chunk is done, and return
    what it printed once it has finished by itself (exit 0, no traceback)."""
    running = subprocess.Popen(
        [sys.executable, "manage.py", *command],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: chunks.filter(status="done").exists(), timeout=120)
    left = chunks.exclude(status="done").count()
    ended = blows_while(running)
    out, err = running.communicate(timeout=300)
    assert left > 0 and ended > 0, "nothing was left to disturb; the drill proved nothing"
    assert running.returncode == 0, err
    assert "Traceback" not in err
    return out


@pytest.fixture
def redis_env(child_env):
    return child_env | FAST | {"CELERY_BROKER_URL": redis_url()}


def test_connections_terminated_mid_import_and_the_import_ends_as_undisturbed(redis_env, worker_factory, tmp_path):
    manifest = small_archive(tmp_path / "archive", photos=PHOTOS)
    worker_factory(redis_env)

    out = drill(["import_archive", str(manifest), "--json"], ImportChunk.objects, redis_env)

    summary = json.loads(out)
    failed = {f["path"] for f in summary["failed"]}
    assert {"imported": summary["imported"], "unchanged": summary["unchanged"], "failed": failed} == (
        undisturbed_result(manifest)
    )
    assert not Asset.objects.filter(inspection=Asset.Inspection.PENDING).exists()
    assert Fingerprint.objects.count() == PHOTOS + 1
    assert ImportRun.objects.get().status == ImportRun.Status.FINISHED


def test_connections_terminated_mid_scan_and_the_scan_ends_as_undisturbed(redis_env, worker_factory, tmp_path):
    expected = import_undecoded(tmp_path, extra=60)
    worker_factory(redis_env)

    drill(["scan", "--wait"], ScanChunk.objects, redis_env)

    scan = ScanRun.objects.get()
    assert scan.status == ScanRun.Status.FINISHED and scan.errors == []
    assert not Asset.objects.filter(inspection=Asset.Inspection.PENDING).exists()
    assert found_by_kind() == expected
