"""Idempotency keys: a retried request gets the first request's answer, never a second effect.

The key is claimed with an insert that a unique constraint guards, committed before the work
starts, so a second request with the same key (a tablet retrying over a dropped connection while
the first is still being decoded) sees it at once: it waits for the answer, and gives up with a
409 after DEDUPE_API_IDEMPOTENCY_WAIT_SECONDS rather than start the work twice. A key whose first
request died without answering (its process killed) is taken over once it is
DEDUPE_API_IDEMPOTENCY_STALE_SECONDS old. Keys are kept DEDUPE_API_IDEMPOTENCY_HOURS.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import ApiToken, IdempotencyKey

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Replay:
    """The answer the key's first request got."""

    status: int
    body: Any


class KeyReused(Exception):  # noqa: N818 - the client's mistake, reported as a problem
    """The key was first used for another request."""


class KeyBusy(Exception):  # noqa: N818
    """The key's first request is still running after the wait."""


def idempotency_claim(token: ApiToken, key: str, digest: str) -> IdempotencyKey | Replay:
    """Claim `key` for this request, or the first request's answer; raises KeyReused or KeyBusy."""
    keep = timedelta(hours=settings.DEDUPE_API_IDEMPOTENCY_HOURS)
    IdempotencyKey.objects.filter(token=token, created_at__lt=timezone.now() - keep).delete()
    deadline = time.monotonic() + settings.DEDUPE_API_IDEMPOTENCY_WAIT_SECONDS
    while True:
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    token=token, key=key, request_digest=digest, created_at=timezone.now()
                )
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(token=token, key=key).first()
        if row is None:
            continue  # its first request failed and let go of it between our insert and our read
        if row.request_digest != digest:
            raise KeyReused(f"Idempotency-Key {key!r} was first used for another request")
        if row.state == IdempotencyKey.State.DONE:
            return Replay(row.status_code or 200, row.response)
        if taken := _take_over_stale(row):
            return taken
        if time.monotonic() >= deadline:
            raise KeyBusy(f"a request with Idempotency-Key {key!r} is still being answered")
        time.sleep(POLL_SECONDS)


def _take_over_stale(row: IdempotencyKey) -> IdempotencyKey | None:
    stale = timezone.now() - timedelta(seconds=settings.DEDUPE_API_IDEMPOTENCY_STALE_SECONDS)
    if row.created_at >= stale:
        return None
    now = timezone.now()
    claimed = IdempotencyKey.objects.filter(
        pk=row.pk, state=IdempotencyKey.State.IN_FLIGHT, created_at=row.created_at
    ).update(created_at=now)
    if not claimed:
        return None
    row.created_at = now
    return row


def idempotency_answer(row: IdempotencyKey, status: int, body: Any) -> None:
    """Keep the answer for the key's retries."""
    IdempotencyKey.objects.filter(pk=row.pk).update(state=IdempotencyKey.State.DONE, status_code=status, response=body)


def idempotency_release(row: IdempotencyKey) -> None:
    """The request failed without an answer worth repeating: a retry may do the work."""
    IdempotencyKey.objects.filter(pk=row.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()
