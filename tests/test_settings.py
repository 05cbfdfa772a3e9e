"""Settings come from the environment, with a working embedded default and loud production errors."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

SHOW = (
    "import json, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup();"
    "from django.conf import settings as s; from django.core.files.storage import storages;"
    "print(json.dumps({'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'],"
    " 'db': str(s.DATABASES['default']['NAME']), 'broker': s.CELERY_BROKER_URL, 'media': str(s.MEDIA_ROOT),"
    " 'storage': type(storages['default']).__name__,"
    " 'hosts': s.ALLOWED_HOSTS}))"
)
VARIABLES = (
    "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DEDUPE_VAR_DIR",
    "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE",
)  # fmt: skip


def settings_with(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    clean["DEDUPE_VAR_DIR"] = str(tmp_path / "var")
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )


def test_with_nothing_set_production_refuses_to_start_without_a_secret_key(tmp_path):
    done = settings_with(tmp_path)

    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_production_requires_allowed_hosts(tmp_path):
    done = settings_with(tmp_path, SECRET_KEY="x" * 50)

    assert done.returncode != 0
    assert "ALLOWED_HOSTS is not set" in done.stderr


def test_the_embedded_default_is_sqlite_and_a_filesystem_broker_under_var(tmp_path):
    done = settings_with(tmp_path, DEBUG="1")

    shown = json.loads(done.stdout)
    assert shown["debug"] is True
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["db"] == str(tmp_path / "var" / "db.sqlite3")
    assert shown["broker"].startswith("filesystem://")
    assert shown["media"] == str(tmp_path / "var" / "media")
    assert shown["storage"] == "FileSystemStorage"


def test_variables_select_postgresql_redis_and_another_media_root(tmp_path):
    done = settings_with(
        tmp_path,
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="desk.example.org",
        DATABASE_URL="postgres://desk@db.internal:5432/desk",
        CELERY_BROKER_URL="redis://cache.internal:6379/2",
        MEDIA_ROOT=str(tmp_path / "elsewhere"),
    )

    shown = json.loads(done.stdout)
    assert shown["debug"] is False
    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["db"] == "desk"
    assert shown["broker"] == "redis://cache.internal:6379/2"
    assert shown["media"] == str(tmp_path / "elsewhere")
    assert shown["hosts"] == ["desk.example.org"]


def test_a_malformed_boolean_is_named_in_the_error(tmp_path):
    done = settings_with(tmp_path, DEBUG="maybe")

    assert done.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in done.stderr


def test_check_deploy_is_clean_with_the_production_variables(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES} | {
        "SECRET_KEY": "a-long-random-production-secret-" + "k" * 40,
        "ALLOWED_HOSTS": "desk.example.org",
        "DEDUPE_VAR_DIR": str(tmp_path / "var"),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_a_short_audit_checkpoint_key_stops_start_up(tmp_path):
    done = settings_with(
        tmp_path, SECRET_KEY="x" * 50, ALLOWED_HOSTS="desk.example.org", DEDUPE_AUDIT_CHECKPOINT_KEY="short"
    )

    assert done.returncode != 0
    assert "DEDUPE_AUDIT_CHECKPOINT_KEY is too short" in done.stderr
