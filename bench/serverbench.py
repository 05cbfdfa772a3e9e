"""Shared by the server-time benchmarks (desk.py, audit_log.py): a fresh database per size, each
size in its own process, views timed in process, and one table comparing a size to its baseline."""

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(var_dir: str) -> None:
    """Django on a fresh database (SQLite under var_dir, or DATABASE_URL's, emptied) as production runs."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",  # no query log kept
        SECRET_KEY="bench-only-" + "x" * 50,
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DEDUPE_VAR_DIR=var_dir,
        STATIC_ROOT=str(Path(var_dir) / "static"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if "dedupe_candidate" in connection.introspection.table_names():
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off serves hashed names


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def child(size: int, fill: Callable[[int], None], measure: Callable[[], dict[str, list[float]]]) -> None:
    """One size, in this process: fill a fresh database, time the views, one tab-separated line per view."""
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir)
        fill(size)
        for name, values in measure().items():
            print(f"{name}\t{statistics.median(values) * 1000:.1f}\t{p95(values) * 1000:.1f}")


def compare(script: str, sizes: tuple[int, int], child_args: list[str], unit: str) -> None:
    """Run the script's child for the baseline size and the large one, and print the table of ratios."""
    results = {}
    for size in sizes:
        out = subprocess.run(
            [sys.executable, script, "--one", str(size), *child_args],
            capture_output=True, text=True, check=True, cwd=ROOT,
        ).stdout  # fmt: skip
        results[size] = {line.split("\t")[0]: [float(x) for x in line.split("\t")[1:]] for line in out.splitlines()}
    base_size, big_size = sizes
    backend = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(f"{backend}; server time in ms (p50 / p95); baseline: the same over {base_size:,} {unit}")
    print(f"{'view':<18}{base_size:>12,} {unit}{big_size:>14,} {unit}   p95 ratio")
    for name, big in results[big_size].items():
        base = results[base_size][name]
        print(f"{name:<18}{base[0]:>9.1f} / {base[1]:<7.1f}{big[0]:>9.1f} / {big[1]:<7.1f}{big[1] / base[1]:>9.2f}")
