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
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serverbench import child, compare  # noqa: E402

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
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child run: one log size
    args = parser.parse_args()
    if args.one is not None:
        child(args.one, fill, lambda: measure(args.requests))
    else:
        compare(__file__, (args.baseline, args.events), ["--requests", str(args.requests)], "events")


if __name__ == "__main__":
    main()
