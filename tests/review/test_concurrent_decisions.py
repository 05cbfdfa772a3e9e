"""Many reviewers deciding the same candidates at once, on PostgreSQL with real parallel connections.

SQLite serialises every writer, so it cannot show a race; this runs in CI's PostgreSQL pass.
"""

import random
import threading

import pytest
from django.db import connection, connections

from dedupe.models import Asset, Attachment, AuditEvent, Candidate, Record, Source
from review.models import Decision, Merge
from review.services.decisions import AlreadyDecided, decide_candidate
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)

DECIDERS = 50
CANDIDATES = 1000
TARGETS_PER_CANDIDATE = 3


@pytest.fixture
def pairs() -> list[Candidate]:
    source = Source.objects.create(slug="permits", name="Permits")
    records = Record.objects.bulk_create(Record(source=source, external_id=f"R-{n}") for n in range(2 * CANDIDATES))
    assets = Asset.objects.bulk_create(
        Asset(source=source, origin_path=f"{n}.jpg", sha256=f"{n:064x}", byte_size=100, storage_name=f"a/{n}.jpg",
              inspection="readable", width=10, height=10)
        for n in range(2 * CANDIDATES)
    )  # fmt: skip
    Attachment.objects.bulk_create(
        Attachment(record=r, slot="1", asset=a, state="attached") for r, a in zip(records, assets, strict=True)
    )
    return Candidate.objects.bulk_create(
        Candidate(asset_a=assets[2 * n], asset_b=assets[2 * n + 1], kind="exact", score=1.0) for n in range(CANDIDATES)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL; CI runs this there")
def test_fifty_reviewers_racing_over_a_thousand_candidates_apply_each_decision_once(pairs):
    reviewers = [user_with_role(f"reviewer{n}", "archivist") for n in range(DECIDERS)]
    work: list[list[tuple[int, int]]] = [[] for _ in reviewers]
    rng = random.Random(5)
    for c in pairs:  # each candidate goes to several reviewers, who may keep either side
        for who in rng.sample(range(DECIDERS), TARGETS_PER_CANDIDATE):
            work[who].append((c.pk, rng.choice([c.asset_a_id, c.asset_b_id])))
    for todo in work:
        rng.shuffle(todo)
    won: list[int] = []
    told: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(DECIDERS)

    def review(user, todo):
        try:
            start.wait()
            for candidate_id, keep in todo:
                try:
                    decide_candidate(candidate_id=candidate_id, verdict="same", canonical_id=keep, actor=user, seen=0)
                    won.append(candidate_id)
                except AlreadyDecided as lost:
                    told.append(str(lost))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=review, args=(u, t)) for u, t in zip(reviewers, work, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors, errors[:3]
    assert sorted(won) == sorted(c.pk for c in pairs), "every candidate decided exactly once"
    assert len(told) == CANDIDATES * (TARGETS_PER_CANDIDATE - 1)
    assert all("already decided by reviewer" in message for message in told)
    assert Decision.objects.count() == CANDIDATES
    assert Merge.objects.count() == CANDIDATES
    assert AuditEvent.objects.filter(action="asset.merge").count() == CANDIDATES
    assert Asset.objects.filter(state="quarantined").count() == CANDIDATES
    assert Attachment.objects.values("asset").distinct().count() == CANDIDATES
