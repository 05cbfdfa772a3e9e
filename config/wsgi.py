"""WSGI entry point for gunicorn: `gunicorn config.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from dedupe.checks import refuse_to_serve_if_weak  # noqa: E402 - needs the apps loaded above

refuse_to_serve_if_weak()
