"""Start-up checks for the production profile: a guessable SECRET_KEY or a site answering to any
host name is an Error, so `check --deploy` fails and the production server refuses to start
(config/wsgi.py runs these before serving). Django's own --deploy check only warns about either.
A missing audit checkpoint key is a warning: web machines need none."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

# Values anyone can read: Django's startproject prefix, the placeholders in .env.example and the
# README, and the development key config/settings.py falls back to under DEBUG.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "",
        "...",
        "changeme",
        "change-me",
        "secret",
        "insecure-development-key-only-used-with-debug",
    }
)
WEAK_PREFIXES = ("django-insecure-",)
# Django's own bar (security.W009): at least 50 characters, at least 5 distinct ones.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_DISTINCT = 5
TAG = "dedupe_production"


def secret_key_weakness(key: str) -> str | None:
    """Why the key is guessable, or None when it is not."""
    if key.strip().lower() in KNOWN_PLACEHOLDERS:
        return "it is a published placeholder"
    if key.startswith(WEAK_PREFIXES):
        return "it starts with 'django-insecure-', the prefix of keys made by startproject"
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_DISTINCT:
        return (
            f"it is shorter than {MIN_SECRET_KEY_LENGTH} characters or has fewer than "
            f"{MIN_SECRET_KEY_DISTINCT} distinct ones"
        )
    return None


@register(TAG, deploy=True)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.DEBUG:
        return []
    why = secret_key_weakness(settings.SECRET_KEY or "")
    if why is None:
        return []
    return [
        Error(
            f"SECRET_KEY is weak: {why}.",
            hint="Set SECRET_KEY to a long random string, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
            id="dedupe.E001",
        )
    ]


@register(TAG, deploy=True)
def check_allowed_hosts(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.DEBUG or "*" not in (host.strip() for host in settings.ALLOWED_HOSTS):
        return []
    return [
        Error(
            "ALLOWED_HOSTS contains '*': the site would answer to any Host header "
            "(password-reset links and absolute URLs could point anywhere).",
            hint="List the host names this site answers to, comma-separated.",
            id="dedupe.E002",
        )
    ]


def refuse_to_serve_if_weak() -> None:
    """Raise at server start-up when a check above fails: gunicorn then exits instead of serving."""
    from django.core.checks import run_checks
    from django.core.exceptions import ImproperlyConfigured

    errors = [e for e in run_checks(tags=[TAG], include_deployment_checks=True) if e.is_serious()]
    if errors:
        raise ImproperlyConfigured("Refusing to start:\n" + "\n".join(f"{e.id}: {e.msg} {e.hint}" for e in errors))


@register(Tags.security, deploy=True)
def checkpoint_key_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Start-up does not refuse (web machines need no key); the operator is told before it matters."""
    if settings.DEDUPE_AUDIT_CHECKPOINT_KEY:
        return []
    return [
        Warning(
            "DEDUPE_AUDIT_CHECKPOINT_KEY is not set: audit_checkpoint (and its daily task) and "
            "verify_audit --against will refuse to run.",
            hint="Set it to 32+ random characters, kept outside the database, where checkpoints are taken and checked.",
            id="dedupe.W001",
        )
    ]
