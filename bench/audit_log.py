"""The auditor's log with a million events: server time of its pages, filtered and deep-paged.

    .venv/bin/python bench/audit_log.py [--events 1000000] [--baseline 10000] [--requests 30]

A fresh database (SQLite in a temporary folder, or PostgreSQL when DATABASE_URL names a scratch
database this script may empty) is filled with synthetic events, three subjects each (an asset, a
record, a source), bulk-inserted with placeholder chain hashes: this measures reading, not the
chain. Each view is timed in process (server time: routing, queries, rendering) on the first page
and on a page deep in the log through the keyset cursor. The baseline is the same over
`--baseline` events in the same run; the ratio shows whether pages slow down as the log grows.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from desk import ROOT, p95, setup_django  # noqa: E402  (the same fresh-database set-up)

ACTIONS = ["decision.apply", "asset.merge", "asset.unmerge", "attachment.restore", "import.batch", "auth.login"]
ACTORS = ["ana", "bea", "cai", "dev", "eli"]


def fill(events: int) -> None:
    from django.utils import timezone

    from dedupe.models import AuditEvent, AuditSubject
    from tests.factories import user_with_role

    start = timezone.now() - timezone.timedelta(days=365)
    step = timezone.timedelta(days=365) / max(events, 1)
    batch = 20_000
    for first in range(0, events, batch):
        made = AuditEvent.objects.bulk_create(
            AuditEvent(
                seq=n + 1, prev_hash="0" * 64, hash=f"{n:064x}", at=start + step * n, actor_id=n % 5 + 1,
                actor_name=ACTORS[n % 5], actor_role="archivist", action=ACTIONS[n % len(ACTIONS)],
                before={"state": "open"}, after={"n": n}, reason=f"note {n}: same house" if n % 97 == 0 else "",
                request_id=f"{n:032x}",
            )
            for n in range(first, min(first + batch, events))
        )  # fmt: skip
        ids = [e.pk for e in made] if made[0].pk else None
        if ids is None:
            ids = list(AuditEvent.objects.filter(seq__gt=first).order_by("seq").values_list("pk", flat=True)[:batch])
        AuditSubject.objects.bulk_create(
            subject
            for pk in ids
            for subject in (
                AuditSubject(event_id=pk, kind="asset", object_id=str(pk % 50_000)),
                AuditSubject(event_id=pk, kind="record", object_id=str(pk % 40_000)),
                AuditSubject(event_id=pk, kind="source", object_id=f"s{pk % 4}"),
            )
        )
    user_with_role("auditor", "auditor")


def measure(requests: int) -> dict[str, list[float]]:
    from django.contrib.auth.models import User
    from django.test import Client

    from dedupe.models import AuditEvent

    client = Client()
    client.force_login(User.objects.get(username="auditor"))
    middle = AuditEvent.objects.order_by("pk").values_list("pk", flat=True)[AuditEvent.objects.count() // 2]
    views = {
        "log, first page": ("/audit/", {}),
        "log, deep page": ("/audit/", {"before": middle}),
        "by actor": ("/audit/", {"actor": "cai"}),
        "by action prefix": ("/audit/", {"action": "asset."}),
        "by image": ("/audit/", {"asset": "1234"}),
        "by text": ("/audit/", {"q": "same house"}),
        "person timeline": ("/audit/timeline/user/3/", {"from": "2000-01-01"}),
    }
    times: dict[str, list[float]] = {name: [] for name in views}
    for _ in range(requests):
        for name, (url, params) in views.items():
            start = time.perf_counter()
            response = client.get(url, params)
            times[name].append(time.perf_counter() - start)
            assert response.status_code == 200, (name, response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import tempfile

        with tempfile.TemporaryDirectory() as var_dir:
            setup_django(var_dir)
            fill(args.events)
            for name, values in measure(args.requests).items():
                print(f"{name}\t{statistics.median(values) * 1000:.1f}\t{p95(values) * 1000:.1f}")
        return
    results = {}
    for size in (args.baseline, args.events):
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--events", str(size), "--requests", str(args.requests)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        ).stdout  # fmt: skip
        results[size] = {line.split("\t")[0]: [float(x) for x in line.split("\t")[1:]] for line in out.splitlines()}
    backend = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(f"{backend}; server time in ms (p50 / p95); baseline: the same pages over {args.baseline:,} events")
    print(f"{'page':<18}{args.baseline:>12,} events{args.events:>14,} events   p95 ratio")
    for name in results[args.events]:
        base, big = results[args.baseline][name], results[args.events][name]
        print(f"{name:<18}{base[0]:>9.1f} / {base[1]:<7.1f}{big[0]:>9.1f} / {big[1]:<7.1f}{big[1] / base[1]:>9.2f}")


if __name__ == "__main__":
    main()
