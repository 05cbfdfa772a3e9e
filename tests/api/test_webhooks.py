"""Webhooks: pages of the changes feed pushed to a source system, signed, retried, logged, replayable."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from dedupe.models import AuditEvent
from review.models import ApiToken, WebhookDelivery, WebhookEndpoint
from review.services.webhooks import webhook_create, webhooks_dispatch
from review.tasks import webhook_deliver_task
from tests.factories import jpeg_bytes, photo


class Receiver:
    """A source system's endpoint on the loopback: answers each POST with the next status given."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.received = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0])
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/desk"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def eager_retries_without_raising(monkeypatch):
    """Eager runs report a failure as their result, as a worker would, rather than raise it here."""
    monkeypatch.setitem(webhook_deliver_task.app.conf, "task_eager_propagates", False)


@pytest.fixture
def receiver_factory():
    made = []

    def make(*statuses: int) -> Receiver:
        made.append(Receiver(list(statuses)))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _endpoint(url: str, permits) -> tuple[WebhookEndpoint, str]:
    return webhook_create(token=ApiToken.objects.get(), source=permits, url=url, actor=None)


def test_a_change_is_delivered_signed_and_logged(
    permit_tablets, permits, receiver_factory, django_capture_on_commit_callbacks
):
    receiver = receiver_factory(204)
    endpoint, secret = _endpoint(receiver.url, permits)
    permit_tablets.upload("building-permits", jpeg_bytes(photo(70)), record_id="P-1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert webhooks_dispatch() == 1
    assert len(callbacks) == 1  # sent only once the page and the cursor are committed
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver_task.apply(args=[delivery.pk]).get() is True
    [(headers, body)] = receiver.received
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Dedupe-Signature"], expected)
    page = json.loads(body)
    assert [(c["kind"], c["record_id"]) for c in page["changes"]] == [("upload", "P-1")]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 204)
    assert webhooks_dispatch() == 0  # nothing new
    assert WebhookEndpoint.objects.get().cursor == page["next"]


def test_an_endpoint_follows_only_what_happens_after_it_is_made(permit_tablets, permits, receiver_factory):
    permit_tablets.upload("building-permits", jpeg_bytes(photo(71)), record_id="P-1")
    _endpoint(receiver_factory(200).url, permits)
    assert webhooks_dispatch() == 0
    assert AuditEvent.objects.filter(action="webhook.create").count() == 1


def test_a_failing_receiver_is_retried_until_it_takes_the_delivery(permit_tablets, permits, receiver_factory):
    receiver = receiver_factory(500, 503, 200)
    _endpoint(receiver.url, permits)
    permit_tablets.upload("building-permits", jpeg_bytes(photo(72)), record_id="P-1")
    webhooks_dispatch()
    delivery = WebhookDelivery.objects.get()
    # Run eagerly, Celery's retries follow at once (a worker waits out the back-off between them).
    assert webhook_deliver_task.apply(args=[delivery.pk]).state == "SUCCESS"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert len({body for _, body in receiver.received}) == 1  # the same signed page each time
    assert webhook_deliver_task.retry_backoff and webhook_deliver_task.retry_backoff_max == 3600


def test_a_receiver_that_never_answers_well_is_given_up_and_replayed_by_an_administrator(
    permit_tablets, permits, receiver_factory, admin_client, monkeypatch
):
    receiver = receiver_factory(500)
    _endpoint(receiver.url, permits)
    permit_tablets.upload("building-permits", jpeg_bytes(photo(73)), record_id="P-1")
    webhooks_dispatch()
    delivery = WebhookDelivery.objects.get()
    monkeypatch.setattr(webhook_deliver_task, "max_retries", 3)
    assert webhook_deliver_task.apply(args=[delivery.pk]).state == "FAILURE"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 4, "HTTP 500")
    log = admin_client.get("/admin/review/webhookdelivery/").content.decode()
    assert "HTTP 500" in log and "Given up after retries" in log

    receiver.statuses = [200]
    sent = []
    monkeypatch.setattr("review.services.webhooks._enqueue", sent.append)
    with_callbacks = admin_client.post(
        "/admin/review/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]}
    )
    assert with_callbacks.status_code == 302
    assert WebhookDelivery.objects.get().status == "pending"
    assert AuditEvent.objects.filter(action="webhook.replay", actor_name="admin").count() == 1
