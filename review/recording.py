"""Audit events for what changes outside the services: sign-ins (failures are counted by
django-axes, and only a lockout is an event: review.throttling), sources, assignments,
keeper rules, legal holds, and every refused request.

These changes are made by Django's auth and admin, so they are recorded from signals (and one
middleware) rather than from a service function. Each receiver writes inside `transaction.atomic`:
a savepoint in the change's own transaction when there is one (the admin saves in one), so the
change and its event commit together.
"""

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponse

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.models import Source
from dedupe.roles import role_of

from .models import KeeperPolicy, LegalHold, SourceAssignment

SOURCE_FIELDS = ("slug", "name", "sensitivity", "near_radius", "verify_radius")
# Statuses that mean "you may not see or do this": the access helpers answer 404 so as not to
# tell an unassigned caseworker that the thing exists; CSRF and role checks answer 403.
REFUSED = (403, 404, 405)


# The signed-in person whose request is running, so that changes made through the admin (seen
# here only as model signals) are recorded as theirs; None for commands and tasks.
_person: ContextVar[Any] = ContextVar("audit_person", default=None)


def _write(*, action: Action, subjects: Iterable[tuple[Subject, Any]] = (), **kwargs: Any) -> None:
    """`dedupe.audit.audit_record` in its own savepoint, as the signed-in person when the change
    came through the admin."""
    if kwargs.get("actor") is None and kwargs.get("actor_name", "").startswith("system:"):
        person = _person.get()
        if person is not None:
            kwargs["actor"] = person
    with transaction.atomic():
        audit_record(action=action, subjects=subjects, **kwargs)


def signed_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    _write(action=Action.AUTH_LOGIN, actor=user, subjects=[(Subject.USER, user.pk)])


def signed_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _write(action=Action.AUTH_LOGOUT, actor=user, subjects=[(Subject.USER, user.pk)])


def source_before(sender: Any, instance: Source, **kwargs: Any) -> None:
    old = Source.objects.filter(pk=instance.pk).values(*SOURCE_FIELDS).first() if instance.pk else None
    vars(instance)["_audit_before"] = old  # read back by source_saved


def source_saved(sender: Any, instance: Source, created: bool, **kwargs: Any) -> None:
    """Sources and their thresholds (radii) and sensitivity."""
    before = getattr(instance, "_audit_before", None)
    after = {name: getattr(instance, name) for name in SOURCE_FIELDS}
    if before == after:
        return
    _write(
        action=Action.SOURCE_CREATE if created else Action.SOURCE_CHANGE,
        actor_name="system:admin",
        subjects=[(Subject.SOURCE, instance.slug)],
        before=before,
        after=after,
    )


def assignment_saved(sender: Any, instance: SourceAssignment, created: bool, **kwargs: Any) -> None:
    if created:
        _write(
            action=Action.USER_ASSIGN_SOURCE,
            actor_name="system:roles",
            subjects=[(Subject.USER, instance.user_id), (Subject.SOURCE, instance.source.slug)],
            after={"user": instance.user.get_username(), "source": instance.source.slug},
        )


def assignment_deleted(sender: Any, instance: SourceAssignment, **kwargs: Any) -> None:
    _write(
        action=Action.USER_UNASSIGN_SOURCE,
        actor_name="system:roles",
        subjects=[(Subject.USER, instance.user_id), (Subject.SOURCE, instance.source.slug)],
        before={"user": instance.user.get_username(), "source": instance.source.slug},
    )


def keeper_saved(sender: Any, instance: KeeperPolicy, created: bool, **kwargs: Any) -> None:
    _write(
        action=Action.SOURCE_KEEPER_RULES,
        actor_name="system:admin",
        subjects=[(Subject.SOURCE, instance.source.slug)],
        after={"rules": instance.rules},
    )


def hold_saved(sender: Any, instance: LegalHold, created: bool, **kwargs: Any) -> None:
    target: list[tuple[Subject, Any]] = [(Subject.ASSET, instance.asset_id)] if instance.asset_id else []
    target += [(Subject.RECORD, instance.record_id)] if instance.record_id else []
    target += [(Subject.SOURCE, instance.source.slug)] if instance.source is not None else []
    _write(
        action=Action.HOLD_PLACE if created else (Action.HOLD_LIFT if instance.lifted_at else Action.HOLD_CHANGE),
        actor=instance.placed_by,
        subjects=[(Subject.HOLD, instance.pk), *target],
        after={"reason": instance.reason, "lifted_at": instance.lifted_at.isoformat() if instance.lifted_at else None},
        reason=instance.reason,
    )


def connect() -> None:
    user_logged_in.connect(signed_in, dispatch_uid="audit-login")
    user_logged_out.connect(signed_out, dispatch_uid="audit-logout")
    pre_save.connect(source_before, sender=Source, dispatch_uid="audit-source-before")
    post_save.connect(source_saved, sender=Source, dispatch_uid="audit-source")
    post_save.connect(assignment_saved, sender=SourceAssignment, dispatch_uid="audit-assign")
    post_delete.connect(assignment_deleted, sender=SourceAssignment, dispatch_uid="audit-unassign")
    post_save.connect(keeper_saved, sender=KeeperPolicy, dispatch_uid="audit-keeper")
    post_save.connect(hold_saved, sender=LegalHold, dispatch_uid="audit-hold")


class PersonAuditMiddleware:
    """Tells the receivers above who is changing things, and records every refused request of a
    signed-in person: who asked for what. After AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        token = _person.set(user if user is not None and user.is_authenticated else None)
        try:
            response = self.get_response(request)
        finally:
            _person.reset(token)
        if response.status_code in REFUSED and user is not None and user.is_authenticated:
            _write(
                action=Action.REQUEST_REFUSED,
                actor=user,
                after={"method": request.method, "path": request.path[:500], "status": response.status_code},
                reason=f"{role_of(user) or 'no role'} refused {request.method} {request.path[:200]}",
            )
        return response
