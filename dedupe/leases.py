"""Leased chunks: background work whose state lives in the database, not in the broker.

Scan chunks and import decoding chunks share this shape. A chunk is claimed with a conditional
update that sets a lease; the Celery message is only a nudge. Whatever is lost (a message in a
broker restart, a worker killed by the OOM killer, a send that failed because the broker was
down) leaves a chunk that is pending and unsent, or running with a lease that runs out, and
`lease_resend` sends those again. Whoever calls it (any worker's timer, a waiting command, beat)
recovers the work, so no one process has to survive.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)


class LeasedChunk(models.Model):
    """A piece of background work one task does; the database says what is left and who holds it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent; empty: unsent.")
    lease_until = models.DateTimeField(null=True, blank=True)
    # Who holds the lease (a Celery task id): a retry of the same task may take its chunk back.
    holder = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True


def lease() -> timedelta:
    return timedelta(seconds=settings.DEDUPE_CHUNK_LEASE_SECONDS)


def new_holder() -> str:
    """A holder for work done outside a task (a command's own process)."""
    return f"local-{uuid.uuid4().hex}"


def lease_claim(chunks: QuerySet, chunk_id: int, *, holder: str) -> bool:
    """Take chunk `chunk_id` (within `chunks`) if nobody holds it, its lease ran out, or we held it.

    A retry of the task that held it (after a lost database connection, say) takes it straight
    back without counting an attempt: without that, the retry would find the chunk leased (to
    itself) and do nothing, and the work would wait a whole lease for recovery.
    """
    now = timezone.now()
    until = now + lease()
    running = LeasedChunk.Status.RUNNING
    if holder and chunks.filter(pk=chunk_id, status=running, holder=holder).update(lease_until=until):
        return True
    claimable = Q(status=LeasedChunk.Status.PENDING) | Q(status=running, lease_until__lt=now)
    won = chunks.filter(claimable, pk=chunk_id).update(
        status=running, lease_until=until, holder=holder, attempts=F("attempts") + 1
    )
    return bool(won)


def overdue(chunks: QuerySet) -> QuerySet:
    """Chunks nobody is working on: never sent, sent a whole lease ago and not taken, or held past the lease."""
    now = timezone.now()
    pending = LeasedChunk.Status.PENDING
    return chunks.filter(
        Q(status=LeasedChunk.Status.RUNNING, lease_until__lt=now)
        | Q(status=pending, queued_at__isnull=True)
        | Q(status=pending, queued_at__lt=now - lease())
    )


def lease_resend(chunks: QuerySet, send: Callable[[int], None]) -> int:
    """Send every overdue chunk of `chunks` again; returns how many were sent.

    Only chunks idle for a whole lease (or never sent) go again, so calling this often never
    floods the queue.
    """
    ids = list(overdue(chunks).values_list("pk", flat=True))
    chunks.model.objects.filter(pk__in=ids).update(queued_at=timezone.now())
    return sum(lease_send(chunks.model, chunk_id, send) for chunk_id in ids)


def lease_send(model: type[LeasedChunk], chunk_id: int, send: Callable[[int], None]) -> bool:
    """Send one chunk's task; if the broker cannot take it, mark it unsent for the next recovery.

    Never raises for the broker: a scan button pressed while the broker is down records the scan
    and answers; its chunks go out when the broker is back.
    """
    try:
        send(chunk_id)
    except Exception as exc:  # noqa: BLE001 - any transport error (kombu, redis, OSError) means "not sent"
        log.warning("chunk %s of %s not sent, the broker did not take it: %s", chunk_id, model.__name__, exc)
        model._default_manager.filter(pk=chunk_id).update(queued_at=None)
        return False
    return True


def sent_after_commit(model: type[LeasedChunk], chunk_ids: Iterable[int], send: Callable[[int], None]) -> None:
    """Send the chunks once the transaction that wrote them commits (a worker must find the rows)."""
    for chunk_id in chunk_ids:
        transaction.on_commit(partial(lease_send, model, chunk_id, send))
