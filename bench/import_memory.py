"""Peak memory of import_archive against the manifest's length: bounded means flat.

    .venv/bin/python bench/import_memory.py [--rows 10000 100000]

Each run imports N rows (hard links to a small photo, so every row is its own file) into a
fresh SQLite database, in its own process, and reports that process's peak RSS. The baseline
is the smallest run: the ratio of each larger run's peak to it should stay near 1.0 while the
row count grows 10x.
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LINKS_PER_FILE = 50_000  # ext4 allows 65,000 hard links to one file
MEASURE = (
    "import resource, sys, runpy; sys.argv = ['manage.py', 'import_archive', sys.argv[1], '--json', '--sync'];"
    "import io, contextlib; out = io.StringIO()\n"
    "with contextlib.redirect_stdout(out):\n"
    "    try: runpy.run_path('manage.py', run_name='__main__')\n"
    "    except SystemExit: pass\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def build(folder: Path, rows: int) -> Path:
    buf = io.BytesIO()
    Image.effect_noise((64, 48), 40).convert("RGB").save(buf, "JPEG")
    for k in range(rows // LINKS_PER_FILE + 1):
        (folder / f"photo-{k}.jpg").write_bytes(buf.getvalue())
    (folder / "files").mkdir()
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "source", "record_id", "slot", "address", "captured_at"])
        for i in range(rows):
            os.link(folder / f"photo-{i // LINKS_PER_FILE}.jpg", folder / "files" / f"{i}.jpg")
            writer.writerow([f"files/{i}.jpg", f"source-{i % 4}", f"R-{i}", 1, f"{i} Main St", ""])
    return manifest


def peak_kib(rows: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = build(folder, rows)
        # the production profile: DEBUG off (Django keeps no query log), as a real import runs
        env = os.environ | {
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-" + "x" * 50,
            "ALLOWED_HOSTS": "localhost",
            "DEDUPE_VAR_DIR": str(folder / "var"),
            "DATABASE_URL": "",
        }
        env.pop("DATABASE_URL")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(manifest)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return int(done.stdout.split()[-1]), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    baseline = None
    print(f"{'rows':>8} {'peak RSS MiB':>13} {'ratio':>6} {'seconds':>8} {'rows/s':>7}")
    for rows in args.rows:
        peak, seconds = peak_kib(rows)
        baseline = baseline or peak
        print(f"{rows:>8} {peak / 1024:>13.1f} {peak / baseline:>6.2f} {seconds:>8.1f} {rows / seconds:>7.0f}")


if __name__ == "__main__":
    main()
