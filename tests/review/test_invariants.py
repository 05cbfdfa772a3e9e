"""check_invariants names each broken promise, and says OK only for a sound archive."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from dedupe.models import Asset
from review.models import Merge
from tests.factories import merged, store_bytes

pytestmark = pytest.mark.django_db


def run() -> str:
    out = io.StringIO()
    call_command("check_invariants", stdout=out)
    return out.getvalue()


def broken() -> str:
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("check_invariants", stdout=out)
    assert failed.value.returncode == 1
    return out.getvalue()


@pytest.fixture
def merge(permits, archivist) -> Merge:
    _, [(_, keep), (_, duplicate)] = permits
    store_bytes(keep, duplicate)
    return merged(keep, duplicate, archivist)


def test_a_sound_archive_is_ok(merge):
    assert run().strip() == "OK"


def test_a_shown_image_marked_purged_is_reported(merge):
    Asset.objects.filter(pk=merge.canonical_id).update(state=Asset.State.PURGED)

    report = broken()

    assert f"shows image {merge.canonical_id}, which is purged" in report
    assert f"image {merge.canonical_id} is purged but no Purge row" in report


def test_missing_bytes_of_a_quarantined_image_are_reported(merge):
    default_storage.delete(merge.duplicate.storage_name)

    assert f"image {merge.duplicate_id} is quarantined but its bytes are missing" in broken()


def test_a_merge_loop_is_reported(merge, archivist):
    Merge.objects.create(canonical_id=merge.duplicate_id, duplicate_id=merge.canonical_id, decision=merge.decision)

    report = broken()

    assert "merge chain loops" in report
    assert "has no asset.merge audit event" in report
