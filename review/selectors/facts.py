"""The facts a reviewer compares: one row per fact, one column per image, the rows that differ first.

The pair page and the group page show the same table (a pair is a group of two), so what counts
as a difference is decided once: an address differs only when it names another property
(`dedupe.addresses`), never when it is merely spelled another way.
"""

from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import numpy as np

from dedupe import pixels
from dedupe.addresses import address_conflict
from dedupe.models import Asset, Attachment, Candidate
from dedupe.originals import original_open

from ..services.merges import holds_on
from .visibility import visible_sources


@dataclass
class Row:
    label: str
    values: list[Any]
    conflict: str | None = None  # for addresses: what differs between the first image's and another's
    by_property: bool = False

    @property
    def differs(self) -> bool:
        if self.by_property:
            return self.conflict is not None
        return len({str(v) for v in self.values}) > 1

    @property
    def a(self) -> Any:
        return self.values[0]

    @property
    def b(self) -> Any:
        return self.values[1]


def jpeg_quality(asset: Asset) -> int | None:
    if asset.jpeg_quality is not None:  # kept by inspection; older assets are read once per page
        return asset.jpeg_quality
    if asset.format != "JPEG" or asset.state == Asset.State.PURGED:
        return None
    try:
        with original_open(asset) as f:
            return pixels.jpeg_quality(cast(BinaryIO, f))  # a File proxies its binary file
    except OSError:  # a missing file has no estimate; the page still shows
        return None


def _picture(asset: Asset) -> str:
    return f"{asset.picture_pixels:,} pixels" if asset.content_pixels is not None else "not measured"


def records_shown(assets: list[Asset], user) -> dict[int, list[Attachment]]:
    """Each image's attachments in the sources this person may see (no others are ever named)."""
    shown: dict[int, list[Attachment]] = {a.pk: [] for a in assets}
    visible = (
        Attachment.objects.filter(asset__in=assets, record__source__in=visible_sources(user))
        .select_related("record")
        .order_by("pk")
    )
    for attachment in visible:
        if attachment.asset_id is not None:  # filtered on asset__in: always set
            shown[attachment.asset_id].append(attachment)
    return shown


def compare_rows(assets: list[Asset], user, shown: dict[int, list[Attachment]]) -> list[Row]:
    """The comparison table of `assets` (the first is the one others' addresses are checked against)."""

    def records(asset: Asset) -> str:
        return ", ".join(f"{x.record.external_id} (slot {x.slot})" for x in shown[asset.pk]) or "none"

    def addresses(asset: Asset) -> str:
        return "; ".join(sorted({x.record.address for x in shown[asset.pk]})) or "none"

    def address_row() -> Row:
        first = [x.record.address for x in shown[assets[0].pk]]
        found = (address_conflict(first, [x.record.address for x in shown[other.pk]]) for other in assets[1:])
        return Row("Address", [addresses(a) for a in assets], next((c for c in found if c), None), by_property=True)

    def captured(asset: Asset) -> str:
        moment = asset.exif_captured_at or asset.captured_at
        return f"{moment:%Y-%m-%d %H:%M}" if moment else "unknown"

    def holds(asset: Asset) -> str:
        return "; ".join(holds_on(asset, within=visible_sources(user))) or "none"

    def each(fact) -> list[Any]:
        return [fact(a) for a in assets]

    rows = [
        Row("Source", each(lambda a: a.source.name)),
        Row("Record", each(records)),
        address_row(),
        Row("Captured", each(captured)),
        Row("Dimensions", each(lambda a: f"{a.width} × {a.height}" if a.width else "unknown")),
        Row("Picture (bars trimmed)", each(_picture)),
        Row("Bytes", each(lambda a: f"{a.byte_size:,}")),
        Row("Format", each(lambda a: a.format or "unknown")),
        Row("JPEG quality (estimate)", each(lambda a: jpeg_quality(a) or "–")),
        Row("File", each(lambda a: a.origin_path)),
        Row("State", each(lambda a: a.get_state_display())),
        Row("Legal hold", each(holds)),
    ]
    return sorted(rows, key=lambda row: not row.differs)


@dataclass
class Alignment:
    """How a partial copy sits in the other picture, as the scan measured it (`dedupe.partials`)."""

    inner: Asset
    outer: Asset
    matrix: list[list[float]]  # inner full-size pixels -> outer full-size pixels
    outline: str  # the inner picture's corners in the outer one, as SVG polygon points ("" for none)
    relation: str
    inliers: int | None


def alignment_of(candidate: Candidate) -> Alignment | None:
    """The alignment a partial pair's evidence states, or None (another kind, or evidence that does
    not hold together: it is data, checked before it is drawn or used to warp)."""
    if candidate.kind != Candidate.Kind.PARTIAL or not isinstance(candidate.evidence, dict):
        return None
    evidence = candidate.evidence
    a, b = candidate.asset_a, candidate.asset_b
    relation = str(evidence.get("relation", ""))
    inner: Asset | None = a
    outer: Asset | None = b
    matrix: Any = None
    if relation == "mirrored":
        if a.width and a.height and b.width and b.height:
            matrix = pixels.mirror_matrix((a.width, a.height), (b.width, b.height))
    else:
        by_pk = {a.pk: a, b.pk: b}
        inner, outer = by_pk.get(evidence.get("inner", 0)), by_pk.get(evidence.get("outer", 0))
        matrix = evidence.get("matrix")
    if inner is None or outer is None or inner == outer or not (outer.width and outer.height and inner.width):
        return None
    if not _numbers(matrix, rows=3, columns=3) or abs(float(np.linalg.det(np.array(matrix, dtype=float)))) < 1e-9:
        return None  # no invertible transform: nothing to lay over anything
    region: Any = evidence.get("region") if relation != "mirrored" else None
    outline = " ".join(f"{x:g},{y:g}" for x, y in region) if _numbers(region, rows=4, columns=2) else ""
    inliers = evidence.get("inliers")
    return Alignment(inner, outer, matrix, outline, relation, inliers if isinstance(inliers, int) else None)


def _numbers(value: Any, *, rows: int, columns: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == rows
        and all(isinstance(row, list) and len(row) == columns for row in value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e9 for row in value for v in row)
    )
