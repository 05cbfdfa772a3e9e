"""An import's decoding as leased chunks in the database, done by workers or by the import itself.

Each committed import batch writes its chunks (asset ids) in the same transaction, so no asset
can be stored without the work that decodes it. Workers claim a chunk with a lease
(`dedupe.leases`); a chunk whose worker was killed or whose message was lost is sent again when
its lease runs out, by any worker's recovery timer or by the waiting import command, and done
here when no worker answers. Decoding a chunk twice is harmless: only pending assets are written.
"""

from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from .inspection import assets_inspect, chunked
from .leases import lease_claim, lease_resend, new_holder, overdue, sent_after_commit
from .models import ImportChunk, ImportRun

# After this many claims a chunk is given up: a file that kills every worker must not do so forever.
# Its assets stay pending, so the next scan's inspect phase (with the same limit) reports them.
MAX_ATTEMPTS = 3


def inspect_chunks_plan(run: ImportRun, asset_ids: Sequence[int], *, send: bool) -> list[int]:
    """Write the chunks decoding `asset_ids` (inside the caller's transaction); sent after commit if `send`."""
    chunks = ImportChunk.objects.bulk_create(
        [ImportChunk(run=run, payload=part) for part in chunked(asset_ids, settings.DEDUPE_INSPECT_CHUNK)]
    )
    ids = [chunk.pk for chunk in chunks]  # SQLite and PostgreSQL return the new ids
    if send:
        sent_after_commit(ImportChunk, ids, inspect_chunk_send)
    return ids


def inspect_chunk_send(chunk_id: int) -> None:
    from .tasks import inspect_chunk_task  # tasks import this module

    inspect_chunk_task.delay(chunk_id)


def inspect_chunk_run(chunk_id: int, holder: str = "") -> bool:
    """Decode one chunk if it can be claimed; returns whether this call did it."""
    if not lease_claim(ImportChunk.objects.all(), chunk_id, holder=holder or new_holder()):
        return False
    chunk = ImportChunk.objects.get(pk=chunk_id)
    error = ""
    if chunk.attempts > MAX_ATTEMPTS:
        error = f"given up after {MAX_ATTEMPTS} attempts (a worker died on it each time)"
    else:
        assets_inspect(chunk.payload)
    with transaction.atomic():
        ImportChunk.objects.filter(pk=chunk_id, status=ImportChunk.Status.RUNNING).update(
            status=ImportChunk.Status.DONE, error=error, lease_until=None
        )
    return True


def open_chunks(run: ImportRun | None = None) -> QuerySet[ImportChunk]:
    chunks = ImportChunk.objects.exclude(status=ImportChunk.Status.DONE)
    return chunks.filter(run=run) if run is not None else chunks


def inspect_chunks_resend(run: ImportRun | None = None) -> int:
    """Send again the chunks (of `run`, or of every import) that nobody is working on."""
    return lease_resend(open_chunks(run), inspect_chunk_send)


def inspect_chunks_here(
    run: ImportRun | None = None,
    *,
    only_overdue: bool = False,
    holder: str = "",
    progress: Callable[[int], object] = lambda n: None,
) -> int:
    """Decode open chunks in this process (no worker answers); returns how many this call did.

    `holder` names this process, so that after a lost connection it takes its chunk straight back;
    `progress` is told how many assets each chunk done here held.
    """
    chunks = overdue(open_chunks(run)) if only_overdue else open_chunks(run)
    done = 0
    for chunk_id, payload in list(chunks.order_by("pk").values_list("pk", "payload")):
        if inspect_chunk_run(chunk_id, holder):
            done += 1
            progress(len(payload))
    return done
