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
from review.services.merges import canonical_of
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

    side_by_side(review, zip(reviewers, work, strict=True))

    assert not errors, errors[:3]
    assert sorted(won) == sorted(c.pk for c in pairs), "every candidate decided exactly once"
    assert len(told) == CANDIDATES * (TARGETS_PER_CANDIDATE - 1)
    assert all("already decided by reviewer" in message for message in told)
    assert Decision.objects.count() == CANDIDATES
    assert Merge.objects.count() == CANDIDATES
    assert AuditEvent.objects.filter(action="asset.merge").count() == CANDIDATES
    assert Asset.objects.filter(state="quarantined").count() == CANDIDATES
    assert Attachment.objects.values("asset").distinct().count() == CANDIDATES


def side_by_side(review, work) -> None:
    """Each reviewer in a thread of their own, with their own database connection."""
    threads = [threading.Thread(target=review, args=args) for args in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


TRIANGLES = 25


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL; CI runs this there")
def test_three_reviewers_merging_round_a_triangle_at_once_record_what_each_decision_did(pairs):
    """A onto B, B onto C and C onto A at the same instant: two merges happen, and the third
    decision says the images were already one, onto which image, by which decision."""
    work: list[list[tuple[int, int]]] = [[], [], []]
    for ab, other in zip(pairs[:TRIANGLES], pairs[TRIANGLES : 2 * TRIANGLES], strict=True):
        a, b, c = ab.asset_a_id, ab.asset_b_id, other.asset_a_id
        work[0].append((ab.pk, b))  # keep b: a onto b
        work[1].append((_pair(b, c).pk, c))  # keep c: b onto c
        work[2].append((_pair(c, a).pk, a))  # keep a: c onto a
    reviewers = [user_with_role(f"reviewer{n}", "archivist") for n in range(3)]
    errors: list[BaseException] = []

    def review(user, todo):
        try:
            for candidate_id, keep in todo:
                start.wait()
                decide_candidate(candidate_id=candidate_id, verdict="same", canonical_id=keep, actor=user, seen=0)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
            start.abort()
        finally:
            connections.close_all()

    start = threading.Barrier(3)
    side_by_side(review, zip(reviewers, work, strict=True))

    assert not errors, errors[:3]
    decisions = list(Decision.objects.filter(verdict="same"))
    assert len(decisions) == 3 * TRIANGLES and all(d.status == "applied" for d in decisions)
    merged = {m.decision_id: m for m in Merge.objects.all()}
    assert len(merged) == 2 * TRIANGLES, "each triangle: two merges, the third pair already one"
    for d in decisions:
        a, b = d.candidate.asset_a_id, d.candidate.asset_b_id
        assert canonical_of(d.kept_id) == canonical_of(a) == canonical_of(b), "all three are one image"
        event = AuditEvent.objects.get(action="decision.apply", subjects__kind="decision", subjects__object_id=d.pk)
        assert (event.after["kept"], event.after["already_one_by_decision"]) == (d.kept_id, d.already_one_by_id)
        if d.pk in merged:
            assert d.already_one_by_id is None and merged[d.pk].canonical_id == d.kept_id
        else:  # the last of its triangle: nothing merged after it, so what it kept is the end
            assert d.kept_id == canonical_of(a), "the image the pair shows, not the one chosen"
            assert d.already_one_by_id in merged, "names the decision whose merge made them one"


def _pair(x: int, y: int) -> Candidate:
    return Candidate.objects.create(asset_a_id=min(x, y), asset_b_id=max(x, y), kind="near", score=0.9)
