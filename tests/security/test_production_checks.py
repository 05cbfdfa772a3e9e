"""Production refuses to start with a guessable SECRET_KEY or ALLOWED_HOSTS=*, and the demo's
login maker refuses to run on a database that is not a demo's."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from dedupe.checks import secret_key_weakness
from tests.conftest import ROOT

GOOD_KEY = "Zq8vN3pL1x-" + "aB9cD8eF7gH6iJ5kL4mN3oP2qR1sT0uVwXyZ" + "_k7"
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "desk.example.org"}


def run(tmp_path, code: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")}
    clean |= {"DEDUPE_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, *code], cwd=ROOT, env=clean | PRODUCTION | env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "key",
    [
        "django-insecure-" + "x1y2z3" * 10,  # startproject's prefix, however long
        "insecure-development-key-only-used-with-debug",  # the DEBUG fallback in config/settings.py
        "changeme",
        "short-but-random-7f3a9",
        "a" * 64,  # long, but one character
    ],
)
def test_weak_keys_are_named_as_weak(key):
    assert secret_key_weakness(key) is not None


def test_a_long_random_key_is_not_weak():
    assert secret_key_weakness(GOOD_KEY) is None


def test_check_deploy_fails_on_a_django_insecure_key(tmp_path):
    done = run(tmp_path, ["manage.py", "check", "--deploy"], SECRET_KEY="django-insecure-" + "x1y2z3" * 10)

    assert done.returncode != 0
    assert "dedupe.E001" in done.stderr and "django-insecure-" in done.stderr


def test_check_deploy_fails_on_allowed_hosts_star(tmp_path):
    done = run(tmp_path, ["manage.py", "check", "--deploy"], ALLOWED_HOSTS="desk.example.org,*")

    assert done.returncode != 0
    assert "dedupe.E002" in done.stderr


def test_the_production_server_refuses_to_start_with_a_short_key(tmp_path):
    done = run(tmp_path, ["-c", "import config.wsgi"], SECRET_KEY="short-but-random-7f3a9")

    assert done.returncode != 0
    assert "Refusing to start" in done.stderr and "dedupe.E001" in done.stderr


def test_the_production_server_starts_with_a_strong_key_and_named_hosts(tmp_path):
    done = run(tmp_path, ["-c", "import config.wsgi; print('serving')"])

    assert done.returncode == 0, done.stderr
    assert "serving" in done.stdout


def test_the_loaded_site_is_left_out_of_full_garbage_collections(tmp_path):
    """config/wsgi.py freezes what it loaded: a full collection no longer walks it mid-request."""
    done = run(tmp_path, ["-c", "import gc, config.wsgi; print(gc.get_freeze_count())"])

    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 50_000  # Django, the apps and their modules


def test_development_keeps_its_fallback_key(tmp_path):
    done = run(tmp_path, ["manage.py", "check", "--deploy"], DEBUG="1", SECRET_KEY="", ALLOWED_HOSTS="*")

    assert "dedupe.E00" not in done.stdout + done.stderr


def test_the_checks_are_errors_in_process(settings):
    settings.SECRET_KEY = "django-insecure-" + "x1y2z3" * 10

    with pytest.raises(SystemCheckError, match="dedupe.E001"):
        call_command("check", "--deploy", stdout=io.StringIO(), stderr=io.StringIO())


def test_create_demo_users_refuses_without_debug_or_the_flag(db):
    from django.contrib.auth import get_user_model

    with pytest.raises(CommandError, match="--i-mean-demo"):
        call_command("create_demo_users", stdout=io.StringIO())

    assert not get_user_model().objects.exists()


def test_create_demo_users_runs_with_the_flag_or_under_debug(db, settings):
    from django.contrib.auth import get_user_model

    call_command("create_demo_users", "--i-mean-demo", stdout=io.StringIO())
    assert get_user_model().objects.filter(username="admin", is_superuser=True).exists()

    settings.DEBUG = True
    call_command("create_demo_users", stdout=io.StringIO())
    assert get_user_model().objects.count() == 4
