"""Server time of the review desk with a large queue: the review page and a decision, p50 and p95.

    .venv/bin/python bench/desk.py [--open 100000] [--baseline 1000] [--requests 200]

Builds a fresh database (SQLite under a temporary folder, or PostgreSQL when DATABASE_URL is set:
it must name a database this script may empty) holding `--open` open candidates, then times the
views in process with Django's test client, so the figure is server time: routing, access checks,
queries and rendering, without the network. The baseline is the same measurement over a queue of
`--baseline` candidates in the same run: the ratio shows whether the desk slows as the queue grows.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serverbench import child, compare  # noqa: E402


def fill(open_candidates: int) -> None:
    """Assets in a few sources, each in `per` pairs with its neighbours, all pairs open."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from dedupe.models import Asset, Attachment, Candidate, Record, Source
    from tests.factories import user_with_role

    buf = __import__("io").BytesIO()
    Image.new("RGB", (64, 48), "grey").save(buf, "WEBP")
    thumb = default_storage.save("thumbnails/bench.webp", ContentFile(buf.getvalue()))
    per = 5
    n_assets = open_candidates // per + per + 1
    sources = [Source.objects.create(slug=f"s{i}", name=f"Source {i}") for i in range(4)]
    records = Record.objects.bulk_create(
        Record(source=sources[i % 4], external_id=f"R{i}", address=f"{i} Main St") for i in range(n_assets)
    )
    assets = Asset.objects.bulk_create(
        Asset(source=sources[i % 4], origin_path=f"p/{i}.jpg", sha256=f"{i:064d}", byte_size=1000 + i,
              storage_name=f"assets/{i}.jpg", format="JPEG", width=640, height=480,
              inspection=Asset.Inspection.READABLE, thumbnail_name=thumb)
        for i in range(n_assets)
    )  # fmt: skip
    Attachment.objects.bulk_create(
        Attachment(record=r, slot="1", asset=a, state=Attachment.State.ATTACHED)
        for r, a in zip(records, assets, strict=True)
    )
    pairs = (
        Candidate(asset_a=assets[i], asset_b=assets[i + d], kind="near", score=round(0.5 + (i * 7919 % 500) / 1000, 3),
                  cross_source=True, evidence={"phash": d, "dhash": d + 1})
        for i in range(n_assets - per) for d in range(1, per + 1)
    )  # fmt: skip
    made = Candidate.objects.bulk_create(list(__import__("itertools").islice(pairs, open_candidates)), batch_size=5000)
    assert len(made) == open_candidates
    user_with_role("bench", "archivist")


def measure(requests: int) -> dict[str, list[float]]:
    from django.contrib.auth.models import User
    from django.test import Client

    from dedupe.models import Candidate
    from review.selectors.queue import queue_order
    from tests.factories import pass_second_factor

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    pass_second_factor(client, User.objects.get(username="bench"))  # archivists prove a second factor
    # The pairs a reviewer reaches first: the head of the queue, as the desk serves them.
    head = list(queue_order(Candidate.objects.filter(status="open")).values_list("pk", flat=True)[: requests + 5])
    times: dict[str, list[float]] = {"review page": [], "decision": [], "queue page": []}
    for pk in head[:requests]:
        start = time.perf_counter()
        page = client.get(f"/candidates/{pk}/")
        times["review page"].append(time.perf_counter() - start)
        assert page.status_code == 200, page.status_code
        seen = page.content.decode().split('name="seen" value="')[1].split('"')[0]
        start = time.perf_counter()
        response = client.post(
            f"/candidates/{pk}/decide/", {"verdict": "different", "reason": "other", "seen": seen},
            HTTP_HX_REQUEST="true",
        )  # fmt: skip
        times["decision"].append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    for _ in range(min(requests, 50)):
        start = time.perf_counter()
        assert client.get("/queue/").status_code == 200
        times["queue page"].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child run: one queue size
    args = parser.parse_args()
    if args.one is not None:
        child(args.one, fill, lambda: measure(args.requests))
    else:
        compare(__file__, (args.baseline, args.open), ["--requests", str(args.requests)], "open")


if __name__ == "__main__":
    main()
