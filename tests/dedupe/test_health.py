"""/health/ for load balancers (no sign-in, no secrets) and /metrics for Prometheus (loopback only)."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from kombu import Connection

from dedupe.models import ImportRun, ScanChunk
from dedupe.scanning import scan_start

pytestmark = pytest.mark.django_db


def test_it_answers_200_with_each_check_when_all_is_well_without_sign_in(client):
    answer = client.get("/health/")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "broker": True, "storage": True, "work": True,
    }  # fmt: skip


def test_it_answers_503_naming_the_broker_when_the_broker_is_down_and_gives_no_address(client, monkeypatch, settings):
    # A real connection to a port nothing listens on (the app's own URL is fixed once it has connected).
    unreachable = "redis://:s3cret-password@127.0.0.1:1/0"
    monkeypatch.setattr(current_app, "connection_for_write", lambda: Connection(unreachable))

    answer = client.get("/health/")

    assert answer.status_code == 503
    assert answer.json()["checks"]["broker"] == {"ok": False, "detail": "unreachable"}
    text = answer.content.decode()
    assert "s3cret" not in text and "127.0.0.1" not in text and settings.SECRET_KEY not in text


def test_it_answers_503_for_work_stuck_past_its_lease_and_counts_interrupted_imports(client):
    scan, _ = scan_start(started_by="test")
    long_ago = timezone.now() - timedelta(hours=2)
    ScanChunk.objects.create(
        scan=scan, phase="search", number=9, payload=[0, 0], status="running", lease_until=long_ago
    )
    ImportRun.objects.create(kind="archive", location="m.csv", root=".", status=ImportRun.Status.INTERRUPTED)

    answer = client.get("/health/")

    assert answer.status_code == 503
    work = answer.json()["checks"]["work"]
    assert (work["ok"], work["chunks_stuck"], work["imports_interrupted"]) == (False, 1, 1)


def test_it_refuses_post(client):
    assert client.post("/health/").status_code == 405


def test_metrics_give_requests_queue_chunks_and_decisions_to_the_loopback_only(client):
    client.get("/health/")

    answer = client.get("/metrics")

    assert answer.status_code == 200
    text = answer.content.decode()
    for name in ("django_http_requests_total_by_view_transport_method_total", "dedupe_queue_depth",
                 'dedupe_chunks_waiting{kind="scan"}', 'dedupe_chunks_overdue{kind="import"}',
                 "dedupe_decisions_last_minute", "dedupe_decisions_total"):  # fmt: skip
        assert name in text, name
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
