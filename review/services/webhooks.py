"""Webhooks: the changes feed pushed to source systems, signed, retried, logged and replayable.

Deliveries are cut from the same feed a system can poll (review.selectors.changes), so a webhook
never says something the feed does not, and no service has to remember to call a hook: beat runs
`webhooks_dispatch` every few seconds, which takes each endpoint's next page of changes and its
cursor forward in one transaction, and sends the page after commit. Each body is signed with the
endpoint's secret: `X-Dedupe-Signature: sha256=HEX`, HMAC-SHA256 of the exact body bytes. A
receiver may get a page twice (a retry after a lost answer) or pages out of order (one retried
while the next went through): each names its `first_cursor` and `next`, so it can tell.
"""

import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.models import Source

from ..models import ApiToken, WebhookDelivery, WebhookEndpoint
from ..selectors.changes import changes_after, changes_head

# Changes per delivery: a page of the feed, small enough for any receiver to accept in one POST.
PAGE = 100
SEND_TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Dedupe-Signature"


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (no answer, or not 2xx): Celery retries with back-off."""


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@transaction.atomic
def webhook_create(*, token: ApiToken, source: Source, url: str, actor: Any) -> tuple[WebhookEndpoint, str]:
    """A new endpoint, following the feed from now on; its secret, to show once."""
    endpoint = WebhookEndpoint.objects.create(
        token=token, source=source, url=url, secret=secrets.token_hex(32), cursor=changes_head(source.pk)
    )
    audit_record(
        action=Action.WEBHOOK_CREATE,
        actor=actor,
        subjects=[(Subject.WEBHOOK, endpoint.pk), (Subject.API_TOKEN, token.pk), (Subject.SOURCE, source.slug)],
        after={"url": url, "token": token.name, "source": source.slug, "from": endpoint.cursor},
    )
    return endpoint, endpoint.secret


def webhooks_dispatch() -> int:
    """One page of new changes per active endpoint into a delivery, sent after commit; deliveries made."""
    made = 0
    for endpoint_id in WebhookEndpoint.objects.filter(active=True, token__revoked_at=None).values_list("pk", flat=True):
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
            changes, cursor = changes_after(endpoint.source_id, endpoint.cursor, PAGE)
            if not changes:
                continue
            body = {"source": endpoint.source.slug, "first_cursor": endpoint.cursor, "next": cursor, "changes": changes}
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint, body=json.dumps(body, default=str, sort_keys=True), last_cursor=cursor
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(cursor=cursor)
            transaction.on_commit(partial(_enqueue, delivery.pk))
            made += 1
    return made


def _enqueue(delivery_id: int) -> None:
    from ..tasks import webhook_deliver_task

    webhook_deliver_task.delay(delivery_id)


def webhook_deliver(delivery_id: int) -> bool:
    """POST the delivery, signed; True once delivered (or already), DeliveryFailed to be retried."""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        return True
    body = delivery.body.encode()
    request = urllib.request.Request(  # noqa: S310 - an administrator's http(s) URL (URLField)
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.endpoint.secret, body),
            "X-Dedupe-Delivery": str(delivery.pk),
        },
    )
    code, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:  # noqa: S310
            code = response.status
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = str(exc)[:500]
    ok = code is not None and 200 <= code < 300
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=delivery.attempts + 1,
        last_status_code=code,
        last_error=error,
        status=WebhookDelivery.Status.DELIVERED if ok else delivery.status,
        delivered_at=timezone.now() if ok else None,
    )
    if not ok:
        raise DeliveryFailed(error or f"HTTP {code}")
    return True


def webhook_given_up(delivery_id: int) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.FAILED
    )


@transaction.atomic
def webhook_replay(delivery: WebhookDelivery, *, actor: Any) -> None:
    """Send a delivery again as it was (an administrator's action, after the receiver is fixed)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.PENDING)
    audit_record(
        action=Action.WEBHOOK_REPLAY,
        actor=actor,
        subjects=[(Subject.WEBHOOK, delivery.endpoint_id)],
        after={"delivery": delivery.pk, "was": delivery.status, "attempts": delivery.attempts},
    )
    transaction.on_commit(partial(_enqueue, delivery.pk))
