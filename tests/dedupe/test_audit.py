"""The audit writer: inside the change's transaction or not at all, append-only, with its origin."""

import pytest
from django.db import transaction
from django.http import HttpResponse

from dedupe.audit import AuditError, audit_record
from dedupe.models import AuditEvent, Source
from dedupe.origin import RequestContextMiddleware

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_to_write_outside_a_transaction():
    with pytest.raises(AuditError, match="outside a transaction"):
        audit_record(action="source.create", subjects=[("source", 1)])
    assert not AuditEvent.objects.exists()


def test_a_failure_after_the_event_rolls_back_the_change_and_the_event():
    with pytest.raises(RuntimeError), transaction.atomic():
        source = Source.objects.create(slug="permits", name="Permits")
        audit_record(action="source.create", subjects=[("source", source.pk)], after={"slug": "permits"})
        raise RuntimeError("injected failure between the change and the commit")

    assert not Source.objects.exists()
    assert not AuditEvent.objects.exists()


def test_events_cannot_be_changed_or_deleted_through_the_model():
    with transaction.atomic():
        event = audit_record(action="source.create", subjects=[("source", 1), ("source", 1)])

    event.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get().reason == ""
    assert event.subjects.count() == 1


def test_a_request_tags_its_events_with_its_id_and_address(rf):
    """Events written while serving a request carry the id the response announces, and the client's IP."""

    def view(request):
        with transaction.atomic():
            audit_record(action="source.create", subjects=[("source", 1)])
        return HttpResponse("ok")

    response = RequestContextMiddleware(view)(rf.get("/", REMOTE_ADDR="10.1.2.3"))

    event = AuditEvent.objects.get()
    assert event.request_id == response["X-Request-ID"] != ""
    assert event.ip == "10.1.2.3"
    assert event.actor_name == "system" and event.actor_role == "system"
