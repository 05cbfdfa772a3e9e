"""Which copy to keep: ordered keeper rules over plain facts about the copies. No ORM here.

Each rule ranks the copies; the first rule that prefers one copy over all the others decides,
and its wording is the reason shown to the reviewer. Ties fall through to the next rule, and
the last resort (lowest asset id, i.e. imported first) always decides.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Copy:
    """What the rules look at for one asset."""

    asset_id: int
    source: str
    pixels: int
    byte_size: int
    exif_captured_at: datetime | None
    imported_at: datetime


Rank = Callable[[Copy], tuple]

# name -> (how to rank, higher is better; why, as the reviewer reads it)
RULES: dict[str, tuple[Rank, str]] = {
    "most_pixels": (lambda c: (c.pixels,), "it has the most pixels"),
    # More bytes per pixel means less lossy compression, for the same picture.
    "least_recompressed": (lambda c: (c.byte_size / max(c.pixels, 1),), "it is the least re-compressed"),
    "exif_capture_time": (lambda c: (c.exif_captured_at is not None,), "it keeps the original EXIF capture time"),
    "earliest_import": (lambda c: (-c.imported_at.timestamp(),), "it was imported first"),
}
DEFAULT_RULES = ["most_pixels", "least_recompressed", "exif_capture_time", "earliest_import"]
SYSTEM_OF_RECORD = "source:"  # e.g. "source:building-permits": copies from that source first


def rule_names_unknown(rules: Sequence[str]) -> list[str]:
    """The names in `rules` that are not rules, in order (for the admin form's message); [] if all are."""
    return [r for r in rules if r not in RULES and not (r.startswith(SYSTEM_OF_RECORD) and len(r) > 7)]


def suggest(copies: Sequence[Copy], rules: Sequence[str] = ()) -> tuple[int, str]:
    """The asset to keep and why. `rules` in order; the defaults follow whatever is given."""
    if not copies:
        raise ValueError("no copies to choose from")
    remaining = list(copies)
    for name in [*rules, *DEFAULT_RULES]:
        rank, why = _rule(name)
        best = max(rank(c) for c in remaining)
        leaders = [c for c in remaining if rank(c) == best]
        if len(leaders) == 1:
            return leaders[0].asset_id, f"Suggested because {why}."
        remaining = leaders
    first = min(remaining, key=lambda c: c.asset_id)
    return first.asset_id, "Suggested because the copies are alike and it was imported first."


def _rule(name: str) -> tuple[Rank, str]:
    if name.startswith(SYSTEM_OF_RECORD):
        slug = name.removeprefix(SYSTEM_OF_RECORD)
        return (lambda c: (c.source == slug,)), f"it comes from the system of record ({slug})"
    return RULES[name]
