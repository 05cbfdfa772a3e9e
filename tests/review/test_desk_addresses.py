"""The desk's Address row: flagged only when the two images' records name different properties,
with what differs said beside it; another spelling of one address is not flagged."""

import pytest

from dedupe.models import Candidate, Record
from tests.factories import archive_rows

pytestmark = pytest.mark.django_db

FLAGGED = '<tr class="differs conflict"><th scope="row">Address</th>'
NOT_FLAGGED = '<tr class="same"><th scope="row">Address</th>'


def pair_at(address_a: str, address_b: str) -> Candidate:
    _, made = archive_rows("permits", records=2)
    (record_a, asset_a), (record_b, asset_b) = made
    Record.objects.filter(pk=record_a.pk).update(address=address_a)
    Record.objects.filter(pk=record_b.pk).update(address=address_b)
    return Candidate.objects.create(asset_a=asset_a, asset_b=asset_b, kind="near", score=0.9)


def review_page(client, user, candidate: Candidate) -> str:
    client.force_login(user)
    return client.get(f"/candidates/{candidate.pk}/").content.decode()


def test_it_does_not_flag_another_spelling_of_one_address(client, archivist):
    c = pair_at("755 S Figueroa St", "755 SOUTH FIGUEROA STREET, LOS ANGELES, CA 90017")

    page = review_page(client, archivist, c)

    assert NOT_FLAGGED in page and FLAGGED not in page
    assert "Address differs" not in page
    assert "755 SOUTH FIGUEROA STREET, LOS ANGELES, CA 90017" in page  # both spellings are still shown


def test_it_flags_another_house_number_and_says_so(client, archivist):
    c = pair_at("755 S Figueroa St", "757 S FIGUEROA STREET")

    page = review_page(client, archivist, c)

    assert FLAGGED in page
    note = page.split(FLAGGED)[1].split("</tr>")[1]  # the row right after the address
    assert '<th scope="row">Address differs</th><td colspan="2">house number 755 vs 757</td>' in note


def test_it_flags_another_unit_of_one_building(client, archivist):
    page = review_page(client, archivist, pair_at("12 Main St Apt 2", "12 Main St # 3"))

    assert FLAGGED in page and "unit APT 2 vs # 3" in page


def test_a_record_without_an_address_is_not_a_conflict(client, archivist):
    page = review_page(client, archivist, pair_at("unknown", "12 Main St"))

    assert NOT_FLAGGED in page and "Address differs" not in page


def test_what_differs_is_shown_as_text(client, archivist):
    page = review_page(client, archivist, pair_at("<script>alert(1)</script>", "12 Main St"))

    assert FLAGGED in page
    assert "<script>alert" not in page
    assert "address SCRIPT ALERT 1 SCRIPT vs 12 MAIN ST" in page  # compared without its punctuation
