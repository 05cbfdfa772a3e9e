"""API tokens: created, checked and revoked here, each change with its audit event.

Only the SHA-256 of a token is stored: a token is 256 random bits, so a plain digest cannot be
reversed by guessing, and a leaked database grants nothing. The token itself is returned once, by
`api_token_create`, and never again.
"""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.models import Source

from ..models import ApiRateWindow, ApiToken, ApiTokenSource

TOKEN_PREFIX = "ddk_"  # noqa: S105 - marks a string as ours (secret scanners match it), no secret
# last_used_at is written at most this often: a busy tablet would otherwise update its token row on
# every request, serialising them on one row lock.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenRefused(ValueError):
    """A token cannot be created as asked (unknown source, name taken)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def api_token_create(
    *,
    name: str,
    sources: Iterable[str],
    read_only: Iterable[str] = (),
    actor: Any = None,
    actor_name: str = "",
    requests_per_minute: int | None = None,
    max_upload_bytes: int | None = None,
) -> tuple[ApiToken, str]:
    """A new token for the source system `name`, writing `sources` and reading `read_only`; the token, shown once."""
    writes, reads = list(dict.fromkeys(sources)), [s for s in dict.fromkeys(read_only) if s not in sources]
    found = Source.objects.in_bulk([*writes, *reads], field_name="slug")
    if unknown := [slug for slug in [*writes, *reads] if slug not in found]:
        raise TokenRefused(f"unknown source(s): {', '.join(unknown)}")
    if not found:
        raise TokenRefused("a token needs at least one source")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    limits = {
        k: v for k, v in (("requests_per_minute", requests_per_minute), ("max_upload_bytes", max_upload_bytes)) if v
    }
    created_by = actor.get_username() if actor is not None else (actor_name or "system")
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name, prefix=secret[:12], digest=token_digest(secret), created_by=created_by, **limits
            )
    except IntegrityError:
        raise TokenRefused(
            f"a token named {name!r} exists already (revoked ones keep their name): choose another"
        ) from None
    ApiTokenSource.objects.bulk_create(
        [ApiTokenSource(token=token, source=found[slug], write=slug in writes) for slug in [*writes, *reads]]
    )
    audit_record(
        action=Action.API_TOKEN_CREATE,
        actor=actor,
        actor_name=actor_name,
        subjects=[(Subject.API_TOKEN, token.pk), *((Subject.SOURCE, slug) for slug in found)],
        after={"name": name, "prefix": token.prefix, "writes": writes, "reads": reads, **limits},
    )
    return token, secret


@transaction.atomic
def api_token_revoke(token: ApiToken, *, actor: Any = None, actor_name: str = "") -> bool:
    """Revoke `token` from now on; False when it was revoked already (nothing recorded twice)."""
    now = timezone.now()
    if not ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now):
        return False
    token.revoked_at = now
    audit_record(
        action=Action.API_TOKEN_REVOKE,
        actor=actor,
        actor_name=actor_name,
        subjects=[(Subject.API_TOKEN, token.pk)],
        after={"name": token.name, "prefix": token.prefix, "revoked_at": now.isoformat()},
    )
    return True


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The live token `secret` names, its last use noted; None for an unknown or revoked one."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.filter(digest=token_digest(secret), revoked_at=None).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_rate_take(token: ApiToken) -> int:
    """Count one request in the token's current minute: 0 when allowed, else the seconds to wait."""
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    updated = ApiRateWindow.objects.filter(token=token, minute=minute).update(count=F("count") + 1)
    if not updated:
        try:
            with transaction.atomic():
                ApiRateWindow.objects.create(token=token, minute=minute, count=1)
        except IntegrityError:  # another process opened the window first
            ApiRateWindow.objects.filter(token=token, minute=minute).update(count=F("count") + 1)
        ApiRateWindow.objects.filter(token=token, minute__lt=minute - timedelta(minutes=5)).delete()
    count = ApiRateWindow.objects.filter(token=token, minute=minute).values_list("count", flat=True).first() or 0
    if count <= token.requests_per_minute:
        return 0
    return max(1, 60 - now.second)


def token_sources(token: ApiToken, *, write: bool) -> set[str]:
    """Slugs of the sources `token` may read (or, with `write`, write)."""
    scopes = ApiTokenSource.objects.filter(token=token)
    if write:
        scopes = scopes.filter(write=True)
    return set(scopes.values_list("source__slug", flat=True))
