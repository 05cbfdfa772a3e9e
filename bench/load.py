"""Many reviewers at once: the desk through gunicorn on PostgreSQL, driven by locust (headless).

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/load.py [--users 200] [--seconds 180] [--pairs 30000] [--gunicorn-workers 4]

DATABASE_URL names a PostgreSQL database this script may empty (default
postgres://postgres@127.0.0.1:5432/dedupe_load, created when missing). It fills it with `--pairs`
open pairs (most between two images, one in ten a triangle of three images, so merges follow
chains), one caseworker per reviewer signed in beforehand (sessions written for locust: 200
password hashes on two cores would be the first minute), then starts gunicorn on the loopback and
runs locust three times in the same run: a 10 s warm-up (not counted), the baseline, one reviewer
alone for `--baseline-seconds`, and then `--users` reviewers (ramped up over 20 s) for `--seconds`.
Each reviewer looks 5-15 s at a pair before deciding (bench/locustfile.py). It prints throughput,
p95 per page for both and their ratio, the server errors (any 5xx fails the run), and the checks
that nothing was decided or merged twice: at most one live decision per pair, at most one live
merge per image, at most one merge per applied "same", and `check_invariants` and `verify_audit`
clean.
"""

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serverbench import ROOT, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/dedupe_load"
PAGES = ["pair page", "thumbnail", "decision: same", "decision: different", "decision: skip"]


def create_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(pairs: int, reviewers: int, var_dir: str) -> dict:
    """Sources, records, images and open pairs; caseworkers with sessions and CSRF tokens."""
    import io

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import connection
    from django.middleware.csrf import _get_new_csrf_string
    from PIL import Image

    from dedupe.models import Asset, Attachment, Candidate, Record, Source
    from tests.factories import user_with_role

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "grey").save(buf, "WEBP")
    thumb = default_storage.save("thumbnails/load.webp", ContentFile(buf.getvalue()))
    sources = [Source.objects.create(slug=f"s{i}", name=f"Source {i}") for i in range(4)]
    triangles = pairs // 10 // 3
    n_assets = 2 * (pairs - 3 * triangles) + 3 * triangles
    records = Record.objects.bulk_create(
        (Record(source=sources[i % 4], external_id=f"R{i}", address=f"{i} Main St") for i in range(n_assets)),
        batch_size=5000,
    )
    assets = Asset.objects.bulk_create(
        (Asset(source=sources[i % 4], origin_path=f"p/{i}.jpg", sha256=f"{i:064d}", byte_size=1000 + i,
               storage_name=f"assets/{i}.jpg", format="JPEG", width=640, height=480,
               inspection=Asset.Inspection.READABLE, thumbnail_name=thumb)
         for i in range(n_assets)),
        batch_size=5000,
    )  # fmt: skip
    Attachment.objects.bulk_create(
        (
            Attachment(record=r, slot="1", asset=a, state=Attachment.State.ATTACHED)
            for r, a in zip(records, assets, strict=True)
        ),
        batch_size=5000,
    )

    def made() -> Iterator[Candidate]:
        for t in range(triangles):
            a, b, c = assets[3 * t : 3 * t + 3]
            yield from (Candidate(asset_a=x, asset_b=y, kind="near", score=0.9, evidence={"phash": 3})
                        for x, y in ((a, b), (b, c), (a, c)))  # fmt: skip
        rest = assets[3 * triangles :]
        for i in range(0, len(rest) - 1, 2):
            yield Candidate(asset_a=rest[i], asset_b=rest[i + 1], kind="near", score=0.5 + (i % 500) / 1000,
                            cross_source=True, evidence={"phash": 4})  # fmt: skip

    candidates = Candidate.objects.bulk_create(made(), batch_size=5000)
    sessions = []
    for n in range(reviewers):
        user = user_with_role(f"reviewer{n}", "caseworker", sources=tuple(sources))
        store = SessionStore()
        store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[-1]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append({"session": store.session_key, "csrf": _get_new_csrf_string()})
    with connection.cursor() as cursor:  # as autovacuum would soon after a bulk load: plans need row counts
        cursor.execute("ANALYZE")
    found = {"sessions": sessions, "candidates": [c.pk for c in candidates]}
    Path(var_dir, "sessions.json").write_text(json.dumps(found))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def locust(env: dict, host: str, users: int, seconds: int, out: Path, user: str = "Reviewer") -> dict[str, dict]:
    """One headless locust run of `user`s; per page: requests, failures, median and p95 in ms."""
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), user, "--headless",
         "-u", str(users), "-r", str(max(1, users // 20)), "-t", f"{seconds}s", "--host", host,
         "--csv", str(out), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"],
        env=env, check=False, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    with open(f"{out}_stats.csv", newline="") as f:
        return {
            row["Name"]: {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                          "median": float(row["50%"]), "p95": float(row["95%"]), "rps": float(row["Requests/s"])}
            for row in csv.DictReader(f)
        }  # fmt: skip


def checks() -> dict[str, int]:
    """Nothing decided or merged twice, and the archive's own checks clean."""
    from django.core.management import CommandError, call_command
    from django.db.models import Count, Q

    from dedupe.models import Candidate
    from review.models import Decision, Merge

    live = Q(status__in=["proposed", "applied"])
    found = {
        "pairs with two live decisions": Candidate.objects.annotate(n=Count("decisions", filter=live))
        .filter(n__gt=1).count(),
        "images merged twice (live)": Merge.objects.filter(undone_at__isnull=True).values("duplicate")
        .annotate(n=Count("pk")).filter(n__gt=1).count(),
        "decisions with two merges": Merge.objects.values("decision").annotate(n=Count("pk")).filter(n__gt=1).count(),
        "decisions applied": Decision.objects.filter(status="applied").count(),
        "merges": Merge.objects.count(),
        "already one (no merge, recorded)": Decision.objects.filter(already_one_by__isnull=False).count(),
    }  # fmt: skip
    # The images' bytes were never written (rows only): check_invariants checks everything but them.
    for command, options in (("check_invariants", {"skip_bytes": True}), ("verify_audit", {})):
        try:
            call_command(command, stdout=open(os.devnull, "w"), **options)  # noqa: SIM115
            found[f"{command} failures"] = 0
        except CommandError:
            found[f"{command} failures"] = 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--baseline-seconds", type=int, default=60)
    parser.add_argument("--pairs", type=int, default=30000)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--tablets", type=int, help="field tablets uploading through the gate instead of reviewers")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("bench/load.py measures the scale-out profile: DATABASE_URL must name a PostgreSQL database")
    create_database(os.environ["DATABASE_URL"])
    if args.tablets:
        sys.exit(tablets(args))

    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir)
        from django.conf import settings

        made = fill(args.pairs, args.users, var_dir)
        port = free_port()
        env = os.environ | {
            "DEDUPE_LOAD_SESSIONS": str(Path(var_dir, "sessions.json")),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-w", str(args.gunicorn_workers), "-b",
             f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            time.sleep(3)
            host = f"http://127.0.0.1:{port}"
            locust(env, host, args.gunicorn_workers, 10, Path(var_dir, "warm-up"))  # templates compiled, caches filled
            alone = locust(env, host, 1, args.baseline_seconds, Path(var_dir, "alone"))
            many = locust(env, host, args.users, args.seconds, Path(var_dir, "many"))
        finally:
            server.terminate()
            server.wait(30)
        found = checks()

    print(f"{len(made['candidates'])} open pairs, {args.users} reviewers for {args.seconds} s, "
          f"gunicorn with {args.gunicorn_workers} workers, PostgreSQL; baseline: 1 reviewer for "
          f"{args.baseline_seconds} s, same server, same run\n")  # fmt: skip
    print(f"{'page':22} {'requests':>9} {'5xx/fail':>9} {'p50 ms':>8} {'p95 ms':>8} {'alone p95':>10} {'ratio':>6}")
    for page in [*PAGES, "Aggregated"]:
        m, a = many.get(page), alone.get(page)
        if not m:
            continue
        ratio = f"{m['p95'] / a['p95']:.1f}x" if a and a["p95"] else "-"
        print(f"{page:22} {m['requests']:>9} {m['failures']:>9} {m['median']:>8.0f} {m['p95']:>8.0f} "
              f"{(a or {}).get('p95', 0):>10.0f} {ratio:>6}")  # fmt: skip
    decisions = sum(many[p]["requests"] for p in PAGES if p.startswith("decision") and p in many)
    rate = decisions / args.seconds * 60
    print(f"\nthroughput: {many['Aggregated']['rps']:.1f} requests/s, {rate:.0f} decisions/min")
    for name, value in found.items():
        print(f"{name}: {value}")
    bad = many["Aggregated"]["failures"] + sum(v for k, v in found.items() if "twice" in k or "failures" in k)
    sys.exit(1 if bad else 0)


def serve(var_dir: str, workers: int, extra: dict[str, str]) -> tuple[subprocess.Popen, str, dict]:
    """gunicorn on a free loopback port, as production runs the site."""
    from django.conf import settings

    port = free_port()
    env = os.environ | extra | {
        "ALLOWED_HOSTS": "127.0.0.1", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    time.sleep(3)
    return server, f"http://127.0.0.1:{port}", env


def tablets(args: argparse.Namespace) -> int:
    """`--tablets` tablets uploading through the gate for `--seconds`, one in five uploads sent twice
    with its key; then: 0 server errors, 0 ghost copies (stored images equal distinct uploads),
    check_invariants and verify_audit clean. Returns the exit status."""
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir)
        from dedupe.models import Asset, Source
        from review.services.api_tokens import api_token_create

        Source.objects.create(slug="field-tablets", name="Field tablets")
        _, secret = api_token_create(
            name="tablets", sources=["field-tablets"], actor_name="bench", requests_per_minute=100_000
        )
        log = Path(var_dir, "uploads.jsonl")
        server, host, env = serve(var_dir, args.gunicorn_workers, {})
        env |= {"DEDUPE_LOAD_TOKEN": secret, "DEDUPE_LOAD_UPLOADS": str(log)}
        try:
            stats = locust(env, host, args.tablets, args.seconds, Path(var_dir, "tablets"), user="Tablet")
        finally:
            server.terminate()
            server.wait(30)
        uploads = {json.loads(line)["key"] for line in log.read_text().splitlines()}
        stored = Asset.objects.count()
        found = checks()
    print(
        f"{args.tablets} tablets for {args.seconds} s through gunicorn ({args.gunicorn_workers} workers), PostgreSQL\n"
    )
    print(f"{'call':22} {'requests':>9} {'failures':>9} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7}")
    for name, m in stats.items():
        print(f"{name:22} {m['requests']:>9} {m['failures']:>9} {m['median']:>8.0f} {m['p95']:>8.0f} {m['rps']:>7.1f}")
    ghosts = stored - len(uploads)
    print(f"\ndistinct uploads answered: {len(uploads)}; images stored: {stored}; ghost copies: {ghosts}")
    for name in ("check_invariants failures", "verify_audit failures"):
        print(f"{name}: {found[name]}")
    bad = stats["Aggregated"]["failures"] + abs(ghosts) + found["check_invariants failures"]
    return 1 if bad + found["verify_audit failures"] else 0


if __name__ == "__main__":
    main()
