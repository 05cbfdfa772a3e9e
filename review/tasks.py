"""Celery tasks of the review app: thin adapters around one service call, safe to run twice."""

from celery import shared_task

from dedupe.tasks import RETRY

from .services.storage import purge_quarantined


# Beat runs it every few hours (CELERY_BEAT_SCHEDULE). Twice at once is safe: each asset is purged
# in its own transaction under a row lock, and an asset already purged is refused, not purged again.
@shared_task(**RETRY)
def purge_quarantined_task() -> dict:
    summary = purge_quarantined(dry_run=False)
    return {"purged": summary.purged_count, "bytes_by_source": summary.bytes_by_source, "errors": summary.errors}
