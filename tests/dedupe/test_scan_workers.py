"""Scans through real worker processes: killed mid-scan (while decoding, while verifying partial
copies), started twice, over each broker."""

import subprocess
import sys
import time

import pytest

from dedupe.ingest import Importer, import_finish, import_start, manifest_rows
from dedupe.models import Asset, Candidate, ScanChunk, ScanRun
from tests.conftest import ROOT, manage
from tests.factories import duplicates_archive, jpeg_bytes, photo, write_manifest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def import_undecoded(root, extra: int = 0, *, partial: bool = False, extra_address: str = ""):
    """The archive of tests.factories plus `extra` distinct photos (each on its own property unless
    `extra_address` is given), imported but not yet decoded."""
    manifest, expected = duplicates_archive(root, partial=partial)
    rows = [line.split(",") for line in manifest.read_text().splitlines()[1:]]
    for n in range(extra):
        (root / f"images/extra-{n}.jpg").write_bytes(jpeg_bytes(photo(500 + n)))
        rows.append([f"images/extra-{n}.jpg", "permits", f"X-{n}", "1", extra_address or f"{n} Elm St", ""])
    manifest = write_manifest(root, rows)
    run = import_start(kind="archive", location=str(manifest), root=root)
    Importer(run=run, root=root).import_rows(manifest_rows(manifest))
    import_finish(run)
    return expected


def found_by_kind() -> dict[str, set[frozenset[str]]]:
    found: dict[str, set[frozenset[str]]] = {}
    for c in Candidate.objects.select_related("asset_a", "asset_b"):
        found.setdefault(c.kind, set()).add(frozenset({c.asset_a.origin_path, c.asset_b.origin_path}))
    return found


def wait_for(condition, timeout: float = 60, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(step)


# Per stage: the chunk size that cuts it finely, the archive, and how many of its chunks are done
# when the worker is killed. In the partial stage 24 more photographs on one property make each
# chunk verify a few dozen pairs.
KILLED_IN = {
    "inspect": ({"DEDUPE_INSPECT_CHUNK": "1"}, {"extra": 60}, 8),
    "partial": ({"DEDUPE_PARTIAL_CHUNK": "1"}, {"extra": 24, "partial": True, "extra_address": "1 Main St"}, 2),
}


@pytest.mark.parametrize("stage", KILLED_IN)
def test_a_worker_killed_mid_scan_is_replaced_and_the_scan_finishes_the_same(
    stage, broker_env, worker_factory, tmp_path
):
    chunk_env, archive, done_first = KILLED_IN[stage]
    env = broker_env | chunk_env | {"DEDUPE_CHUNK_LEASE_SECONDS": "3"}
    expected = import_undecoded(tmp_path, **archive)
    worker = worker_factory(env)
    assert manage("scan", env=env).returncode == 0

    of_stage = ScanChunk.objects.filter(phase=stage)
    wait_for(lambda: of_stage.filter(status="done").count() >= done_first, timeout=120)
    worker.kill()
    left = of_stage.exclude(status="done").count()
    worker_factory(env)
    done = manage("scan", "--wait", env=env, timeout=240)

    assert done.returncode == 0, done.stderr
    assert left > 0, f"the worker finished the {stage} stage before it could be killed; the test proved nothing"
    scan = ScanRun.objects.get()
    assert scan.status == ScanRun.Status.FINISHED and scan.errors == []
    assert not Asset.objects.filter(inspection=Asset.Inspection.PENDING).exists()
    assert found_by_kind() == expected
    assert Candidate.objects.count() == sum(len(pairs) for pairs in expected.values())


def test_two_scans_started_at_once_do_the_work_once(broker_env, worker_factory, tmp_path):
    expected = import_undecoded(tmp_path, partial=True)
    worker_factory(broker_env, concurrency=2)

    both = [
        subprocess.Popen([sys.executable, "manage.py", "scan", "--wait"], cwd=ROOT, env=broker_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=180) for p in both]

    assert all(p.returncode == 0 for p in both), outputs
    assert ScanRun.objects.count() == 1
    assert sorted("Joined" in err for _, err in outputs) == [False, True]
    assert found_by_kind() == expected
    assert ScanChunk.objects.filter(phase="inspect").count() == 1
    assert ScanChunk.objects.filter(phase="partial").count() == 1 and "partial" in expected
