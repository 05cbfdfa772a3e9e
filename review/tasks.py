"""Celery tasks of the review app: thin adapters around one service call, safe to run twice."""

from celery import Task, shared_task

from dedupe.tasks import RETRY

from .services.storage import purge_quarantined
from .services.webhooks import DeliveryFailed, webhook_deliver, webhook_given_up, webhooks_dispatch


# Beat runs it every few hours (CELERY_BEAT_SCHEDULE). Twice at once is safe: each asset is purged
# in its own transaction under a row lock, and an asset already purged is refused, not purged again.
@shared_task(**RETRY)
def purge_quarantined_task() -> dict:
    summary = purge_quarantined(dry_run=False)
    return {"purged": summary.purged_count, "bytes_by_source": summary.bytes_by_source, "errors": summary.errors}


# Beat runs it every few seconds; twice at once is safe: each endpoint's page is cut under its row lock.
@shared_task(**RETRY)
def webhooks_dispatch_task() -> int:
    return webhooks_dispatch()


# A receiver that is down is asked again with exponential back-off (5 s, 10 s, ... up to an hour,
# jittered) for about a day; then the delivery is marked failed, for an administrator to replay.
@shared_task(
    bind=True, autoretry_for=(*RETRY["autoretry_for"], DeliveryFailed), retry_backoff=5, retry_backoff_max=3600,
    retry_jitter=True, max_retries=30,
)  # fmt: skip
def webhook_deliver_task(self: Task, delivery_id: int) -> bool:
    try:
        return webhook_deliver(delivery_id)
    except DeliveryFailed:
        if self.request.retries >= (self.max_retries or 0):
            webhook_given_up(delivery_id)
        raise
