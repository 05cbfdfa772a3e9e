"""The one way an audit event is written, and where it learns which request or task it came from.

`audit_record` refuses to run outside a transaction: a state change and its event commit
together or not at all (promise 3). Views and tasks never pass request ids around; the
middleware and the Celery signal put them in a context variable that the writer reads.
"""

import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db import connection
from django.http import HttpRequest, HttpResponse

from .models import AuditEvent, AuditSubject

ROLE_NAMES = ("administrator", "archivist", "caseworker", "auditor")


@dataclass(frozen=True)
class Origin:
    """Where a change came from: a web request or a task run."""

    request_id: str = ""
    ip: str | None = None
    task_id: str = ""


_origin: ContextVar[Origin | None] = ContextVar("audit_origin", default=None)


class AuditError(RuntimeError):
    pass


def role_of(user: Any) -> str:
    """The user's role today, snapshotted into each event (roles change; history must not)."""
    if user is None:
        return "system"
    if user.is_superuser:
        return "administrator"
    names = set(user.groups.values_list("name", flat=True))
    return next((role for role in ROLE_NAMES if role in names), "")


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_name: str = "",
    subjects: Iterable[tuple[str, Any]] = (),
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event about `subjects` (pairs like ("asset", 12)) for a change in progress."""
    if not connection.in_atomic_block:
        raise AuditError(
            f"audit event {action!r} written outside a transaction: wrap the change and the event together"
        )
    origin = _origin.get() or Origin()
    event = AuditEvent.objects.create(
        actor_id=getattr(actor, "pk", None),
        actor_name=actor.get_username() if actor is not None else (actor_name or "system"),
        actor_role=role_of(actor),
        action=action,
        before=before,
        after=after,
        reason=reason,
        request_id=origin.request_id,
        ip=origin.ip,
        task_id=origin.task_id,
    )
    AuditSubject.objects.bulk_create(
        AuditSubject(event=event, kind=kind, object_id=str(object_id)) for kind, object_id in dict.fromkeys(subjects)
    )
    return event


class RequestContextMiddleware:
    """Tags every request with an id (echoed as X-Request-ID) that its audit events carry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        token = _origin.set(Origin(request_id=request_id, ip=request.META.get("REMOTE_ADDR")))
        try:
            response = self.get_response(request)
        finally:
            _origin.reset(token)
        response["X-Request-ID"] = request_id
        return response


@task_prerun.connect(weak=False)
def _enter_task(task_id: str | None = None, **kwargs: Any) -> None:
    _origin.set(Origin(task_id=task_id or ""))


@task_postrun.connect(weak=False)
def _leave_task(**kwargs: Any) -> None:
    _origin.set(None)
