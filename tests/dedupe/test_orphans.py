"""Storage in step with rows: bytes no row references are found, reported and reclaimed on request."""

import os
import time
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from dedupe.models import Asset, AuditEvent
from review.invariants import check_invariants
from tests.factories import small_archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive_with_orphans(tmp_path, media_root):
    call_command(
        "import_archive", str(small_archive(tmp_path, bad=False)), "--sync", stdout=StringIO(), stderr=StringIO()
    )
    old = media_root / "assets/ab/abcd/0123456789"
    young = media_root / "assets/cd/cdef/9876543210"
    for path in (old, young):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    return old, young


def sweep(*args: str) -> str:
    out = StringIO()
    call_command("sweep_orphans", *args, stdout=out)
    return out.getvalue()


def test_check_invariants_reports_old_bytes_no_row_references_but_not_a_batch_in_flight(archive_with_orphans):
    problems = check_invariants()

    assert problems == [
        "assets/ab/abcd/0123456789 (1,000 bytes) is in storage but no image row references it: "
        "`manage.py sweep_orphans`"
    ]


def test_the_sweep_only_lists_by_default(archive_with_orphans):
    old, young = archive_with_orphans

    listed = sweep()

    assert "assets/ab/abcd/0123456789\t1000" in listed and "9876543210" not in listed
    assert old.exists() and young.exists()


def test_the_sweep_reclaims_orphans_and_keeps_every_referenced_file(archive_with_orphans):
    old, young = archive_with_orphans

    assert "Reclaimed 1,000 bytes." in sweep("--delete")

    assert not old.exists() and young.exists()
    assert all(default_storage.exists(a.storage_name) and default_storage.exists(a.thumbnail_name)
               for a in Asset.objects.all())  # fmt: skip
    assert AuditEvent.objects.get(action="storage.orphans_reclaim").after["bytes"] == 1000
    assert check_invariants() == []
