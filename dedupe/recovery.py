"""Recovering background work without beat: every worker, and every waiting command, calls `work_recover`.

Workers call it from a timer (config.celery's WorkRecoveryStep) every
DEDUPE_RECOVERY_INTERVAL_SECONDS and once when they start, so a killed worker's chunk, a message
lost in a broker restart and a scan whose first messages never reached the broker all resume as
soon as any worker runs. Import runs beat a heartbeat; a run whose process stopped beating is
marked interrupted (never "running" for good) with what to run to resume it.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .actions import Action, Subject
from .audit import audit_record
from .inspect_chunks import inspect_chunks_resend
from .models import ImportProblem, ImportRun, ScanRun
from .resilience import StorageFull, describe
from .scanning import scan_tick

log = logging.getLogger(__name__)


def work_recover() -> dict[str, int]:
    """Send again every chunk nobody is working on; mark imports whose process died. Never raises."""
    done = {"scan_chunks": 0, "import_chunks": 0, "interrupted": 0}
    try:
        scan = ScanRun.objects.filter(status=ScanRun.Status.RUNNING).first()
        done["scan_chunks"] = scan_tick(scan) if scan else 0
        done["import_chunks"] = inspect_chunks_resend()
        done["interrupted"] = imports_interrupt_stale()
    except Exception:  # noqa: BLE001 - a timer in the worker must outlive a database outage
        log.warning("work recovery could not run this time", exc_info=True)
    return done


def import_heartbeat(run: ImportRun) -> None:
    """The importing process is alive; a run marked interrupted by mistake (a long pause) runs again."""
    ImportRun.objects.filter(pk=run.pk, status__in=[ImportRun.Status.RUNNING, ImportRun.Status.INTERRUPTED]).update(
        heartbeat_at=timezone.now(), status=ImportRun.Status.RUNNING
    )


def imports_interrupt_stale() -> int:
    """Mark running imports whose process has not beaten for DEDUPE_RUN_STALE_SECONDS as interrupted."""
    cutoff = timezone.now() - timedelta(seconds=settings.DEDUPE_RUN_STALE_SECONDS)
    stale = ImportRun.objects.filter(status=ImportRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    count = 0
    for run in stale:
        count += import_interrupt(run, why="its process stopped answering (killed, or its machine lost)")
    return count


def import_interrupt(run: ImportRun, *, why: str, problem: bool = False) -> int:
    """Mark `run` interrupted with the reason and how to resume; `problem` also lists it among the run's problems."""
    with transaction.atomic():
        if not ImportRun.objects.filter(pk=run.pk, status=ImportRun.Status.RUNNING).update(
            status=ImportRun.Status.INTERRUPTED
        ):
            return 0
        if problem:
            ImportProblem.objects.create(run=run, row=None, path=run.location, reason=why)
        audit_record(
            action=Action.IMPORT_INTERRUPT,
            actor_name="system:import",
            subjects=[(Subject.IMPORT, run.pk)],
            after={"why": why, "resume": import_resume_hint(run)},
            reason=f"{run.kind} import of {run.location}",
        )
    return 1


def import_resume_hint(run: ImportRun) -> str:
    return resume_hint(kind=run.kind, location=run.location, root=run.root)


def resume_hint(*, kind: str, location: str, root: str) -> str:
    """What to run to finish an interrupted import: the same import again (it is idempotent)."""
    if kind == "folder":
        return f"To resume, run `manage.py import_folder {location} --source ...` again with the same options."
    return f"To resume, run `manage.py import_archive {location} --root {root}` again."


def import_fault(run: ImportRun, exc: BaseException, attempt: int) -> None:
    """A transient fault in an import: a full disk is an audit event the first time it is met."""
    if attempt == 1 and isinstance(exc, StorageFull):
        with transaction.atomic():
            audit_record(
                action=Action.IMPORT_STORAGE_FULL,
                actor_name="system:import",
                subjects=[(Subject.IMPORT, run.pk)],
                after={"error": describe(exc), "retrying": True},
                reason=f"{run.kind} import of {run.location}",
            )
