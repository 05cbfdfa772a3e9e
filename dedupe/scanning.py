"""Scans: the phases of detection as chunks in the database, done by whoever claims them.

A chunk is claimed with a conditional update and a lease. Celery tasks are only nudges: a lost
message, a killed worker or a task run twice changes nothing, because the database says which
chunks are done, and `scan_tick` re-queues any whose lease ran out. The result is a set of
candidate rows (unique per pair) that does not depend on how many workers ran or in what order.
"""

import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from .actions import Action, Subject
from .audit import audit_record
from .candidates import (
    candidates_record,
    groups_rebuild,
    hash_table,
    matching_pairs,
    near_radius,
    pixel_suspects,
    pixels_verify,
)
from .inspection import assets_inspect, chunked
from .leases import lease_claim, lease_resend, new_holder, sent_after_commit
from .models import Asset, Candidate, Fingerprint, ScanChunk, ScanRun
from .partials import content_codes_store, mirror_candidates_record, partial_candidates_record

# Queries per search chunk: each chunk loads every hash once (about 1 s per million), so a
# chunk should search enough new assets to pay for that, yet leave work for a second worker.
SEARCH_CHUNK = 20_000
PIXEL_CHUNK = 16  # full decodes: a few hundred ms each for phone photos
# After this many claims a chunk is given up (recorded in the scan's errors), never retried forever.
MAX_ATTEMPTS = 3
PHASES: list[str] = [
    ScanRun.Phase.INSPECT, ScanRun.Phase.SEARCH, ScanRun.Phase.PARTIAL, ScanRun.Phase.VERIFY, ScanRun.Phase.GROUP,
]  # fmt: skip


def scan_start(*, started_by: str, actor: Any = None) -> tuple[ScanRun, bool]:
    """Start a scan, or join the one already running. Returns (scan, started).

    `actor` is the signed-in user who pressed the button; commands pass only a name.
    """
    running = ScanRun.objects.filter(status=ScanRun.Status.RUNNING).first()
    if running:
        return running, False
    try:
        with transaction.atomic():
            upto = Asset.objects.aggregate(m=Max("pk"))["m"] or 0
            scan = ScanRun.objects.create(started_by=started_by, upto_asset=upto)
            audit_record(
                action=Action.SCAN_START,
                actor=actor,
                actor_name=started_by,
                subjects=[(Subject.SCAN, scan.pk)],
                after={"upto": upto},
            )
            _plan(scan, ScanRun.Phase.INSPECT)
    except IntegrityError:  # another process started one between our look and our insert
        return ScanRun.objects.get(status=ScanRun.Status.RUNNING), False
    return scan, True


def _plan(scan: ScanRun, phase: str) -> None:
    """Write the chunks of `phase`; a phase with nothing to do moves straight on."""
    payloads = _payloads(scan, phase)
    now = timezone.now()
    ScanChunk.objects.bulk_create(
        [ScanChunk(scan=scan, phase=phase, number=n, payload=p, queued_at=now) for n, p in enumerate(payloads)],
        ignore_conflicts=True,
    )
    ScanRun.objects.filter(pk=scan.pk).update(phase=phase, total=F("total") + len(payloads))
    if not payloads:
        _advance(scan.pk, phase)
        return
    chunk_ids = ScanChunk.objects.filter(scan=scan, phase=phase).values_list("pk", flat=True)
    sent_after_commit(ScanChunk, chunk_ids, lambda chunk_id: chunk_enqueue(chunk_id, phase))


def _payloads(scan: ScanRun, phase: str) -> list:
    if phase == ScanRun.Phase.INSPECT:
        pending = Asset.objects.filter(pk__lte=scan.upto_asset, inspection=Asset.Inspection.PENDING)
        return chunked(list(pending.order_by("pk").values_list("pk", flat=True)), settings.DEDUPE_INSPECT_CHUNK)
    if phase in (ScanRun.Phase.SEARCH, ScanRun.Phase.PARTIAL):
        # Asset id ranges, not positions: positions would shift if an asset left the table meanwhile.
        new = Fingerprint.objects.filter(asset_id__lte=scan.upto_asset, searched=False, asset__state="active")
        ids = list(new.order_by("asset_id").values_list("asset_id", flat=True))
        size = SEARCH_CHUNK if phase == ScanRun.Phase.SEARCH else settings.DEDUPE_PARTIAL_CHUNK
        return [[part[0], part[-1]] for part in chunked(ids, size)]
    if phase == ScanRun.Phase.VERIFY:
        return chunked(pixel_suspects(scan), PIXEL_CHUNK)
    return [[]] if phase == ScanRun.Phase.GROUP else []


def chunk_claim(chunk_id: int, holder: str = "") -> ScanChunk | None:
    """Take a chunk that nobody holds (or whose holder's lease ran out); None if it is not ours."""
    of_running_scans = ScanChunk.objects.filter(scan__status=ScanRun.Status.RUNNING)
    won = lease_claim(of_running_scans, chunk_id, holder=holder or new_holder())
    return ScanChunk.objects.select_related("scan").get(pk=chunk_id) if won else None


def chunk_run(chunk_id: int, holder: str = "") -> bool:
    """Do one chunk if it can be claimed; returns whether this call did it.

    `holder` is the Celery task id: a retry of the same task takes its chunk back at once.
    """
    chunk = chunk_claim(chunk_id, holder)
    if chunk is None:
        return False
    if chunk.attempts > MAX_ATTEMPTS:
        _chunk_finish(chunk, error=f"given up after {MAX_ATTEMPTS} attempts (a worker died on it each time)")
        return True
    _work(chunk)
    _chunk_finish(chunk)
    return True


def _work(chunk: ScanChunk) -> None:
    scan = chunk.scan
    if chunk.phase == ScanRun.Phase.INSPECT:
        assets_inspect(chunk.payload)
    elif chunk.phase == ScanRun.Phase.SEARCH:
        table = hash_table(scan.upto_asset)
        first, last = chunk.payload
        new_ids = table.ids[table.new]
        queries = table.new[(new_ids >= first) & (new_ids <= last)]
        near, flipped = matching_pairs(table, queries, near_radius())
        candidates_record(scan, near)
        mirror_candidates_record(scan, flipped)
        content_codes_store(first, last, scan.upto_asset)
    elif chunk.phase == ScanRun.Phase.PARTIAL:
        partial_candidates_record(scan, *chunk.payload)
    elif chunk.phase == ScanRun.Phase.VERIFY:
        pixels_verify(chunk.payload)
    elif chunk.phase == ScanRun.Phase.GROUP:
        groups_rebuild()


def _chunk_finish(chunk: ScanChunk, error: str = "") -> None:
    with transaction.atomic():
        finished = ScanChunk.objects.filter(pk=chunk.pk, status=ScanChunk.Status.RUNNING).update(
            status=ScanChunk.Status.DONE, error=error
        )
        if not finished:
            return
        ScanRun.objects.filter(pk=chunk.scan_id).update(done=F("done") + 1)
        if error:
            scan = ScanRun.objects.select_for_update().get(pk=chunk.scan_id)
            scan.errors = [*scan.errors, {"phase": chunk.phase, "chunk": chunk.number, "error": error}]
            scan.save(update_fields=["errors"])
    if not ScanChunk.objects.filter(scan_id=chunk.scan_id, phase=chunk.phase).exclude(status="done").exists():
        _advance(chunk.scan_id, chunk.phase)


def _advance(scan_id: int, phase: str) -> None:
    """Move the scan past `phase`: exactly one caller wins the conditional update and plans the next."""
    following = PHASES[PHASES.index(phase) + 1] if phase != PHASES[-1] else ScanRun.Phase.DONE
    with transaction.atomic():
        if not ScanRun.objects.filter(pk=scan_id, phase=phase, status=ScanRun.Status.RUNNING).update(phase=following):
            return
        scan = ScanRun.objects.get(pk=scan_id)
        if following == ScanRun.Phase.DONE:
            _scan_finish(scan)
        else:
            _plan(scan, following)


def _scan_finish(scan: ScanRun) -> None:
    new = Fingerprint.objects.filter(asset_id__lte=scan.upto_asset, searched=False).update(searched=True)
    count = Candidate.objects.filter(found_by=scan).count()
    ScanRun.objects.filter(pk=scan.pk).update(
        status=ScanRun.Status.FINISHED, finished_at=timezone.now(), new_assets=new, candidates_found=count
    )
    audit_record(
        action=Action.SCAN_FINISH,
        actor_name="system:scan",
        subjects=[(Subject.SCAN, scan.pk)],
        after={"new_assets": new, "candidates_found": count, "errors": len(scan.errors)},
    )


def chunk_enqueue(chunk_id: int, phase: str) -> None:
    # Imported here: tasks import this module.
    from .tasks import scan_decode_task, scan_search_task

    task = scan_decode_task if phase in (ScanRun.Phase.INSPECT, ScanRun.Phase.VERIFY) else scan_search_task
    task.delay(chunk_id)


def _send(chunk_id: int) -> None:
    chunk_enqueue(chunk_id, ScanChunk.objects.values_list("phase", flat=True).get(pk=chunk_id))


def scan_tick(scan: ScanRun) -> int:
    """Re-queue chunks nobody is working on (lost messages, killed workers, unsent); returns how many."""
    return lease_resend(ScanChunk.objects.filter(scan=scan), _send)


def scan_run_here(scan: ScanRun) -> None:
    """Work through the scan in this process (`scan --sync`), alongside any workers."""
    while True:
        scan.refresh_from_db()
        if scan.status != ScanRun.Status.RUNNING:
            return
        open_chunks = ScanChunk.objects.filter(scan=scan).exclude(status=ScanChunk.Status.DONE).order_by("pk")
        ids = list(open_chunks.values_list("pk", flat=True))
        if not any([chunk_run(chunk_id) for chunk_id in ids]):
            time.sleep(0.5)  # all that is left is leased by a worker: wait for it or its lease
