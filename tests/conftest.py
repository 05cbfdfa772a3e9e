"""Fixtures shared by every test: a private media folder, and real services for the tests that need them.

A service a test needs but cannot reach (Redis, Chromium, the S3 server) fails the test, in CI and
on a developer's machine alike: a skipped test proves nothing. A developer without Chromium leaves
the browser tests out by name (`-m "not browser"`), which the run's summary then says.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(what: str) -> NoReturn:
    pytest.fail(f"{what} is not reachable: start it (README, Tests), or leave these tests out by marker")


@pytest.fixture(scope="session", autouse=True)
def collected_static() -> None:
    """Pages are rendered as in production: whitenoise's manifest of collected static files."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture(autouse=True)
def second_factor_on_force_login(monkeypatch) -> None:
    """The suite runs as production does, second factor required; `client.force_login(user)` also
    passes it for the roles that need one, as if a code had been typed. Tests of the sign-in steps
    themselves post to /login/ and /login/second-step/ instead (tests/security/test_two_factor.py)."""
    from django.test import Client

    from tests.factories import pass_second_factor

    force_login = Client.force_login

    def force_login_and_second_factor(self, user, backend=None) -> None:
        force_login(self, user, backend)
        pass_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login_and_second_factor)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        service_missing(f"Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto in server mode) on the loopback, on a free port: the tests
    of sources kept in a bucket speak its HTTP API as they would a city's object store."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except (ImportError, OSError) as exc:
        service_missing(f"S3 server (moto in server mode): {exc}")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, settings) -> str:
    """A new, empty bucket on the test server, and the settings that read it."""
    settings.DEDUPE_S3 = {
        "endpoint_url": s3_endpoint,
        "access_key": "testing",
        "secret_key": "testing",
        "region_name": "us-east-1",
        "addressing_style": "path",
    }
    name = f"city-{uuid.uuid4().hex[:12]}"
    s3_client().create_bucket(Bucket=name)
    return name


def s3_client():  # noqa: ANN201 - boto3's client types are generated, not importable
    """A plain boto3 client on the test server: what the source system itself would use."""
    import boto3
    from django.conf import settings

    o = settings.DEDUPE_S3
    return boto3.client(
        "s3", endpoint_url=o["endpoint_url"], aws_access_key_id=o["access_key"],
        aws_secret_access_key=o["secret_key"], region_name=o["region_name"],
    )  # fmt: skip


def database_url() -> str:
    """The URL of the test database, for processes the tests start."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class ServiceEnv(dict):
    """Environment for child processes: the test database, media folder, broker and a private queue."""


@pytest.fixture
def child_env(media_root: Path, tmp_path: Path) -> ServiceEnv:
    env = ServiceEnv(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        MEDIA_ROOT=str(media_root),
        DEDUPE_VAR_DIR=str(tmp_path / "var"),
        CELERY_QUEUE=f"test-{uuid.uuid4().hex[:8]}",
        PYTHONUNBUFFERED="1",
    )
    return env


class Worker:
    """A real `celery worker` process; `kill()` takes it down like the OOM killer would."""

    def __init__(self, env: dict, log: Path, concurrency: int = 1) -> None:
        self.env, self.log, self.concurrency = env, log, concurrency
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        name = f"w{uuid.uuid4().hex[:6]}@%h"
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "-n", name,
               "-Q", self.env["CELERY_QUEUE"], "--concurrency", str(self.concurrency),
               "--without-gossip", "--without-mingle"]  # fmt: skip
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if b"ready." in self.log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """The test is over: the worker and its pool's children are killed at once (their own
        process group). A warm or cold shutdown waits out the broker's polling, about 5 s a worker."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # also the children of a worker kill() left behind
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture(params=["embedded", "redis"])
def broker_env(request, child_env: ServiceEnv, tmp_path: Path) -> ServiceEnv:
    """The same test over the filesystem broker (no server) and over Redis."""
    if request.param == "redis":
        child_env["CELERY_BROKER_URL"] = redis_url()
    else:
        child_env["CELERY_BROKER_URL"] = "filesystem://localhost/"
    return child_env


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator:
    workers: list[Worker] = []

    def start(env: dict, concurrency: int = 1) -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(workers)}.log", concurrency).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def manage(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python manage.py ARGS` as its own process, as a person or a script would."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def pytest_sessionstart(session) -> None:
    """Broker folders left by an earlier run would feed old messages to new workers."""
    shutil.rmtree(ROOT / "var" / "test" / "broker", ignore_errors=True)


# Fixtures through which a test reaches the database (pytest-django's, and ours build on them).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def reaches_database(item: pytest.Item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(DATABASE_FIXTURES & set(item.fixturenames))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """CI's second pass (DEDUPE_TESTS_BACKENDS_ONLY=1, PostgreSQL and Redis) runs only what another
    database or broker can change: tests that reach the database or start a worker, over Redis.
    Tests of pure computation (decoding, hashing, escaping, or marked `backend_blind`), the browser
    tests (pages and scripts; the queries behind them run in this pass's view tests) and the
    filesystem broker (the embedded default, with SQLite) ran in the first pass and would only
    repeat it. CI's first pass (DEDUPE_TESTS_EMBEDDED_ONLY=1) leaves Redis to the second: the worker
    tests run there over Redis and PostgreSQL, the scale-out pairing, instead of twice."""
    if os.environ.get("DEDUPE_TESTS_BACKENDS_ONLY") == "1":
        wanted = second_pass
    elif os.environ.get("DEDUPE_TESTS_EMBEDDED_ONLY") == "1":
        wanted = first_pass
    else:
        return
    keep = [i for i in items if wanted(i)]
    if dropped := [i for i in items if i not in keep]:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def first_pass(item: pytest.Item) -> bool:
    params = getattr(item, "callspec", None)
    return not (params and params.params.get("broker_env") == "redis") and "own_redis" not in item.fixturenames


def second_pass(item: pytest.Item) -> bool:
    params = getattr(item, "callspec", None)
    if item.get_closest_marker("browser") or (params and params.params.get("broker_env") == "embedded"):
        return False
    if item.get_closest_marker("backend_blind"):
        return False
    return reaches_database(item) or item.get_closest_marker("worker") is not None
