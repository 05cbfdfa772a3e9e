"""Celery tasks: ids in, one service call, a retry policy. Each is safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from .inspection import assets_inspect


# Not acks_late: a decode killed for memory would be redelivered and kill the next worker too.
# A lost chunk is not lost work: its assets stay pending and the next scan inspects them.
@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60, max_retries=8)
def assets_inspect_task(asset_ids: list[int]) -> int:
    return assets_inspect(asset_ids)
