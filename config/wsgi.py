"""WSGI entry point for gunicorn: `gunicorn config.wsgi`."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from dedupe.checks import refuse_to_serve_if_weak  # noqa: E402 - needs the apps loaded above

refuse_to_serve_if_weak()

# Everything loaded so far lives as long as the process: leave it out of the collector's full passes.
# In bench/gate.py's process a full pass walked about 150,000 such objects and stopped an upload for
# 60-90 ms (the slowest twentieth of the gate's times at a million images); frozen, it takes 3 ms.
gc.freeze()
