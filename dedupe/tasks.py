"""Celery tasks: ids in, one service call, a retry policy. Each is safe to run twice."""

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from .audit import audit_checkpoint_write
from .inspect_chunks import inspect_chunk_run
from .inspection import assets_inspect
from .recovery import work_recover
from .resilience import StorageFull, storage_full_named
from .sandbox import SandboxBroken
from .scanning import chunk_run
from .verify import verify_chunk, verify_chunks

# The retry policy of every task that touches the database (review's tasks share it): a locked,
# briefly unreachable or restarted database, a full disk being freed, a decoder process that died
# under the chunk are retried with (jittered) backoff, for at most about three minutes. Past that
# the chunk's lease runs out and recovery (dedupe.recovery) sends it again.
RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError, StorageFull, SandboxBroken),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


# Not acks_late: a decode killed for memory would be redelivered and kill the next worker too.
# A lost chunk is not lost work: its lease runs out and recovery sends it again.
@shared_task(bind=True, **RETRY)
def inspect_chunk_task(self: Task, chunk_id: int) -> bool:
    with storage_full_named():
        return inspect_chunk_run(chunk_id, holder=self.request.id or "")


# Messages queued before import chunks existed name asset ids; kept so that they still work.
@shared_task(**RETRY)
def assets_inspect_task(asset_ids: list[int]) -> int:
    with storage_full_named():
        return assets_inspect(asset_ids)


# Decoding chunks of a scan: not acks_late, for the same reason; the scan's lease brings them back.
@shared_task(bind=True, **RETRY)
def scan_decode_task(self: Task, chunk_id: int) -> bool:
    with storage_full_named():
        return chunk_run(chunk_id, holder=self.request.id or "")


# Searching and grouping read hashes and upsert rows: bounded memory, safe to redeliver.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, **RETRY)
def scan_search_task(self: Task, chunk_id: int) -> bool:
    return chunk_run(chunk_id, holder=self.request.id or "")


@shared_task
def scan_watch_task() -> dict[str, int]:
    """Beat's nudge (optional: every worker does the same on a timer): re-send work nobody holds."""
    return work_recover()


@shared_task(**RETRY)
def audit_checkpoint_task() -> str:
    """Beat's daily checkpoint of the audit log's head; each run writes a new file."""
    path, _ = audit_checkpoint_write(settings.DEDUPE_CHECKPOINT_DIR)
    return str(path)


@shared_task(**RETRY)
def verify_sources_chunk_task(asset_ids: list[int]) -> int:
    """One chunk of files kept in place checked against what was imported; the number drifted."""
    return len(verify_chunk(asset_ids, actor_name="system:verify_sources (worker)").drifted)


@shared_task(**RETRY)
def verify_sources_task(source: str | None = None) -> int:
    """Beat's daily drift check, fanned out to the workers a chunk a task; the number of chunks sent."""
    sent = 0
    for ids in verify_chunks(source=source):
        verify_sources_chunk_task.delay(ids)
        sent += 1
    return sent
