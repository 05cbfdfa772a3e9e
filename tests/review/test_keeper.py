"""The keeper rules, pure: the first rule that singles out one copy decides, and says why."""

from datetime import UTC, datetime, timedelta

import pytest

from review.keeper import RULES, Copy, rule_names_unknown, suggest

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def copy(asset_id, *, source="permits", pixels=100, size=1000, exif=None, imported=0):
    return Copy(asset_id, source, pixels, size, exif, T0 + timedelta(days=imported))


def test_by_default_the_most_pixels_win():
    assert suggest([copy(1, pixels=100), copy(2, pixels=400)]) == (2, "Suggested because it has the most pixels.")


def test_a_tie_falls_through_to_the_next_rule():
    keep, why = suggest([copy(1, size=500), copy(2, size=900)])

    assert keep == 2 and "least re-compressed" in why


def test_the_system_of_record_comes_first_when_the_source_says_so():
    copies = [copy(1, source="care-plus", pixels=900), copy(2, source="building-permits", pixels=100)]

    assert suggest(copies) == (1, "Suggested because it has the most pixels.")
    keep, why = suggest(copies, ["source:building-permits"])
    assert keep == 2 and "system of record (building-permits)" in why


def test_original_capture_time_and_then_the_first_import_decide_among_equals():
    assert suggest([copy(1), copy(2, exif=T0)])[0] == 2
    assert suggest([copy(5, imported=3), copy(6, imported=1)])[0] == 6
    assert suggest([copy(8), copy(7)]) == (7, "Suggested because the copies are alike and it was imported first.")


def test_unknown_rule_names_are_reported_and_an_empty_choice_refused():
    assert rule_names_unknown(["most_pixels", "biggest", "source:", "source:x"]) == ["biggest", "source:"]
    assert rule_names_unknown(["source:permits", *RULES]) == []
    with pytest.raises(ValueError):
        suggest([])
