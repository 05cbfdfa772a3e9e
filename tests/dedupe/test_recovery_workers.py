"""Fault drills with real worker processes: work whose worker was killed finishes, with no beat running."""

import csv
import json
import subprocess
import sys

import pytest

from dedupe.models import Asset, Fingerprint, ImportChunk, ImportRun, ScanChunk, ScanRun
from tests.conftest import ROOT, manage
from tests.dedupe.test_scan_workers import found_by_kind, import_undecoded, wait_for
from tests.factories import small_archive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# Leases of 3 s and a recovery pass every second: a drill takes seconds, not the production minutes.
FAST = {"DEDUPE_INSPECT_CHUNK": "1", "DEDUPE_CHUNK_LEASE_SECONDS": "3", "DEDUPE_RECOVERY_INTERVAL_SECONDS": "1"}
PHOTOS = 40


def undisturbed_result(manifest) -> dict:
    """What an import of small_archive gives when nothing goes wrong: every photo read, every bad row failed."""
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    bad = {row["path"] for row in rows if row["record_id"].startswith(("BAD-", "MISSING", "ESCAPE", "ABSOLUTE"))}
    return {"imported": PHOTOS + 1, "unchanged": 0, "failed": bad}


def test_a_worker_killed_mid_import_is_replaced_and_the_import_finishes_the_same(broker_env, worker_factory, tmp_path):
    env = broker_env | FAST
    manifest = small_archive(tmp_path / "archive", photos=PHOTOS)
    worker = worker_factory(env)
    importing = subprocess.Popen(
        [sys.executable, "manage.py", "import_archive", str(manifest), "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    wait_for(lambda: ImportChunk.objects.filter(status="done").count() >= 5, timeout=120)
    worker.kill()
    left = ImportChunk.objects.exclude(status="done").count()
    worker_factory(env)
    out, err = importing.communicate(timeout=240)

    assert importing.returncode == 0, err
    assert left > 0, "the worker finished before it could be killed; the test proved nothing"
    summary = json.loads(out)
    failed = {f["path"] for f in summary["failed"]}
    assert {"imported": summary["imported"], "unchanged": summary["unchanged"], "failed": failed} == (
        undisturbed_result(manifest)
    )
    assert "pending" not in summary
    assert not Asset.objects.filter(inspection=Asset.Inspection.PENDING).exists()
    assert Fingerprint.objects.count() == PHOTOS + 1
    assert ImportRun.objects.get().status == ImportRun.Status.FINISHED


def test_a_scan_queued_without_wait_finishes_after_its_worker_is_killed_with_no_beat(
    broker_env, worker_factory, tmp_path
):
    """Finding 2: nobody waits and no beat runs; the replacement worker alone recovers the lost chunks."""
    env = broker_env | FAST
    expected = import_undecoded(tmp_path, extra=40)
    worker = worker_factory(env)
    assert manage("scan", env=env).returncode == 0  # queued; returns at once

    wait_for(lambda: ScanChunk.objects.filter(status="done").count() >= 5)
    worker.kill()
    left = ScanChunk.objects.exclude(status="done").count()
    worker_factory(env)
    wait_for(lambda: ScanRun.objects.get().status != ScanRun.Status.RUNNING, timeout=240, step=0.5)

    assert left > 0, "the worker finished before it could be killed; the test proved nothing"
    scan = ScanRun.objects.get()
    assert scan.status == ScanRun.Status.FINISHED and scan.errors == []
    assert found_by_kind() == expected
