"""A retried upload (same Idempotency-Key) gets the first answer and stores nothing twice."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dedupe.models import Asset, Attachment, AuditEvent
from review.models import ApiToken, IdempotencyKey
from tests.api.conftest import ApiClient
from tests.factories import jpeg_bytes, photo

# SQLite has one writer: requests cannot race there. CI's second pass runs these (they reach the database).
NEEDS_POSTGRES = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def test_a_retry_gets_the_first_answer_and_nothing_more(permit_tablets):
    data = jpeg_bytes(photo(20))
    first = permit_tablets.upload("building-permits", data, key="tablet-7-upload-1")
    again = permit_tablets.upload("building-permits", data, key="tablet-7-upload-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Asset.objects.count() == 1 and Attachment.objects.count() == 1
    assert AuditEvent.objects.filter(action__startswith="gate.").count() == 1


def test_the_same_key_with_another_body_is_refused(permit_tablets):
    permit_tablets.upload("building-permits", jpeg_bytes(photo(21)), key="k1")
    other_file = permit_tablets.upload("building-permits", jpeg_bytes(photo(22)), key="k1")
    other_slot = permit_tablets.upload("building-permits", jpeg_bytes(photo(21)), key="k1", slot="2")
    for response in (other_file, other_slot):
        assert response.status_code == 422
        assert response.json()["type"].endswith("/idempotency-key-reused")
    assert Asset.objects.count() == 1


def test_a_refusal_is_replayed_too(permit_tablets):
    first = permit_tablets.upload("building-permits", b"%PDF-1.4 not a photo", key="k2")
    again = permit_tablets.upload("building-permits", b"%PDF-1.4 not a photo", key="k2")
    assert first.status_code == again.status_code == 422
    assert again.json()["detail"] == first.json()["detail"]


def test_keys_belong_to_their_token(permit_tablets, permits):
    from review.services.api_tokens import api_token_create

    _, secret = api_token_create(name="second-fleet", sources=["building-permits"], actor_name="test")
    permit_tablets.upload("building-permits", jpeg_bytes(photo(23)), key="shared")
    other = ApiClient(secret).upload("building-permits", jpeg_bytes(photo(24)), key="shared", record_id="R-2")
    assert other.status_code == 201 and other.json()["outcome"] == "stored"


def test_a_key_still_in_flight_answers_409_after_the_wait(permit_tablets, settings):
    settings.DEDUPE_API_IDEMPOTENCY_WAIT_SECONDS = 0
    data = jpeg_bytes(photo(25))
    permit_tablets.upload("building-permits", data, key="k3")
    IdempotencyKey.objects.update(state=IdempotencyKey.State.IN_FLIGHT, response=None, created_at=timezone.now())
    response = permit_tablets.upload("building-permits", data, key="k3")
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert response.json()["type"].endswith("/request-in-flight")


def test_a_key_whose_first_request_died_is_taken_over(permit_tablets, settings):
    settings.DEDUPE_API_IDEMPOTENCY_WAIT_SECONDS = 0
    token = ApiToken.objects.get()
    data = jpeg_bytes(photo(26))
    permit_tablets.upload("building-permits", data, key="k4")
    long_ago = timezone.now() - timedelta(seconds=settings.DEDUPE_API_IDEMPOTENCY_STALE_SECONDS + 5)
    IdempotencyKey.objects.filter(token=token).update(state="in_flight", response=None, created_at=long_ago)
    response = permit_tablets.upload("building-permits", data, key="k4")
    assert response.status_code == 200 and response.json()["outcome"] == "duplicate"  # its bytes were kept
    assert Asset.objects.count() == 1


def test_old_keys_are_forgotten(permit_tablets, settings):
    data = jpeg_bytes(photo(27))
    permit_tablets.upload("building-permits", data, key="k5")
    IdempotencyKey.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.DEDUPE_API_IDEMPOTENCY_HOURS + 1)
    )
    response = permit_tablets.upload("building-permits", jpeg_bytes(photo(28)), key="k5")
    assert response.status_code == 201 and Asset.objects.count() == 2


@pytest.mark.postgres
@NEEDS_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_parallel_identical_requests_store_one_image(permits):
    """Eight tablets' retries of one upload at the same instant, on PostgreSQL: one asset, one answer."""
    from review.services.api_tokens import api_token_create

    _, secret = api_token_create(name="t", sources=["building-permits"], actor_name="test")
    data = jpeg_bytes(photo(29))
    results = _in_parallel(8, lambda n: ApiClient(secret).upload("building-permits", data, key="same"))
    assert {r.status_code for r in results} <= {201, 409}, [r.content for r in results]
    answered = [r.json() for r in results if r.status_code == 201]
    assert answered and all(a == answered[0] for a in answered)
    assert Asset.objects.count() == 1 and Attachment.objects.count() == 1


@pytest.mark.postgres
@NEEDS_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_different_uploads_of_the_same_bytes_at_once_end_as_one_image(permits):
    from review.services.api_tokens import api_token_create

    _, secret = api_token_create(name="t", sources=["building-permits"], actor_name="test")
    data = jpeg_bytes(photo(30))
    results = _in_parallel(
        6, lambda n: ApiClient(secret).upload("building-permits", data, key=f"k{n}", record_id=f"R-{n}")
    )
    assert sorted(r.status_code for r in results) == [200] * 5 + [201], [r.content for r in results]
    assert Asset.objects.count() == 1
    assert set(Attachment.objects.values_list("asset_id", flat=True)) == {Asset.objects.get().pk}
    assert Attachment.objects.count() == 6


def _in_parallel(n: int, call):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = call(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results
