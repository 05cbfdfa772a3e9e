"""Whether two images' records name different properties, from their addresses as parsed parts.

Record systems spell one property many ways (`755 S Figueroa St`, `755 SOUTH FIGUEROA STREET,
LOS ANGELES, CA 90017`), so comparing strings flagged most pairs and the flag stopped meaning
anything. An address is parsed by `usaddress` and its parts normalised to USPS Publication 28
abbreviations by `usaddress-scourgify`; two addresses conflict only when a part both of them
state differs. An address that does not parse as a street address (a landmark, a PO box, text)
is compared as a string, with case, whitespace and punctuation ignored. Pure: no ORM.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import usaddress

# On import scourgify merges config/address_constants.yaml (under the working directory) into its
# abbreviation tables when such a file exists; none does here, so Pub 28's tables apply as published.
from scourgify.cleaning import pre_clean_addr_str
from scourgify.exceptions import AddressNormalizationError
from scourgify.normalize import normalize_address_components, parse_address_string

# Record.address holds at most 500 characters; longer text is cut before parsing, so a hostile
# string costs what an address does (the parser's time grows with the number of words).
MAX_LENGTH = 500
# Distinct parsed addresses are few (a record system's properties); the desk parses the same few
# on every page and a scan chunk meets each property's spellings many times.
CACHE_SIZE = 65_536
# The closest pair is looked for among at most this many addresses a side: an image shown on
# hundreds of records is rare, and the sentence needs only a representative difference.
MAX_DESCRIBED = 20
# What a record system writes when it has no address: no property, so nothing to conflict with.
PLACEHOLDERS = frozenset({"", "UNKNOWN", "NONE", "N A", "NA", "NO ADDRESS", "TBD"})
# Each part shown in the sentence is cut to this, so it stays short whatever a record holds.
SHOWN_LENGTH = 60
# Pub 28 writes numbered streets in figures; scourgify only adds the ordinal to a bare number.
# fmt: off
ORDINALS = {
    "FIRST": "1ST", "SECOND": "2ND", "THIRD": "3RD", "FOURTH": "4TH", "FIFTH": "5TH", "SIXTH": "6TH",
    "SEVENTH": "7TH", "EIGHTH": "8TH", "NINTH": "9TH", "TENTH": "10TH", "ELEVENTH": "11TH", "TWELFTH": "12TH",
    "THIRTEENTH": "13TH", "FOURTEENTH": "14TH", "FIFTEENTH": "15TH", "SIXTEENTH": "16TH", "SEVENTEENTH": "17TH",
    "EIGHTEENTH": "18TH", "NINETEENTH": "19TH", "TWENTIETH": "20TH",
}
# fmt: on


@dataclass(frozen=True)
class Address:
    """One address: its Pub 28 parts when it parses as a street address, else only `text`.

    Empty strings are parts the address does not state. `text` (upper case, punctuation and
    extra whitespace removed) is what an address that does not parse is compared by.
    """

    text: str
    parsed: bool = False
    number: str = ""
    predirectional: str = ""
    name: str = ""
    street_type: str = ""
    postdirectional: str = ""
    unit_type: str = ""
    unit: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""

    @property
    def street(self) -> str:
        """The street as Pub 28 writes it: `S FIGUEROA ST`."""
        parts = (self.predirectional, self.name, self.street_type, self.postdirectional)
        return " ".join(part for part in parts if part)

    @property
    def unit_shown(self) -> str:
        return f"{self.unit_type or '#'} {self.unit}"


def address_clean(text: str) -> str:
    """Bounded, printable text: control and format characters become spaces, compatibility forms
    fold (full-width digits), whitespace collapses. Cut before anything else looks at it."""
    text = unicodedata.normalize("NFKC", text[:MAX_LENGTH])[:MAX_LENGTH]  # NFKC can expand a character 18-fold
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(text.split())


def _plain(text: str) -> str:
    """The string comparison an unparsed address falls back to: case, punctuation, spacing ignored
    ("P.O. Box" is "PO BOX", "St. Mary's" is "ST MARYS")."""
    return " ".join(re.findall(r"\w+", re.sub(r"[.'’]", "", text.upper())))


def address_parse(text: str) -> Address | None:
    """The address's parts, or None when it names no property (empty, "unknown", ...)."""
    return _parse(address_clean(text))


@lru_cache(maxsize=CACHE_SIZE)
def _parse(cleaned: str) -> Address | None:
    plain = _plain(cleaned)
    if plain in PLACEHOLDERS:
        return None
    try:
        tags = normalize_address_components(parse_address_string(pre_clean_addr_str(cleaned)))
    except (AddressNormalizationError, usaddress.RepeatedLabelError, ValueError, KeyError, IndexError):
        # scourgify refuses ambiguous text (a recipient, a PO box) and its occupancy rules raise the
        # rest on odd input; any of these is an address that is not a street address.
        return Address(text=plain)
    if not tags.get("AddressNumber") or not tags.get("StreetName"):
        return Address(text=plain)  # a landmark, an intersection, a bare street: no property to compare
    return _from_tags(tags, plain)


def _from_tags(tags: dict[str, str], plain: str) -> Address:
    def part(*labels: str) -> str:
        return _plain(" ".join(tags.get(label) or "" for label in labels))

    unit = _plain((tags.get("OccupancyIdentifier") or "") + " " + (tags.get("SubaddressIdentifier") or ""))
    return Address(
        text=plain,
        parsed=True,
        number=part("AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix"),
        predirectional=part("StreetNamePreDirectional"),
        # A pre-type ("Avenue B") and pre-modifier ("Old") are part of the name in Pub 28.
        name=" ".join(
            ORDINALS.get(w, w) for w in part("StreetNamePreModifier", "StreetNamePreType", "StreetName").split()
        ),
        street_type=part("StreetNamePostType"),
        postdirectional=part("StreetNamePostDirectional"),
        unit_type=part("OccupancyType", "SubaddressType"),
        unit=unit,  # "# 2" and "APT 2" both give "2"
        city=part("PlaceName"),
        state=part("StateName"),
        zip=part("ZipCode")[:5],  # ZIP+4 and ZIP name one area
    )


def address_differences(a: Address, b: Address) -> list[str]:
    """What two addresses state differently, part by part; [] when they may be one property.

    A part only one of them states (a directional, a street type, a unit, a city, a ZIP) is not a
    difference: a parcel archive records the building where a housing case records the flat, and
    most systems leave out the city. A ZIP counts only when a city is missing from either side:
    within one city the number and street name the property, and ZIPs are often mistyped.
    """
    if not (a.parsed and b.parsed):
        return [] if a.text == b.text else [_said("address", a.text, b.text)]
    found = []
    if a.number != b.number:
        found.append(_said("house number", a.number, b.number))
    if a.name != b.name or any(
        x and y and x != y
        for x, y in (
            (a.predirectional, b.predirectional),
            (a.street_type, b.street_type),
            (a.postdirectional, b.postdirectional),
        )
    ):
        found.append(_said("street", a.street, b.street))
    if a.unit and b.unit and a.unit != b.unit:
        found.append(_said("unit", a.unit_shown, b.unit_shown))
    for label, x, y in (("city", a.city, b.city), ("state", a.state, b.state)):
        if x and y and x != y:
            found.append(_said(label, x, y))
    if a.zip and b.zip and a.zip != b.zip and not (a.city and b.city):
        found.append(_said("ZIP", a.zip, b.zip))
    return found


def _said(part: str, x: str, y: str) -> str:
    return f"{part} {_shown(x)} vs {_shown(y)}"


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"


def address_conflict(a: Iterable[str], b: Iterable[str]) -> str | None:
    """None when the two images' records may show one property; else a short sentence of what differs.

    Each image may be attached to several records: they conflict only when no address of one
    agrees with any address of the other. An image with no address conflicts with nothing.
    """
    left = _distinct(a)
    right = _distinct(b)
    if not left or not right:
        return None
    # Agreeing needs the same number and street name, or the same text: only those pairs are compared,
    # so an image shown on many records costs in proportion to them, not to their square.
    by_key: dict[tuple[str, ...], list[Address]] = {}
    for y in right:
        for key in _keys(y):
            by_key.setdefault(key, []).append(y)
    if any(not address_differences(x, y) for x in left for key in _keys(x) for y in by_key.get(key, ())):
        return None
    pairs = product(left[:MAX_DESCRIBED], right[:MAX_DESCRIBED])
    closest = min((address_differences(x, y) for x, y in pairs), key=len)
    return ", ".join(closest)


def _distinct(texts: Iterable[str]) -> list[Address]:
    found = {parsed for text in texts if (parsed := address_parse(text)) is not None}
    return sorted(found, key=lambda x: x.text)


def _keys(x: Address) -> list[tuple[str, ...]]:
    return [("text", x.text), ("street", x.number, x.name)] if x.parsed else [("text", x.text)]


SUFFIXES = {"street": "st", "boulevard": "blvd", "avenue": "ave", "drive": "dr", "road": "rd", "place": "pl"}


def address_key(address: str) -> str:
    """One spelling of a street address: number and street, case and suffix spelling ignored.

    "15595 Figueroa Street, Los Angeles, CA 90094" and "15595 FIGUEROA ST" both give
    "15595 figueroa st". An address without a house number gives "" (no block).
    """
    street = address.split(",")[0].casefold()
    words = [SUFFIXES.get(w, w) for w in re.findall(r"[a-z0-9]+", street)]
    if len(words) < 2 or not words[0].isdigit():
        return ""
    return " ".join(words)
