"""Celery tasks: ids in, one service call, a retry policy. Each is safe to run twice."""

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .audit import audit_checkpoint_write
from .inspection import assets_inspect
from .models import ScanRun
from .scanning import chunk_run, scan_tick

# The retry policy of every task that touches the database (review's tasks share it): a locked or
# briefly unreachable database is retried with (jittered) backoff, for at most about three minutes.
RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


# Not acks_late: a decode killed for memory would be redelivered and kill the next worker too.
# A lost chunk is not lost work: its assets stay pending and the next scan inspects them.
@shared_task(**RETRY)
def assets_inspect_task(asset_ids: list[int]) -> int:
    return assets_inspect(asset_ids)


# Decoding chunks of a scan: not acks_late, for the same reason; the scan's lease brings them back.
@shared_task(**RETRY)
def scan_decode_task(chunk_id: int) -> bool:
    return chunk_run(chunk_id)


# Searching and grouping read hashes and upsert rows: bounded memory, safe to redeliver.
@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def scan_search_task(chunk_id: int) -> bool:
    return chunk_run(chunk_id)


@shared_task
def scan_watch_task() -> int:
    """Beat's nudge: re-queue the running scan's chunks whose worker went away."""
    scan = ScanRun.objects.filter(status=ScanRun.Status.RUNNING).first()
    return scan_tick(scan) if scan else 0


@shared_task(**RETRY)
def audit_checkpoint_task() -> str:
    """Beat's daily checkpoint of the audit log's head; each run writes a new file."""
    path, _ = audit_checkpoint_write(settings.DEDUPE_CHECKPOINT_DIR)
    return str(path)
