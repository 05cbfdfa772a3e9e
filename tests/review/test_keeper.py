"""The keeper rules, pure: the first rule that singles out one copy decides, and says why."""

from datetime import UTC, datetime, timedelta

import pytest

from review.keeper import RULES, Copy, rule_names_unknown, suggest, suggestion

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def copy(asset_id, *, source="permits", pixels=100_000, size=1000, exif=None, imported=0, quality=None):
    return Copy(asset_id, source, pixels, size, exif, T0 + timedelta(days=imported), quality)


def test_by_default_the_most_picture_wins():
    assert suggest([copy(1, pixels=100), copy(2, pixels=400)]) == (
        2,
        "Suggested because it has the most picture (bars trimmed).",
    )


def test_pictures_within_one_percent_are_equal_and_the_next_rule_decides():
    keep, why = suggest([copy(1, pixels=300_000, quality=70), copy(2, pixels=301_000, quality=90)])

    assert keep == 2 and "least re-compressed" in why
    keep, _ = suggest([copy(1, pixels=300_000, quality=90), copy(2, pixels=301_000, quality=70)])
    assert keep == 1, "a copy 0.3 % larger is not a better copy"


def test_quality_decides_only_when_the_estimates_differ_and_both_are_known():
    keep, why = suggest([copy(1, quality=88, imported=2), copy(2, quality=88, imported=1)])
    assert keep == 2 and "imported first" in why, "88 against 88 says nothing"
    keep, why = suggest([copy(1, quality=None, imported=2), copy(2, quality=60, imported=1)])
    assert keep == 2 and "imported first" in why, "a missing estimate says nothing either"
    keep, why = suggest([copy(1, quality=92, imported=2), copy(2, quality=60, imported=1)])
    assert keep == 1 and "least re-compressed" in why


def test_the_fact_the_reason_rests_on_is_given_for_each_copy():
    chosen = suggestion([copy(1, pixels=307_200), copy(2, pixels=230_400)])

    assert chosen.facts == {1: "307,200 picture pixels", 2: "230,400 picture pixels"}
    chosen = suggestion([copy(1, quality=75), copy(2, quality=95)])
    assert chosen.asset_id == 2 and chosen.facts == {1: "JPEG quality ≈ 75", 2: "JPEG quality ≈ 95"}


def test_the_system_of_record_comes_first_when_the_source_says_so():
    copies = [copy(1, source="care-plus", pixels=900), copy(2, source="building-permits", pixels=100)]

    assert suggest(copies) == (1, "Suggested because it has the most picture (bars trimmed).")
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
