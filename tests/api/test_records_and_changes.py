"""A record's imagery status, and the feed of moves of a source's references."""

import pytest

from dedupe.models import Asset, Attachment
from review.services.merges import unmerge
from review.services.placeholders import attachment_restore
from tests.factories import jpeg_bytes, merged, photo, store_bytes, strip, user_with_role


def _upload(client, seed: int, record_id: str) -> Asset:
    body = client.upload("building-permits", jpeg_bytes(photo(seed)), record_id=record_id).json()
    return Asset.objects.get(pk=body["image"]["id"])


def test_a_record_lists_each_slot_and_what_it_shows(permit_tablets):
    asset = _upload(permit_tablets, 50, "P-1")
    body = permit_tablets.get("/api/v1/sources/building-permits/records/P-1").json()
    assert body["record_id"] == "P-1" and len(body["slots"]) == 1
    slot = body["slots"][0]
    assert slot["state"] == "attached" and slot["image"]["id"] == asset.pk and slot["restore_pending"] is False


def test_a_stripped_slot_says_why_since_when_and_that_a_restore_waits(permit_tablets):
    asset = _upload(permit_tablets, 51, "P-1")
    attachment = strip(Attachment.objects.get(), reason="a past cleanup removed the image")
    body = permit_tablets.get("/api/v1/sources/building-permits/records/P-1").json()
    slot = body["slots"][0]
    assert slot["state"] == "stripped" and slot["reason"] == "a past cleanup removed the image"
    assert slot["since"].startswith(str(attachment.history.latest("at").at.date()))
    assert slot["restore_pending"] is True and slot["restore_suggestions"] >= 1
    assert slot["image"]["id"] == asset.pk  # the image it showed, kept


def test_an_unknown_record_is_a_404_problem(permit_tablets):
    response = permit_tablets.get("/api/v1/sources/building-permits/records/NOPE")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_the_feed_follows_a_merge_its_unmerge_and_a_restore_with_a_stable_cursor(permit_tablets, permits):
    keep, duplicate = _upload(permit_tablets, 52, "P-1"), _upload(permit_tablets, 53, "P-2")
    feed = "/api/v1/sources/building-permits/changes"
    uploads = permit_tablets.get(feed).json()
    assert [c["kind"] for c in uploads["changes"]] == ["upload", "upload"]
    cursor = uploads["next"]

    archivist = user_with_role("archie", "archivist")
    store_bytes(keep, duplicate)
    merge = merged(keep, duplicate, archivist)
    page = permit_tablets.get(feed, {"after": cursor}).json()
    assert [(c["kind"], c["record_id"], c["from_image"], c["to_image"]) for c in page["changes"]] == [
        ("merge", "P-2", duplicate.pk, keep.pk)
    ]
    assert permit_tablets.get(feed, {"after": page["next"]}).json()["changes"] == []

    unmerge(merge_id=merge.pk, actor=archivist)
    attachment = strip(Attachment.objects.get(record__external_id="P-1"))
    attachment_restore(attachment_id=attachment.pk, asset_id=keep.pk, actor=archivist, reason="found it")
    later = permit_tablets.get(feed, {"after": page["next"]}).json()
    assert [(c["kind"], c["record_id"]) for c in later["changes"]] == [
        ("unmerge", "P-2"),
        ("other", "P-1"),
        ("restore", "P-1"),
    ]
    assert later["changes"][0]["to_image"] == duplicate.pk
    # The same cursor gives the same page: nothing is rewritten, and paging by one step agrees.
    assert permit_tablets.get(feed, {"after": page["next"]}).json() == later
    one = permit_tablets.get(feed, {"after": page["next"], "limit": 1}).json()
    assert one["changes"] == later["changes"][:1]


def test_the_feed_shows_only_the_sources_own_references(permit_tablets, housing_system):
    _upload(permit_tablets, 54, "P-1")
    assert housing_system.get("/api/v1/sources/housing-cases/changes").json()["changes"] == []


@pytest.mark.parametrize("cursor", ["drop table", "1", "1.2.3", "99999999999999999999.1", "-1.0", "1.-0"])
def test_a_cursor_not_from_the_feed_is_a_400_problem(permit_tablets, cursor):
    response = permit_tablets.get("/api/v1/sources/building-permits/changes", {"after": cursor})
    assert response.status_code == 400 and response.json()["type"].endswith("/bad-cursor")
