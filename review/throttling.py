"""Sign-in throttling around django-axes: how long a lockout lasts, and its one audit event.

Axes counts failed sign-ins per address and per account (its AccessAttempt rows, pruned after the
cool-off); this module decides the cool-off and records each lockout, once, in the audit log.
Failures themselves are not audit events: anyone can cause them, and an event per failure would
let unauthenticated traffic grow the append-only log without bound.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.models import AuditEvent

# Lockouts this recent make the next one longer.
BACK_OFF_MEMORY = timedelta(days=1)


def _tried_username(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.POST.get("username", ""))[:150]


def recent_lockouts(ip: str | None, username: str) -> int:
    """Lockouts of this address or this account in the past day, from the audit log."""
    since = timezone.now() - BACK_OFF_MEMORY
    who = Q(ip=ip) if ip else Q()
    if username:
        who |= Q(subjects__kind=Subject.LOGIN, subjects__object_id=username)
    if not who:
        return 0
    return AuditEvent.objects.filter(who, action=Action.AUTH_LOCKOUT, at__gte=since).distinct().count()


def lockout_length(earlier: int) -> timedelta:
    """DEDUPE_LOCKOUT_MINUTES, doubled for each earlier lockout, at most DEDUPE_LOCKOUT_MAX_HOURS."""
    first = timedelta(minutes=settings.DEDUPE_LOCKOUT_MINUTES)
    return min(first * 2 ** min(earlier, 16), timedelta(hours=settings.DEDUPE_LOCKOUT_MAX_HOURS))


def cool_off(request: HttpRequest | None = None) -> timedelta:
    """AXES_COOLOFF_TIME: the current lockout of this address or account lasts by how many came
    before it in the past day. A guesser who waits out each lockout gets five tries per 15 minutes,
    then per 30, per hour, ... per day."""
    ip = getattr(request, "axes_ip_address", None) if request is not None else None
    return lockout_length(max(recent_lockouts(ip, _tried_username(request)) - 1, 0))


def locked_out(sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    """One audit event when a lockout begins.

    Axes sends this signal on the failure that reaches the limit and again on every attempt
    refused during the lockout; only the first has counted a failure (`axes_failures_since_start`
    is set), so a lockout is one event however long the guessing goes on. Per address that is at
    most one event per cool-off, and the cool-off doubles.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    name = str(username or "")[:150]
    lasts = lockout_length(recent_lockouts(ip_address, name))
    with transaction.atomic():
        audit_record(
            action=Action.AUTH_LOCKOUT,
            actor_name=f"anonymous ({name})",
            subjects=[(Subject.LOGIN, name)] if name else [],
            after={"username": name, "ip": ip_address, "failures": failures, "minutes": lasts // timedelta(minutes=1)},
            reason=f"{failures} failed sign-ins: locked for {lasts}",
        )


def connect() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(locked_out, dispatch_uid="audit-lockout")
