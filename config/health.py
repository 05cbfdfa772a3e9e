"""`/health/` for load balancers and monitors, and `/metrics` for Prometheus.

Health needs no sign-in and says nothing secret: for each of the database, the broker, storage
and background work, whether it is well, with counts but never an address, a path or an error
message (those can carry host names and credentials; the logs have them). 200 when all is well,
503 otherwise. Metrics answer only the addresses in DEDUPE_METRICS_ALLOW (loopback by default).
"""

import logging
import uuid
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from dedupe.leases import lease, overdue
from dedupe.models import ImportChunk, ImportRun, ScanChunk

log = logging.getLogger(__name__)


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker(), "storage": _storage()}
    checks["work"] = _work() if checks["database"]["ok"] else {"ok": False, "detail": "unknown: no database"}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503)


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception:  # noqa: BLE001 - any failure is "unreachable"; the message stays in the log
        log.warning("health: database unreachable", exc_info=True)
        return {"ok": False, "detail": "unreachable"}


def _broker() -> dict[str, Any]:
    depth = queue_depth()
    if depth is None:
        return {"ok": False, "detail": "unreachable"}
    return {"ok": True, "queued": depth}


def queue_depth() -> int | None:
    """Messages waiting in this deployment's queue; None when the broker does not answer."""
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            queue = current_app.conf.task_default_queue
            try:
                return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
            except conn.connection_errors:
                raise  # Redis connects lazily: an unreachable one fails only here
            except Exception:  # noqa: BLE001 - a queue nobody declared yet holds nothing
                return 0
    except Exception:  # noqa: BLE001
        log.warning("health: broker unreachable", exc_info=True)
        return None


def _storage() -> dict[str, Any]:
    name = f"health/{uuid.uuid4().hex}"
    try:
        saved = default_storage.save(name, ContentFile(b"ok"))
        default_storage.delete(saved)
        return {"ok": True}
    except Exception:  # noqa: BLE001 - full, read-only or unreachable: cannot take an import either way
        log.warning("health: storage cannot be written", exc_info=True)
        return {"ok": False, "detail": "cannot write"}


def stuck(chunks: Any) -> Any:
    """Overdue by a whole further lease: recovery (every worker, every interval) should have resent it."""
    now = timezone.now()
    return overdue(chunks).filter(Q(lease_until__lt=now - lease()) | Q(queued_at__lt=now - 2 * lease()))


def _work() -> dict[str, Any]:
    open_scan = ScanChunk.objects.exclude(status=ScanChunk.Status.DONE)
    open_import = ImportChunk.objects.exclude(status=ImportChunk.Status.DONE)
    stuck_count = stuck(open_scan).count() + stuck(open_import).count()
    return {
        "ok": stuck_count == 0,
        "chunks_waiting": open_scan.count() + open_import.count(),
        "chunks_stuck": stuck_count,
        "imports_interrupted": ImportRun.objects.filter(status=ImportRun.Status.INTERRUPTED).count(),
    }


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if request.META.get("REMOTE_ADDR") not in settings.DEDUPE_METRICS_ALLOW:
        raise Http404
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


class WorkCollector(Collector):
    """Figures read from the database and broker when Prometheus scrapes (the same in every process)."""

    def describe(self) -> Any:
        """The names alone: without this, registering would query the database (before migrate, even)."""
        yield GaugeMetricFamily("dedupe_chunks_waiting", "Chunks not done yet", labels=["kind"])
        yield GaugeMetricFamily("dedupe_chunks_overdue", "Chunks nobody is working on", labels=["kind"])
        yield GaugeMetricFamily("dedupe_queue_depth", "Messages waiting in the broker queue")
        yield GaugeMetricFamily("dedupe_decisions_last_minute", "Decisions recorded in the last minute")
        yield CounterMetricFamily("dedupe_decisions", "Decisions recorded")

    def collect(self) -> Any:
        try:
            yield from self._collect()
        except Exception:  # noqa: BLE001 - a scrape during a database outage still gets the request metrics
            log.warning("metrics: work figures unavailable", exc_info=True)

    def _collect(self) -> Any:
        from review.models import Decision  # config wires both apps; dedupe must not import review

        waiting = GaugeMetricFamily("dedupe_chunks_waiting", "Chunks not done yet", labels=["kind"])
        late = GaugeMetricFamily("dedupe_chunks_overdue", "Chunks nobody is working on", labels=["kind"])
        for kind, model in (("scan", ScanChunk), ("import", ImportChunk)):
            chunks = model.objects.exclude(status=model.Status.DONE)
            waiting.add_metric([kind], chunks.count())
            late.add_metric([kind], overdue(chunks).count())
        yield waiting
        yield late
        depth = queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("dedupe_queue_depth", "Messages waiting in the broker queue", value=depth)
        since = timezone.now() - timedelta(minutes=1)
        yield GaugeMetricFamily(
            "dedupe_decisions_last_minute", "Decisions recorded in the last minute",
            value=Decision.objects.filter(decided_at__gte=since).count(),
        )  # fmt: skip
        yield CounterMetricFamily("dedupe_decisions", "Decisions recorded", value=Decision.objects.count())


_collector = WorkCollector()
if _collector not in getattr(REGISTRY, "_collector_to_names", {}):
    REGISTRY.register(_collector)
