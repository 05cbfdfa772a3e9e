"""Purge: the only place bytes are deleted, after retention, when nothing can still need them."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from dedupe.models import Asset, AuditEvent, Candidate
from review.models import LegalHold, Merge, Purge
from review.selectors.storage import storage_figures
from review.services.merges import MergeRefused, unmerge
from review.services.placeholders import attachment_restore
from review.services.storage import Refusal, purge_plan, purge_quarantined
from tests.factories import merged, store_bytes, strip

pytestmark = pytest.mark.django_db


def later(days: int = 1):
    """A moment `days` after the retention period of a merge made now."""
    return timezone.now() + timedelta(days=settings.DEDUPE_RETENTION_DAYS + days)


@pytest.fixture
def quarantined(permits, archivist) -> tuple[Asset, Merge]:
    """PERM-1's image merged onto PERM-0's: quarantined, its bytes kept, nothing showing it."""
    _, [(_, keep), (_, duplicate)] = permits
    store_bytes(keep, duplicate)
    merge = merged(keep, duplicate, archivist)
    duplicate.refresh_from_db()
    return duplicate, merge


def test_a_dry_run_deletes_nothing(quarantined):
    duplicate, _ = quarantined

    summary = purge_quarantined(now=later())

    assert summary.dry_run and [item.asset_id for item in summary.purged] == [duplicate.pk]
    assert Asset.objects.get(pk=duplicate.pk).state == "quarantined"
    assert default_storage.exists(duplicate.storage_name)
    assert not Purge.objects.exists() and not AuditEvent.objects.filter(action="asset.purge").exists()


def test_the_command_is_a_dry_run_unless_applied(quarantined):
    duplicate, _ = quarantined
    Merge.objects.update(at=timezone.now() - timedelta(days=settings.DEDUPE_RETENTION_DAYS + 1))
    out = io.StringIO()

    call_command("purge_quarantined", stdout=out)
    assert f"would purge image {duplicate.pk}" in out.getvalue() and "nothing deleted" in out.getvalue()
    assert default_storage.exists(duplicate.storage_name)

    call_command("purge_quarantined", "--apply", stdout=out)
    assert f"purged image {duplicate.pk}" in out.getvalue()
    assert not default_storage.exists(duplicate.storage_name)
    assert AuditEvent.objects.get(action="asset.purge").actor_name == "system:purge_quarantined"


def test_a_purge_past_retention_deletes_the_bytes_and_keeps_the_thumbnail(quarantined):
    duplicate, merge = quarantined

    summary = purge_quarantined(dry_run=False, now=later())

    assert summary.purged_count == 1 and summary.bytes_by_source == {"permits": duplicate.byte_size}
    assert not default_storage.exists(duplicate.storage_name)
    assert default_storage.exists(duplicate.thumbnail_name)
    assert Asset.objects.get(pk=duplicate.pk).state == "purged"
    purge = Purge.objects.get()
    assert (purge.asset_id, purge.sha256, purge.byte_size, purge.source.slug) == (
        duplicate.pk,
        duplicate.sha256,
        duplicate.byte_size,
        "permits",
    )
    event = AuditEvent.objects.get(action="asset.purge")
    assert event.after["sha256"] == duplicate.sha256 and event.after["byte_size"] == duplicate.byte_size
    assert event.after["state"] == "purged" and event.before["state"] == "quarantined"
    assert {(s.kind, s.object_id) for s in event.subjects.all()} >= {
        ("asset", str(duplicate.pk)),
        ("merge", str(merge.pk)),
    }


def test_it_refuses_an_asset_a_placeholder_points_at(permits, archivist):
    _, [(_, keep), (record, duplicate)] = permits
    store_bytes(keep, duplicate)
    strip(record.attachments.get())  # stripped on the duplicate: a restore may want it back
    merged(keep, duplicate, archivist)

    summary = purge_quarantined(dry_run=False, now=later())

    assert summary.purged_count == 0
    [refused] = summary.refused
    assert refused.asset_id == duplicate.pk and refused.reasons == ["1 placeholder(s) still point at it"]
    assert default_storage.exists(duplicate.storage_name)


def test_it_refuses_an_asset_restored_onto_its_placeholder(permits, archivist):
    _, [(kept_record, keep), (record, duplicate)] = permits
    store_bytes(keep, duplicate)
    merged(keep, duplicate, archivist)
    attachment = strip(record.attachments.get(), "the kept copy looks wrong")
    attachment_restore(attachment_id=attachment.pk, asset_id=duplicate.pk, actor=archivist, reason="the original")

    assert purge_quarantined(dry_run=False, now=later()).purged_count == 0
    assert Asset.objects.get(pk=duplicate.pk).state == "quarantined"


def test_it_refuses_a_held_asset(quarantined, archivist):
    duplicate, _ = quarantined
    LegalHold.objects.create(asset=duplicate, reason="litigation 2024-17", placed_by=archivist)

    summary = purge_quarantined(dry_run=False, now=later())

    assert summary.purged_count == 0
    assert summary.refused[0].reasons == [f"image {duplicate.pk} is under legal hold: litigation 2024-17"]
    assert default_storage.exists(duplicate.storage_name)


def test_it_refuses_an_asset_a_held_record_showed_before_its_merge(permits, quarantined, archivist):
    """holds_on only sees records that show the asset now; a merge moved this record away from it."""
    _, [_, (record, _)] = permits
    duplicate, merge = quarantined
    LegalHold.objects.create(record=record, reason="evidence in a permit appeal", placed_by=archivist)

    summary = purge_quarantined(dry_run=False, now=later())

    assert summary.purged_count == 0
    assert f"before merge {merge.pk}" in summary.refused[0].reasons[0]


def test_a_lifted_hold_no_longer_refuses(quarantined, archivist):
    duplicate, _ = quarantined
    LegalHold.objects.create(asset=duplicate, reason="x", placed_by=archivist, lifted_at=timezone.now())

    assert purge_quarantined(dry_run=False, now=later()).purged_count == 1


def test_it_refuses_an_asset_within_retention(quarantined):
    duplicate, _ = quarantined

    for now in (None, later(days=-1)):
        summary = purge_quarantined(dry_run=False, now=now)
        assert summary.purged_count == 0
        assert summary.refused[0].reasons[0].startswith("within retention")
    assert Asset.objects.get(pk=duplicate.pk).state == "quarantined"


def test_it_skips_and_reports_an_asset_quarantined_without_a_live_merge(permits):
    _, [(_, asset), _] = permits
    Asset.objects.filter(pk=asset.pk).update(state="quarantined")

    summary = purge_plan(now=later())

    assert [(i.asset_id, i.reasons) for i in summary.refused] == [
        (
            asset.pk,
            [
                "quarantined without a live merge: nothing says which image replaced it",
                "1 placeholder(s) still point at it",
            ],
        )
    ]


def test_after_a_purge_the_merge_cannot_be_undone(quarantined, archivist):
    _, merge = quarantined
    purge_quarantined(dry_run=False, now=later())

    with pytest.raises(MergeRefused, match="purged"):
        unmerge(merge_id=merge.pk, actor=archivist)
    assert Merge.objects.get(pk=merge.pk).undone_at is None


def test_an_undone_merge_is_not_purged(quarantined, archivist):
    duplicate, merge = quarantined
    unmerge(merge_id=merge.pk, actor=archivist)

    assert purge_quarantined(dry_run=False, now=later()).purged_count == 0
    assert default_storage.exists(duplicate.storage_name)


def test_purging_twice_purges_once(quarantined):
    assert purge_quarantined(dry_run=False, now=later()).purged_count == 1
    assert purge_quarantined(dry_run=False, now=later()).purged_count == 0
    assert Purge.objects.count() == 1 and AuditEvent.objects.filter(action="asset.purge").count() == 1


def test_the_scheduled_task_purges_for_real(quarantined, settings):
    from review.tasks import purge_quarantined_task

    duplicate, _ = quarantined
    settings.DEDUPE_RETENTION_DAYS = 0

    result = purge_quarantined_task()

    assert result["purged"] == 1 and result["bytes_by_source"] == {"permits": duplicate.byte_size}
    assert purge_quarantined_task.name == settings.CELERY_BEAT_SCHEDULE["purge-quarantined"]["task"]


def test_storage_figures_show_bytes_per_source_and_what_approval_would_reclaim(quarantined, cases):
    duplicate, _ = quarantined
    purge_quarantined(dry_run=False, now=later())
    _, [(_, first), (_, second)] = cases
    Candidate.objects.create(asset_a=first, asset_b=second, kind="exact", score=1.0)
    Candidate.objects.create(asset_a=duplicate, asset_b=second, kind="near", score=0.8)

    figures = storage_figures()

    by_slug = {row["slug"]: row for row in figures.sources}
    assert by_slug["permits"]["reclaimed_bytes"] == duplicate.byte_size
    assert by_slug["permits"]["active_bytes"] == 1000 and by_slug["permits"]["quarantined_bytes"] == 0
    assert by_slug["cases"]["active_bytes"] == 1000 + 1001 and by_slug["cases"]["reclaimed_bytes"] == 0
    assert figures.totals["reclaimed_bytes"] == duplicate.byte_size
    assert figures.reclaimed_by_day == [(timezone.localdate(), duplicate.byte_size)]
    assert figures.open_candidates == {"exact": 1, "pixel": 0, "near": 1, "partial": 0}
    assert figures.exact_estimate == {"assets": 1, "bytes": second.byte_size}
    assert [row["slug"] for row in storage_figures(within={first.source_id}).sources] == ["cases"]


def test_the_auditor_still_sees_the_evidence_after_the_original_is_purged(quarantined, client, auditor):
    duplicate, merge = quarantined
    purge_quarantined(dry_run=False, now=later())
    decided = AuditEvent.objects.filter(action="decision.apply", subjects__kind="decision",
                                        subjects__object_id=str(merge.decision_id)).get()  # fmt: skip
    client.force_login(auditor)

    page = client.get(f"/audit/events/{decided.pk}/").content.decode()
    thumbnail = client.get(f"/assets/{duplicate.pk}/thumbnail/")

    assert f"/assets/{duplicate.pk}/thumbnail/" in page and f"/assets/{merge.canonical_id}/thumbnail/" in page
    assert thumbnail.status_code == 200 and b"".join(thumbnail.streaming_content)[:4] == b"RIFF"
    assert client.get(f"/assets/{duplicate.pk}/original/").status_code == 404  # the bytes are gone


def test_each_refusal_carries_its_code_beside_its_words(permits, archivist):
    _, [(_, keep), (record, duplicate)] = permits
    store_bytes(keep, duplicate)
    strip(record.attachments.get())
    merged(keep, duplicate, archivist)
    LegalHold.objects.create(asset=duplicate, reason="litigation 2024-17", placed_by=archivist)

    [refused] = purge_plan().refused

    assert refused.refusals == [Refusal.WITHIN_RETENTION, Refusal.POINTED_AT, Refusal.HELD]
    assert len(refused.reasons) == 3 and refused.as_json()["refusals"] == ["within_retention", "pointed_at", "held"]


def test_the_command_counts_assets_only_waiting_for_retention_and_lists_the_rest(quarantined, archivist):
    duplicate, _ = quarantined
    out = io.StringIO()

    call_command("purge_quarantined", stdout=out)
    assert "1 quarantined image(s) still within" in out.getvalue() and "kept image" not in out.getvalue()

    LegalHold.objects.create(asset=duplicate, reason="litigation 2024-17", placed_by=archivist)
    out = io.StringIO()
    call_command("purge_quarantined", stdout=out)
    assert f"kept image {duplicate.pk} (permits): within retention" in out.getvalue()
    assert "still within" not in out.getvalue()
