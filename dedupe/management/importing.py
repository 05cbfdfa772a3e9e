"""What import_archive and import_folder share: the progress bar, inspection and the summary."""

import getpass
import json
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from dedupe.buckets import BucketPlace, ObjectUnavailable, bucket_place, bucket_reachable, is_bucket_url
from dedupe.ingest import Importer, import_finish, import_start
from dedupe.inspect_chunks import inspect_chunks_here, inspect_chunks_plan, inspect_chunks_resend, open_chunks
from dedupe.leases import new_holder, overdue
from dedupe.manifest import Row
from dedupe.models import Asset, ImportRun
from dedupe.recovery import import_fault, import_heartbeat, import_interrupt, resume_hint
from dedupe.resilience import TRANSIENT, GaveUp, retrying
from dedupe.workers import workers_available

T = TypeVar("T")


def add_common_arguments(parser: CommandParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object as the summary")
    parser.add_argument(
        "--sync", action="store_true", help="decode and fingerprint in this process, even when workers are running"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="queue the decoding for the workers and return without waiting"
    )


def import_root(raw: str) -> Path | BucketPlace:
    """A folder, or a bucket and prefix that answers: a wrong endpoint, bucket or key is one line,
    not a failed row per file."""
    if not is_bucket_url(raw):
        if not Path(raw).is_dir():
            raise CommandError(f"{raw}: the import root is not a folder")
        return Path(raw)
    try:
        place = bucket_place(raw)
        bucket_reachable(place)
    except (ValueError, ObjectUnavailable) as exc:
        raise CommandError(f"{raw}: {exc}") from None
    return place


def run_import(
    command: BaseCommand,
    *,
    kind: str,
    location: str,
    root: Path | BucketPlace,
    rows: Iterator[Row],
    total: int,
    options: dict,
) -> dict:
    """Import, decode (on the workers or here) and summarise; a fault that outlasts the retries is one line."""
    hint = resume_hint(kind=kind, location=location, root=str(root))
    again: Callable[[Callable[[], T]], T] = partial(retrying, what=f"import of {location}", resume=hint)
    run = again(lambda: import_start(kind=kind, location=location, root=root, started_by=_os_user()))
    try:
        return _import_and_decode(command, run, root=root, rows=rows, total=total, options=options, again=again)
    except GaveUp as exc:
        with suppress(*TRANSIENT):  # the database may be what is down: the heartbeat then says it
            import_interrupt(run, why=str(exc), problem=True)
        raise CommandError(str(exc)) from None


def _import_and_decode(
    command: BaseCommand,
    run: ImportRun,
    *,
    root: Path | BucketPlace,
    rows: Iterator[Row],
    total: int,
    options: dict,
    again: Callable,
) -> dict:
    # Progress and notes go to stderr (stdout stays one JSON object); bars only on a terminal.
    quiet = options["verbosity"] == 0
    use_workers = not options["sync"] and workers_available()
    if not quiet:
        where = "on the Celery workers" if use_workers else "in this process (no Celery worker answered)"
        command.stderr.write(f"Decoding and fingerprinting new files {where}.")
    bars = {"disable": None if not quiet else True, "unit": "file"}
    with tqdm(total=total, desc="import", **bars) as bar:
        # Each batch writes its decoding chunks in its own transaction; workers decode them while
        # the loop reads the next. Without workers they wait for this process, after the loop.
        importer = Importer(
            run=run,
            root=root,
            on_batch=partial(inspect_chunks_plan, send=use_workers),
            retry=lambda step: again(step, on_fault=partial(import_fault, run)),
        )
        importer.import_rows(rows, progress=bar.update)

    pending = run.assets.filter(inspection=Asset.Inspection.PENDING)
    left = again(pending.count)
    if left and (not use_workers or not options["no_wait"]):
        with tqdm(total=left, desc="inspect", **bars) as bar:
            if use_workers:
                _wait_for_workers(run, pending.count, bar.update, again)
            else:
                holder = new_holder()  # one for this process: a retry takes its chunk back
                again(lambda: inspect_chunks_here(run, holder=holder, progress=partial(_beat, run, bar.update)))
    summary: dict = again(lambda: import_finish(run))
    return summary


def _beat(run: ImportRun, progress: Callable[[int], object], done: int) -> None:
    import_heartbeat(run)
    progress(done)


def _wait_for_workers(run: ImportRun, pending_count: Callable[[], int], progress: Callable, again: Callable) -> None:
    """Follow the workers; every few seconds beat, re-send what they lost, and do it here if none answers."""
    tick_every = min(10.0, settings.DEDUPE_CHUNK_LEASE_SECONDS / 2)
    last_tick = time.monotonic()
    left = again(pending_count)
    while left and again(open_chunks(run).exists):
        time.sleep(0.5)
        now = again(pending_count)
        progress(left - now)
        left = now
        if time.monotonic() - last_tick > tick_every:
            again(lambda: _recover(run))
            last_tick = time.monotonic()


def _recover(run: ImportRun) -> None:
    import_heartbeat(run)
    if overdue(open_chunks(run)).exists() and not workers_available():
        inspect_chunks_here(run, only_overdue=True)  # every worker is gone: finish the job here
    else:
        inspect_chunks_resend(run)


def print_summary(command: BaseCommand, summary: dict, *, as_json: bool) -> None:
    if as_json:
        command.stdout.write(json.dumps(summary))
        return
    for failure in summary["failed"]:
        command.stdout.write(f"row {failure['row']}: {failure['path']}: {failure['reason']}")
    line = f"Imported {summary['imported']}, unchanged {summary['unchanged']}, failed {len(summary['failed'])}"
    if summary.get("pending"):
        line += f", still being decoded by the workers {summary['pending']}"
    command.stdout.write(command.style.SUCCESS(line) if not summary["failed"] else command.style.WARNING(line))


def _os_user() -> str:
    try:
        return f"system:import ({getpass.getuser()})"
    except (KeyError, OSError):
        return "system:import"
