import getpass
import time
from functools import partial
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from dedupe.models import ScanRun
from dedupe.resilience import GaveUp, retrying
from dedupe.scanning import scan_run_here, scan_start, scan_tick

FOLLOW_AGAIN = "The scan goes on on the workers: run `manage.py scan --wait` to follow it again."


class Command(BaseCommand):
    help = (
        "Find duplicate candidates among new assets. Queues the scan for the Celery workers and returns; "
        "--wait follows it to the end; --sync does the work in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="do the work here (with any running workers)")
        parser.add_argument("--wait", action="store_true", help="queue for the workers and follow the progress")

    def handle(self, *args: Any, **options: Any) -> None:
        # A lost database or broker is retried with back-off; past DEDUPE_COMMAND_PATIENCE_SECONDS
        # the command says in one line what failed and what to run, never a traceback.
        try:
            self._scan(options)
        except GaveUp as exc:
            raise CommandError(str(exc)) from None

    def _scan(self, options: dict) -> None:
        again = partial(retrying, what="scan", resume="Run `manage.py scan --wait` again: it joins the running scan.")
        scan, started = again(lambda: scan_start(started_by=f"system:scan ({_user()})"))
        verb = "Started" if started else "Joined the running"
        self.stderr.write(f"{verb} scan {scan.pk}.")
        if options["sync"]:
            again(lambda: scan_run_here(scan))
        elif options["wait"]:
            self._follow(scan, verbose=options["verbosity"] > 0)
        else:
            self.stdout.write(f"Scan {scan.pk} queued for the workers; follow it on the site or with --wait.")
            return
        again(scan.refresh_from_db)
        self.stdout.write(
            f"Scan {scan.pk} {scan.status}: {scan.new_assets} new assets searched, "
            f"{scan.candidates_found} new candidates, {len(scan.errors)} errors."
        )
        for error in scan.errors:
            self.stdout.write(self.style.WARNING(f"  {error['phase']} chunk {error['chunk']}: {error['error']}"))

    def _follow(self, scan: ScanRun, *, verbose: bool) -> None:
        again = partial(retrying, what=f"following scan {scan.pk}", resume=FOLLOW_AGAIN)
        # Re-queue chunks a dead worker or a broker restart left behind, soon after their lease runs out.
        tick_every = min(10, settings.DEDUPE_CHUNK_LEASE_SECONDS / 2)
        last_tick = time.monotonic()
        with tqdm(desc="scan", unit="chunk", disable=None if verbose else True) as bar:
            while scan.status == ScanRun.Status.RUNNING:
                time.sleep(1)
                again(scan.refresh_from_db)
                bar.total, bar.n = scan.total, scan.done
                bar.set_postfix_str(scan.get_phase_display())
                if time.monotonic() - last_tick > tick_every:
                    again(lambda: scan_tick(scan))
                    last_tick = time.monotonic()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
