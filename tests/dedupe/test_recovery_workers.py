"""Fault drills with real worker processes: work whose worker was killed finishes, with no beat running."""

import csv
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from dedupe.models import Asset, Fingerprint, ImportChunk, ImportRun, ScanChunk, ScanRun
from tests.conftest import ROOT, manage, service_missing
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


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence: a restart loses every message."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.folder, self.proc = folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(self.folder)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_for(lambda: _answers(client), timeout=20, step=0.1)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # as a crash or a restart by an operator: nothing is saved
            self.proc.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        service_missing("redis-server (to start a broker the test can stop)")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_a_broker_restarted_mid_scan_loses_its_messages_and_the_scan_still_finishes_the_same(
    child_env, own_redis, worker_factory, tmp_path
):
    """Finding 3: Redis killed mid-scan (its queued messages gone) and started again; `scan --wait`,
    started during the outage, neither dies nor gives up, and the result equals an undisturbed scan."""
    env = child_env | FAST | {"CELERY_BROKER_URL": own_redis.url, "DEDUPE_COMMAND_PATIENCE_SECONDS": "120"}
    expected = import_undecoded(tmp_path, extra=40)
    worker_factory(env)
    assert manage("scan", env=env).returncode == 0

    wait_for(lambda: ScanChunk.objects.filter(status="done").count() >= 5)
    own_redis.stop()
    left = ScanChunk.objects.exclude(status="done").count()
    follow = subprocess.Popen(
        [sys.executable, "manage.py", "scan", "--wait"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(4)
    own_redis.start()
    out, err = follow.communicate(timeout=240)

    assert follow.returncode == 0, err
    assert "Traceback" not in err
    assert left > 0, "the scan finished before the broker was stopped; the test proved nothing"
    scan = ScanRun.objects.get()
    assert scan.status == ScanRun.Status.FINISHED and scan.errors == []
    assert found_by_kind() == expected
