"""What import_archive and import_folder share: the progress bar, inspection and the summary."""

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from dedupe.ingest import Importer, import_finish, import_start
from dedupe.inspection import wait_for_inspection
from dedupe.manifest import Row
from dedupe.models import Asset
from dedupe.workers import inspect_assets, inspect_queue, workers_available


def add_common_arguments(parser: CommandParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object as the summary")
    parser.add_argument(
        "--sync", action="store_true", help="decode and fingerprint in this process, even when workers are running"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="queue the decoding for the workers and return without waiting"
    )


def run_import(
    command: BaseCommand, *, kind: str, location: str, root: Path, rows: Iterator[Row], total: int, options: dict
) -> dict:
    run = import_start(kind=kind, location=location, root=root, started_by=_os_user())
    # Progress and notes go to stderr (stdout stays one JSON object); bars only on a terminal.
    quiet = options["verbosity"] == 0
    use_workers = not options["sync"] and workers_available()
    if not quiet:
        where = "on the Celery workers" if use_workers else "in this process (no Celery worker answered)"
        command.stderr.write(f"Decoding and fingerprinting new files {where}.")
    with tqdm(total=total, desc="import", unit="file", disable=None if not quiet else True) as bar:
        # With workers, each batch is fingerprinted while the loop reads the next.
        Importer(run=run, root=root, on_batch=inspect_queue if use_workers else None).import_rows(
            rows, progress=bar.update
        )

    pending = run.assets.filter(inspection=Asset.Inspection.PENDING)
    left = pending.count()
    if left and not use_workers:
        ids = list(pending.values_list("pk", flat=True))
        with tqdm(total=len(ids), desc="inspect", unit="file", disable=None if not quiet else True) as bar:
            inspect_assets(ids, use_workers=False, pending_count=pending.count, progress=bar.update)
    elif left and not options["no_wait"]:
        with tqdm(total=left, desc="inspect", unit="file", disable=None if not quiet else True) as bar:
            wait_for_inspection(pending.count, bar.update, timeout=24 * 3600)
    return import_finish(run)


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
