"""Handing chunks of work to Celery workers, or doing them here when no worker is there.

Commands that people run by hand (import, scan --sync) must finish with or without workers: a
worker answering a ping takes the chunks; otherwise this process works through them itself.
"""

from collections.abc import Callable, Sequence
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

from .inspection import assets_inspect, chunked, wait_for_inspection


def workers_available(timeout: float = 1.5) -> bool:
    """True when at least one Celery worker answers a ping on the configured broker.

    Asks the current Celery app (the project's, which `config` sets as current when Django
    starts) rather than importing it: `dedupe` knows nothing of the project that wires it.
    """
    if current_app.conf.task_always_eager:
        return False
    try:
        return bool(current_app.control.ping(timeout=timeout, limit=1))  # one answer is enough: stop waiting
    except Exception:  # noqa: BLE001 - an unreachable broker means no worker, not a crash
        return False


def inspect_queue(asset_ids: Sequence[int]) -> None:
    """Send `asset_ids` to the workers in chunks, after the current transaction commits."""
    from .tasks import assets_inspect_task

    for chunk in chunked(asset_ids, settings.DEDUPE_INSPECT_CHUNK):
        transaction.on_commit(partial(assets_inspect_task.delay, chunk))


def inspect_assets(
    asset_ids: Sequence[int],
    *,
    use_workers: bool,
    pending_count: Callable[[], int],
    progress: Callable[[int], None] = lambda n: None,
    timeout: float = 24 * 3600,
) -> int:
    """Inspect `asset_ids` on the workers (and wait for them) or here; returns how many are still pending."""
    if not use_workers:
        for chunk in chunked(asset_ids, settings.DEDUPE_INSPECT_CHUNK):
            assets_inspect(chunk)
            progress(len(chunk))
        return 0
    inspect_queue(asset_ids)
    return wait_for_inspection(pending_count, progress, timeout=timeout)
