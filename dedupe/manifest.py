"""Checking a manifest row's fields before any of them reaches the database or a page.

A manifest is written by another system, often by hand: a source called "Building Permits", a
record id with a NUL byte from a C export, an address with a right-to-left override that makes
"gpj.exe" read as "exe.jpg". Each field is checked here; a row that fails is refused with its
reason, one row failure, never a failed batch (a NUL byte aborts a PostgreSQL transaction).
"""

import re
import unicodedata
from dataclasses import dataclass, replace

from django.utils.text import slugify

# Longest value each field may hold: the columns' lengths, with room in a slot for ".N".
MAX_LENGTH = {"path": 1024, "source": 64, "record_id": 200, "slot": 60, "address": 500, "captured_at": 64}
# Characters that reorder text as it is shown (embeddings, overrides, isolates): refused.
BIDI_CONTROLS = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RowRefused(ValueError):
    """The row cannot be imported; the message names the field and the reason, for a person."""


@dataclass(frozen=True)
class Row:
    """One file to import, as a manifest or a folder walk names it; every field as text."""

    number: int  # 1-based data row (the header is row 0), or the file's index in a folder
    path: str
    source: str
    record_id: str
    slot: str
    address: str = ""
    captured_at: str = ""


def validated(row: Row) -> Row:
    """The row with its source as a slug, or RowRefused naming the first field that is not acceptable."""
    for name, limit in MAX_LENGTH.items():
        value = getattr(row, name)
        if len(value) > limit:
            raise RowRefused(f"{name} is {len(value):,} characters long, over the limit of {limit}")
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise RowRefused(f"{name} is not valid UTF-8 text: {shown(value)}")
        if control := CONTROL.search(value):
            raise RowRefused(f"{name} holds a control character ({ascii(control.group())}): {shown(value)}")
        if bidi := BIDI_CONTROLS.intersection(value):
            raise RowRefused(
                f"{name} holds a character that reorders text as shown ({ascii(min(bidi))}): {shown(value)}"
            )
    slug = slugify(row.source)
    if row.source and not slug:
        raise RowRefused(f"source {shown(row.source)} has no letters or digits to make a name (a slug) from")
    return replace(row, source=slug)


def printable(value: str, limit: int = 1024) -> str:
    """`value` with every invisible or reordering character spelled out (\\x00, \\u202e), cut at `limit`.

    What a refused row's path is stored and shown as: safe for any database, page or log.
    """
    spelled = "".join(
        ascii(c)[1:-1] if c in BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Cf", "Cs") else c
        for c in value[:limit]
    )
    return spelled[:limit]


def shown(value: str, limit: int = 80) -> str:
    """A value quoted for a message."""
    return f'"{printable(value, limit)}"' + ("..." if len(value) > limit else "")
