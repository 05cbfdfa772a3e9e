"""Handing chunks of work to Celery workers, or doing them here when no worker is there.

Commands that people run by hand (import, scan --sync) must finish with or without workers: a
worker answering a ping takes the chunks; otherwise this process works through them itself.
"""

from celery import current_app


def workers_available(timeout: float = 1.5) -> bool:
    """True when at least one Celery worker answers a ping on the configured broker.

    Asks the current Celery app (the project's, which `config` sets as current when Django
    starts) rather than importing it: `dedupe` knows nothing of the project that wires it.
    """
    if current_app.conf.task_always_eager:
        return False
    try:
        return bool(current_app.control.ping(timeout=timeout, limit=1))  # one answer is enough: stop waiting
    except Exception:  # noqa: BLE001 - an unreachable broker means no worker, not a crash
        return False
