"""A real browser: Playwright driving Debian's Chromium against the live test server."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, database_url, service_missing
from tests.factories import totp_code, totp_device

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
# Chromium's own network chatter (updates, sync, safe browsing) is refused on this network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="session")
def browser_media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-media")


@pytest.fixture(autouse=True)
def media_root(settings, browser_media: Path) -> Path:
    """One media folder for the whole session: the site's process reads what the tests write."""
    settings.MEDIA_ROOT = browser_media
    return browser_media


@pytest.fixture(scope="session")
def site(django_db_setup, django_db_blocker, collected_static, browser_media, tmp_path_factory):
    """The site as production runs it, gunicorn and whitenoise, over plain http on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plain_http = {"SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"}
    with django_db_blocker.unblock():
        env = os.environ | plain_http | {"DATABASE_URL": database_url(), "MEDIA_ROOT": str(browser_media)}
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_until_serving(url, server, log)
    yield type("Site", (), {"url": url})()
    server.terminate()
    server.wait(20)


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=2)  # noqa: S310 - our own loopback server
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        service_missing(f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests (and the
    # database flush after each) make beside it are plain synchronous calls, so Django's guard
    # against async contexts is lifted while the browser is open.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


def screenshot(page, name: str) -> Path:
    """Kept under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


SECOND_STEP = re.compile(r".*/login/second-step/.*")


def authenticator_for(username: str):
    """An enrolled authenticator for a login whose role signs in with a second step, else None."""
    from django.contrib.auth import get_user_model

    from review.two_factor import requires_second_factor

    user = get_user_model().objects.get(username=username)
    return totp_device(user) if requires_second_factor(user) else None


def second_step(page, device) -> None:
    """After the password: the authenticator's code, typed into the focused field, as a person does.

    A code typed as its 30-second step ends can arrive a step late on a loaded machine; a person
    then types the next one, and so does this (once, after the step has turned).
    """
    page.wait_for_url(SECOND_STEP)
    page.keyboard.type(totp_code(device))
    page.keyboard.press("Enter")
    try:
        page.wait_for_url(lambda url: "/login/second-step/" not in url, timeout=10_000)
    except Exception:  # noqa: BLE001 - still asked for the code: the next step's code, once
        page.wait_for_timeout(1000 * (31 - time.time() % 30))
        page.fill("#id_token", totp_code(device))
        page.keyboard.press("Enter")
