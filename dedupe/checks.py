"""Deployment checks of dedupe's own settings (`manage.py check --deploy`)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


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
