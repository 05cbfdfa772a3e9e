"""Which copy to keep: ordered keeper rules over plain facts about the copies. No ORM here.

Each rule narrows the copies to those it prefers; the first rule that leaves one copy decides,
and its wording is the reason shown to the reviewer, with the fact it read for each copy so the
reviewer can check it. A rule that cannot tell the copies apart (a tie, or a fact missing for
one of them) passes them all to the next rule, and the last resort (lowest asset id, i.e.
imported first) always decides.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


@dataclass(frozen=True)
class Copy:
    """What the rules look at for one asset. `pixels` counts picture: letterbox bars trimmed."""

    asset_id: int
    source: str
    pixels: int
    byte_size: int
    exif_captured_at: datetime | None
    imported_at: datetime
    quality: int | None = None  # JPEG quality estimate from the quantisation table; None otherwise


class Suggestion(NamedTuple):
    asset_id: int
    why: str
    # The fact the deciding rule read, per asset id: what the desk shows beside each image.
    facts: dict[int, str]


# Picture sizes within this share of the largest count as equal: trimming bars is exact to a few
# rows, and a copy one row taller is not a better copy.
PIXEL_TOLERANCE = 0.01

Narrow = Callable[[list[Copy]], list[Copy]]


def _most_pixels(copies: list[Copy]) -> list[Copy]:
    best = max(c.pixels for c in copies)
    return [c for c in copies if c.pixels >= best * (1 - PIXEL_TOLERANCE)]


def _least_recompressed(copies: list[Copy]) -> list[Copy]:
    """Only when every copy has an estimate: a PNG made from a JPEG says nothing by its format."""
    if any(c.quality is None for c in copies):
        return copies
    best = max(c.quality or 0 for c in copies)
    return [c for c in copies if c.quality == best]


def _first_by(key: Callable[[Copy], tuple]) -> Narrow:
    def narrow(copies: list[Copy]) -> list[Copy]:
        best = max(key(c) for c in copies)
        return [c for c in copies if key(c) == best]

    return narrow


# name -> (how it narrows the copies; why, as the reviewer reads it; the fact it reads, per copy)
RULES: dict[str, tuple[Narrow, str, Callable[[Copy], str]]] = {
    "most_pixels": (_most_pixels, "it has the most picture (bars trimmed)", lambda c: f"{c.pixels:,} picture pixels"),
    "least_recompressed": (
        _least_recompressed,
        "it is the least re-compressed (highest JPEG quality estimate)",
        lambda c: f"JPEG quality ≈ {c.quality}" if c.quality is not None else "no JPEG quality estimate",
    ),
    "exif_capture_time": (
        _first_by(lambda c: (c.exif_captured_at is not None,)),
        "it keeps the original EXIF capture time",
        lambda c: f"EXIF capture time {c.exif_captured_at:%Y-%m-%d %H:%M}" if c.exif_captured_at else "no EXIF time",
    ),
    "earliest_import": (
        _first_by(lambda c: (-c.imported_at.timestamp(),)),
        "it was imported first",
        lambda c: f"imported {c.imported_at:%Y-%m-%d %H:%M}",
    ),
}
DEFAULT_RULES = ["most_pixels", "least_recompressed", "exif_capture_time", "earliest_import"]
SYSTEM_OF_RECORD = "source:"  # e.g. "source:building-permits": copies from that source first


def rule_names_unknown(rules: Sequence[str]) -> list[str]:
    """The names in `rules` that are not rules, in order (for the admin form's message); [] if all are."""
    return [r for r in rules if r not in RULES and not (r.startswith(SYSTEM_OF_RECORD) and len(r) > 7)]


def suggest(copies: Sequence[Copy], rules: Sequence[str] = ()) -> tuple[int, str]:
    """The asset to keep and why. `rules` in order; the defaults follow whatever is given."""
    chosen = suggestion(copies, rules)
    return chosen.asset_id, chosen.why


def suggestion(copies: Sequence[Copy], rules: Sequence[str] = ()) -> Suggestion:
    """`suggest`, with the fact the deciding rule read for each copy."""
    if not copies:
        raise ValueError("no copies to choose from")
    remaining = list(copies)
    for name in [*rules, *DEFAULT_RULES]:
        narrow, why, fact = _rule(name)
        leaders = narrow(remaining)
        if len(leaders) == 1:
            return Suggestion(leaders[0].asset_id, f"Suggested because {why}.", {c.asset_id: fact(c) for c in copies})
        remaining = leaders
    first = min(remaining, key=lambda c: c.asset_id)
    facts = {c.asset_id: f"image {c.asset_id}" for c in copies}
    return Suggestion(first.asset_id, "Suggested because the copies are alike and it was imported first.", facts)


def _rule(name: str) -> tuple[Narrow, str, Callable[[Copy], str]]:
    if name.startswith(SYSTEM_OF_RECORD):
        slug = name.removeprefix(SYSTEM_OF_RECORD)
        return (
            _first_by(lambda c: (c.source == slug,)),
            f"it comes from the system of record ({slug})",
            (lambda c: f"source {c.source}"),
        )
    return RULES[name]
