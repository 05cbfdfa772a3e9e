"""The whole pipeline through real workers, against bare fingerprinting in the same run.

.venv/bin/python bench/pipeline.py ratio FOLDER
    FOLDER of 12-megapixel JPEGs (make_corpus.py OUT --megapixels 12; FOLDER = OUT/images).
    Baseline: bench/fingerprint.py's `ours` on every file in one process (one core).
    Pipeline: `import_folder` on a fresh SQLite database with one worker process of
    concurrency 1 doing the fingerprint tasks (the import loop has the other core), timed
    until every asset is fingerprinted and its rows written. Reports pipeline/bare.

.venv/bin/python bench/pipeline.py end-to-end CORPUS [--workers 1 2] [--backends embedded postgres]
    CORPUS made by make_corpus.py (manifest.csv). For each backend (SQLite + filesystem broker,
    PostgreSQL + Redis) and worker count: a fresh database, N worker processes, then
    `import_archive` (waits for the fingerprints) and `scan --wait`. Reports images/s and
    the speed-up of each worker count over one worker on the same backend.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
BENCH_DB = "dedupe_bench"
# The ratio run imports every file this many times (hard links): enough files that process
# start-up and the worker ping do not dominate, and each copy is fingerprinted as its own asset.
COPIES = 3


def base_env(var: Path) -> dict:
    """Production profile (DEBUG off, no query log), its own var dir and queue."""
    env = os.environ | {
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "localhost",
        "DEDUPE_VAR_DIR": str(var),
        "CELERY_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    return env


def backend_env(backend: str, var: Path) -> dict:
    env = base_env(var)
    if backend == "postgres":
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
        env |= {"DATABASE_URL": f"{POSTGRES}/{BENCH_DB}", "CELERY_BROKER_URL": REDIS}
    return env


def manage(env: dict, *args: str) -> float:
    """Run a management command; returns its wall time."""
    started = time.perf_counter()
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


@contextmanager
def workers(env: dict, count: int, log: Path):
    """`count` worker processes of concurrency 1, as one would start one per core or machine."""
    procs = []
    with open(log, "ab") as out:
        for n in range(count):
            cmd = [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "warning", "-n", f"bench{n}@%h",
                   "-Q", env["CELERY_QUEUE"], "--concurrency", "1", "--without-gossip", "--without-mingle"]  # fmt: skip
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:
        _wait_for_workers(env, count)
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def _wait_for_workers(env: dict, count: int, timeout: float = 60) -> None:
    code = "from config.celery import app; print(len(app.control.ping(timeout=1.0) or []))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ping = subprocess.run(
            [PYTHON, "-c", f"import django, os; django.setup(); {code}"],
            cwd=ROOT,
            env=env | {"DJANGO_SETTINGS_MODULE": "config.settings"},
            capture_output=True,
            text=True,
        )
        if ping.returncode == 0 and int(ping.stdout.split()[-1]) >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{count} workers did not answer within {timeout}s")


def bare_seconds(files: list[Path]) -> float:
    sys.path.insert(0, str(ROOT / "bench"))
    from fingerprint import ours

    started = time.perf_counter()
    for path in files:
        ours(path)
    return time.perf_counter() - started


def ratio(folder: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg"})
    bare = bare_seconds(files * COPIES)
    with tempfile.TemporaryDirectory() as tmp:
        jpegs = Path(tmp) / "jpegs"  # the same files, and only them, for the import
        jpegs.mkdir()
        for copy in range(COPIES):
            for n, path in enumerate(files):
                os.link(path, jpegs / f"{copy}-{n:05d}{path.suffix}")
        env = backend_env("embedded", Path(tmp) / "var")
        manage(env, "migrate", "-v0")
        with workers(env, 1, Path(tmp) / "workers.log"):
            seconds = manage(env, "import_folder", str(jpegs), "--source", "bench", "--json")
    n = len(files) * COPIES
    print(f"{len(files)} JPEGs from {folder}, each {COPIES} times (its own asset each time)")
    print(f"bare fingerprinting, one process: {bare:.1f} s = {n / bare:.1f} files/s")
    print(f"import_folder + 1 worker (SQLite, filesystem broker): {seconds:.1f} s = {n / seconds:.1f} files/s")
    print(f"pipeline / bare: {bare / seconds:.2f}")


def end_to_end(corpus: Path, counts: list[int], backends: list[str]) -> None:
    manifest = corpus / "manifest.csv"
    with open(manifest) as f:
        rows = sum(1 for _ in f) - 1
    print(f"{rows:,} manifest rows from {corpus}")
    print(f"{'backend':<22} {'workers':>7} {'import s':>9} {'scan s':>7} {'total s':>8} {'images/s':>9} "
          f"{'speed-up':>8}")  # fmt: skip
    for backend in backends:
        first = None
        for count in counts:
            with tempfile.TemporaryDirectory() as tmp:
                env = backend_env(backend, Path(tmp))
                manage(env, "migrate", "-v0")
                with workers(env, count, Path(tmp) / "workers.log"):
                    imported = manage(env, "import_archive", str(manifest), "--root", str(corpus), "--json")
                    scanned = manage(env, "scan", "--wait")
                shutil.rmtree(Path(tmp) / "media", ignore_errors=True)
            total = imported + scanned
            first = first or total
            label = "SQLite + filesystem" if backend == "embedded" else "PostgreSQL + Redis"
            print(f"{label:<22} {count:>7} {imported:>9.1f} {scanned:>7.1f} {total:>8.1f} "
                  f"{rows / total:>9.1f} {first / total:>7.2f}x", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("ratio").add_argument("folder", type=Path)
    e2e = sub.add_parser("end-to-end")
    e2e.add_argument("corpus", type=Path)
    e2e.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    e2e.add_argument("--backends", nargs="+", choices=["embedded", "postgres"], default=["embedded", "postgres"])
    args = parser.parse_args()
    if args.mode == "ratio":
        ratio(args.folder)
    else:
        end_to_end(args.corpus, args.workers, args.backends)


if __name__ == "__main__":
    main()
