"""The Celery app: settings come from Django's (the CELERY_ prefix), tasks from each app."""

import logging
import os
from pathlib import Path

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dedupe_desk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _make_broker_folders() -> None:
    """The filesystem transport expects its folders to exist before a message is sent."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


app.on_after_configure.connect(lambda sender, **kwargs: _make_broker_folders(), weak=False)


class WorkRecoveryStep(bootsteps.StartStopStep):
    """Every worker is its own beat for recovery: a timer queues `dedupe.tasks.scan_watch_task`.

    So work whose worker died or whose message was lost is sent again without a beat process:
    any worker that runs (or starts) recovers it (dedupe.recovery). The timer only publishes a
    message, never touches the database, so a database outage cannot stall the worker's event
    loop; the message expires after one interval, so a long queue never piles them up.
    """

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.trefs: list = []

    def start(self, worker: object) -> None:
        from django.conf import settings

        interval = float(settings.DEDUPE_RECOVERY_INTERVAL_SECONDS)
        timer = worker.timer  # type: ignore[attr-defined]
        self.trefs = [
            timer.call_after(1.0, _recovery_send, (interval,)),
            timer.call_repeatedly(interval, _recovery_send, (interval,)),
        ]

    def stop(self, worker: object) -> None:
        for tref in self.trefs:
            tref.cancel()
        self.trefs = []


def _recovery_send(interval: float) -> None:
    try:
        app.send_task("dedupe.tasks.scan_watch_task", expires=interval, retry=False)
    except Exception:  # noqa: BLE001 - a broker outage: the next tick tries again
        logging.getLogger(__name__).warning("recovery tick not sent: the broker is unreachable", exc_info=False)


app.steps["worker"].add(WorkRecoveryStep)
