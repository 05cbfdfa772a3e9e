"""Addresses compared as parsed USPS Pub 28 parts: one property however it is spelled, and a
conflict only when a part both addresses state differs (dedupe.addresses; no database)."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedupe import addresses
from dedupe.addresses import MAX_LENGTH, address_conflict, address_parse


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("755 S Figueroa St", "755 SOUTH FIGUEROA STREET, LOS ANGELES, CA 90017"),  # the example
        ("15595 Cesar E Chavez Ave", "15595 CESAR E CHAVEZ AVENUE, Los Angeles, CA"),  # "E" in a name
        ("12 Riverside Drive", "12 riverside dr"),
        ("12 Whittier Boulevard", "12 WHITTIER BLVD"),
        ("12 Main St", "12   main   st."),
        ("12 N Main St", "12 North Main Street"),
        ("12 Main St NW", "12 Main Street Northwest"),
        ("12 Main St", "12 Main St, Los Angeles, CA 90012"),  # city, state and ZIP on one side only
        ("12 Main St, Los Angeles, CA", "12 Main St 90012"),
        ("12 Main St, Los Angeles, CA 90012", "12 Main St, Los Angeles, CA 90017"),  # a mistyped ZIP, one city
        ("12 Main St 90012-1234", "12 Main St 90012"),  # ZIP+4
        ("12 Main St Apt 2", "12 Main St # 2"),
        ("12 Main St Apartment 2", "12 Main St Apt 2"),
        ("12 Main St Apt 2", "12 Main St"),  # the building's record and the flat's
        ("5 First St", "5 1st Street"),
        ("12 Main St", "12 Main"),  # a street type on one side only
        ("12 Main St", "12 S Main St"),  # a directional on one side only
    ],
)
def test_it_takes_spellings_of_one_address_as_one(a, b):
    assert address_conflict([a], [b]) is None
    assert address_conflict([b], [a]) is None


@pytest.mark.parametrize(
    ("a", "b", "said"),
    [
        ("755 S Figueroa St", "757 S FIGUEROA STREET", "house number 755 vs 757"),
        ("755 Figueroa St", "755 Flower Street", "street FIGUEROA ST vs FLOWER ST"),
        ("12 N Main St", "12 S Main St", "street N MAIN ST vs S MAIN ST"),
        ("12 Main St", "12 Main Ave", "street MAIN ST vs MAIN AVE"),
        ("12 Main St Apt 2", "12 Main St # 3", "unit APT 2 vs # 3"),
        ("12 Main St, Pasadena, CA", "12 Main St, Los Angeles, CA", "city PASADENA vs LOS ANGELES"),
        ("12 Main St 90012", "12 Main St 91101", "ZIP 90012 vs 91101"),  # no city to say it is one place
        ("12 Main St", "14 Oak Ave", "house number 12 vs 14, street MAIN ST vs OAK AVE"),
    ],
)
def test_it_says_what_differs_in_a_real_conflict(a, b, said):
    assert address_conflict([a], [b]) == said


def test_an_address_that_does_not_parse_is_compared_as_a_string():
    assert address_parse("City Hall").parsed is False
    assert address_conflict(["City Hall"], ["city  hall."]) is None
    assert address_conflict(["P.O. Box 12"], ["PO BOX 12"]) is None
    assert address_conflict(["City Hall"], ["Union Station"]) == "address CITY HALL vs UNION STATION"
    assert address_conflict(["City Hall"], ["12 Main St"]) == "address CITY HALL vs 12 MAIN ST"


def test_a_record_without_an_address_conflicts_with_nothing():
    assert address_conflict([], ["12 Main St"]) is None
    assert address_conflict(["unknown", "  "], ["12 Main St"]) is None
    assert address_conflict(["N/A"], ["City Hall"]) is None


def test_images_on_several_records_conflict_only_when_no_address_agrees():
    assert address_conflict(["12 Main St", "40 Oak Ave"], ["40 OAK AVENUE"]) is None
    # The sentence names the closest pair, not the first.
    assert address_conflict(["12 Main St", "40 Oak Ave"], ["41 Oak Ave"]) == "house number 40 vs 41"


def test_many_records_cost_in_proportion_to_them():
    many = [f"{n} Main St" for n in range(1, 3000)]
    started = time.perf_counter()
    assert address_conflict(many, ["2999 MAIN STREET"]) is None
    assert address_conflict(many, ["5000 Main St"]) is not None
    assert time.perf_counter() - started < 10


def test_parsing_is_cached():
    addresses._parse.cache_clear()
    address_conflict(["755 S Figueroa St"], ["757 S Figueroa St"])
    address_conflict(["755 S Figueroa St"], ["757 S Figueroa St"])
    info = addresses._parse.cache_info()
    assert (info.misses, info.hits) == (2, 2)


def test_hostile_text_is_bounded_and_never_raises():
    started = time.perf_counter()
    said = address_conflict(["12 Main St " * 200_000], ["12 Main St"])  # parsed as one long street name
    assert said is not None and said.startswith("street ") and len(said) < 200
    said = address_conflict(["9" * 1_000_000], ["x" * 1_000_000])
    assert said is not None and len(said) < 200
    assert time.perf_counter() - started < 5
    assert address_conflict(["12\x00Main\x1bSt\u202e"], ["12 MAIN ST"]) is None  # control characters are spaces
    assert address_conflict(["１２ Main St"], ["12 Main St"]) is None  # full-width digits fold
    assert len(address_parse("x" * 10_000).text) <= MAX_LENGTH
    assert len(address_parse("\ufdfa" * MAX_LENGTH).text) <= MAX_LENGTH  # NFKC makes 18 characters of each


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=80), max_size=3),
    st.lists(
        st.lists(
            st.sampled_from(["12", "#", "Apt", "UN", "N", "St", "&", "-", "(", ",", "PO", "Box", "CA", "9", "\x00"]),
            max_size=10,
        ).map(" ".join),
        max_size=3,
    ),
)
def test_any_text_gives_none_or_a_short_sentence(texts, tokens):
    said = address_conflict(texts, tokens)
    assert said is None or 0 < len(said) < 5 * 200  # at most five parts, each cut short
