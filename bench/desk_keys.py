"""A reviewer's keys, timed in a real browser: from pressing `d` to the next pair shown, p50 and p95.

    .venv/bin/python bench/desk_keys.py [--baseline-ref 5606b5d] [--decisions 20] [--rounds 3]

The desk as it is now and the desk at `--baseline-ref` (checked out into a temporary git worktree)
each get a fresh SQLite database with the same pairs, served by gunicorn with 2 workers on the
loopback, and Chromium (/usr/bin/chromium) decides `--decisions` pairs by keyboard on each, the
two taking turns for `--rounds` rounds so that the machine's load falls on both alike. A decision
is timed from the key press to the next pair on the desk with both its images loaded. The ratio
(now / baseline) is what the README reports: the desk's new tools must not slow the keyboard.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FILL = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)
from dedupe.models import Candidate
from tests.factories import archive_rows, store_bytes, user_with_role
_, made = archive_rows("bench", records={records})
assets = [a for _, a in made]
store_bytes(*assets)
for i in range(len(assets) // 2):
    Candidate.objects.create(asset_a=assets[2 * i], asset_b=assets[2 * i + 1], kind="near", score=0.99 - i / 10000)
user_with_role("bench", "archivist")
"""


class Desk:
    """One variant of the code, its own database and media, served by gunicorn."""

    def __init__(self, name: str, code: Path, pairs: int) -> None:
        self.name, self.code = name, code
        self.var = Path(tempfile.mkdtemp(prefix=f"desk-keys-{name}-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": "bench-only-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0", "DEDUPE_VAR_DIR": str(self.var), "STATIC_ROOT": str(self.var / "static"),
            "MEDIA_ROOT": str(self.var / "media"), "DEDUPE_REQUIRE_2FA": "0", "PYTHONPATH": str(code),
        }  # fmt: skip
        self.env.pop("DATABASE_URL", None)  # always the embedded database: the same for both
        subprocess.run([sys.executable, "-c", FILL.format(records=2 * pairs)], cwd=code, env=self.env, check=True)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"],
            cwd=code, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{self.url}/login/", timeout=2)  # noqa: S310 - our own loopback server
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{name}: gunicorn did not answer")

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(20)


def sign_in(page, desk: Desk) -> None:
    page.goto(f"{desk.url}/login/")
    page.fill("#id_username", "bench")
    page.fill("#id_password", "pw-for-tests-only")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{desk.url}/")
    page.goto(f"{desk.url}/queue/")
    page.locator("a[href^='/candidates/']").first.click()
    page.wait_for_function("() => document.body.dataset.ready")


SHOWN = """(before) => document.body.dataset.ready && document.body.dataset.ready !== before
    && [...document.querySelectorAll('#desk .pane img')].every(i => i.complete && i.naturalWidth > 0)"""


def decide(page, count: int) -> list[float]:
    """`count` decisions by the d key: seconds from each key press to the next pair in view."""
    times = []
    for _ in range(count):
        before = page.evaluate("document.body.dataset.ready")
        start = time.perf_counter()
        page.keyboard.press("d")
        page.wait_for_function(SHOWN, arg=before, timeout=20_000)
        times.append(time.perf_counter() - start)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default="5606b5d", help="the desk to compare with (a git revision)")
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    worktree = Path(tempfile.mkdtemp(prefix="desk-keys-baseline-")) / "code"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline_ref], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    pairs = args.decisions * args.rounds + 5
    desks = [Desk("baseline", worktree, pairs), Desk("now", ROOT, pairs)]
    times: dict[str, list[float]] = {d.name: [] for d in desks}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            pages = {}
            for desk in desks:
                pages[desk.name] = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                sign_in(pages[desk.name], desk)
            for _ in range(args.rounds):
                for desk in desks:
                    times[desk.name] += decide(pages[desk.name], args.decisions)
            browser.close()
    finally:
        for desk in desks:
            desk.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    base, now = times["baseline"], times["now"]
    print(f"{len(now)} decisions by keyboard on each desk, key press to the next pair shown (ms)")
    print(f"{'desk':<28}{'p50':>8}{'p95':>8}")
    print(f"{'baseline ' + args.baseline_ref:<28}{statistics.median(base) * 1000:>8.1f}{p95(base) * 1000:>8.1f}")
    print(f"{'now':<28}{statistics.median(now) * 1000:>8.1f}{p95(now) * 1000:>8.1f}")
    print(f"ratio now/baseline: p50 {statistics.median(now) / statistics.median(base):.2f}, "
          f"p95 {p95(now) / p95(base):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
