"""Where a change came from: the web request or Celery task running now, for its audit events.

Views and tasks never pass request ids around: the middleware and the Celery signals below put
them in a context variable, and `dedupe.audit.audit_record` reads it when it writes an event.
"""

import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class Origin:
    """Where a change came from: a web request or a task run."""

    request_id: str = ""
    ip: str | None = None
    task_id: str = ""


_origin: ContextVar[Origin | None] = ContextVar("audit_origin", default=None)


def origin_current() -> Origin:
    """The request or task running now; an empty origin for commands and the shell."""
    return _origin.get() or Origin()


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
