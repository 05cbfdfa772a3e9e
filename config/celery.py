"""The Celery app: settings come from Django's (the CELERY_ prefix), tasks from each app."""

import os
from pathlib import Path

from celery import Celery

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
