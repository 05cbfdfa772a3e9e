"""Records missing imagery: every stripped placeholder and what could restore it.

Promise 2 says a record never silently loses its picture; when one did (a missing file at import,
an unreadable image, a past cleanup), this module finds it and says how to bring the picture back.
Suggestions are only those a restore would accept: an image whose bytes are stored and readable.
"""

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from django.core.files.storage import default_storage
from django.db import models
from django.db.models import F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber

from dedupe.models import Asset, Attachment, AttachmentChange, Candidate, Record

from ..models import Merge
from .visibility import visible_sources


class _LastWhy(TypedDict):
    last_why: str | None


if TYPE_CHECKING:  # django-stubs-ext is a development requirement: types only
    from django_stubs_ext import WithAnnotations

    # A stripped placeholder as records_missing_imagery loads it, with the reason its history gives last.
    StrippedAttachment = WithAnnotations[Attachment, _LastWhy]

# Stripped attachments per round trip: suggestions cost about seven queries per batch, not per row,
# and a batch of assets with their rows stays a few megabytes.
BATCH = 500


# Same-bytes copies offered per placeholder: a "no photo available" image shared by thousands of
# records would otherwise offer thousands of suggestions nobody can choose between.
MAX_MATCHES = 5


@dataclass(frozen=True)
class Suggestion:
    class Kind(models.TextChoices):
        """Best first: what a reviewer decided beats what the placeholder showed, which beats a look-alike."""

        MERGED = "merged", "the image its old image was merged into"
        ORIGINAL = "original", "the image it showed, still stored"
        QUARANTINED_ORIGINAL = "quarantined_original", "the image it showed, quarantined with its bytes kept"
        # Before the image that broke: a re-upload of a corrupt file moves the slot off a good image.
        PREVIOUS = "previous", "an image it showed before, still stored"
        MATCHING_FINGERPRINT = "matching_fingerprint", "another copy of the same photograph"

    kind: Kind
    asset_id: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "asset": self.asset_id, "reason": self.reason}


@dataclass
class MissingImagery:
    """One stripped placeholder: which record and slot, why, and what could restore it."""

    attachment_id: int
    record_id: int
    source: str
    record: str
    address: str
    slot: str
    reason: str
    old_asset_id: int | None
    suggestions: list[Suggestion] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "record": self.record,
            "slot": self.slot,
            "reason": self.reason,
            "suggestions": [s.as_json() for s in self.suggestions],
        }


def records_missing_imagery(
    *,
    source: str | None = None,
    record_id: int | None = None,
    within: Collection[int] | None = None,
    after: int = 0,
    batch_size: int = BATCH,
) -> Iterator[MissingImagery]:
    """Every stripped placeholder in attachment order, each with its restore suggestions.

    `record_id` limits it to one record's placeholders (its page); `within` (source ids a person
    may see) limits both the records and the suggested images; `after` is an attachment id to
    resume from (keyset paging for pages).
    """
    last_why = AttachmentChange.objects.filter(attachment=OuterRef("pk")).order_by("-at", "-id").values("reason")[:1]
    stripped = (
        Attachment.objects.filter(state=Attachment.State.STRIPPED)
        .select_related("record__source")
        .annotate(last_why=Subquery(last_why))
        .order_by("pk")
    )
    if source is not None:
        stripped = stripped.filter(record__source__slug=source)
    if record_id is not None:
        stripped = stripped.filter(record_id=record_id)
    if within is not None:
        stripped = stripped.filter(record__source_id__in=within)
    bytes_stored = _BytesCheck()
    while batch := list(stripped.filter(pk__gt=after)[:batch_size]):
        yield from _suggest(batch, within, bytes_stored)
        after = batch[-1].pk


class _BytesCheck:
    """default_storage.exists, asked once per file per listing (on object storage it is a request)."""

    def __init__(self) -> None:
        self.known: dict[str, bool] = {}

    def __call__(self, asset: Asset) -> bool:
        if asset.storage_name not in self.known:
            self.known[asset.storage_name] = bool(asset.storage_name) and default_storage.exists(asset.storage_name)
        return self.known[asset.storage_name]


def _suggest(
    batch: "list[StrippedAttachment]", within: Collection[int] | None, stored: _BytesCheck
) -> Iterator[MissingImagery]:
    history = _history_assets([a.pk for a in batch])
    old = {a.pk: a.asset_id or next(iter(history.get(a.pk, [])), None) for a in batch}
    old_ids = {pk for pk in old.values() if pk is not None}
    assets = _load(old_ids | {pk for ids in history.values() for pk in ids})
    ends = chain_ends(old_ids)
    same_bytes = _same_bytes({assets[pk].sha256 for pk in old_ids if pk in assets})
    paired = _paired(old_ids)
    more = {end for end, _ in ends.values()} | {o for pairs in paired.values() for o, _ in pairs}
    assets.update(_load(more - assets.keys()))
    assets.update({x.pk: x for xs in same_bytes.values() for x in xs})

    def usable(asset: Asset | None, *, quarantined: bool = False) -> bool:
        states = (Asset.State.ACTIVE, Asset.State.QUARANTINED) if quarantined else (Asset.State.ACTIVE,)
        return (
            asset is not None
            and asset.state in states
            and asset.inspection != Asset.Inspection.UNREADABLE
            and (within is None or asset.source_id in within)
            and stored(asset)
        )

    for attachment in batch:
        mine = old[attachment.pk]
        offers: list[Suggestion] = []
        if mine is not None:
            offers += _from_old_asset(mine, assets, ends, history.get(attachment.pk, []), usable)
            offers += _from_same_bytes(mine, assets, same_bytes, paired, usable)
            if within is not None and getattr(assets.get(mine), "source_id", None) not in within:
                offers = [_untold(offer) for offer in offers]
        yield MissingImagery(
            attachment_id=attachment.pk,
            record_id=attachment.record_id,
            source=attachment.record.source.slug,
            record=attachment.record.external_id,
            address=attachment.record.address,
            slot=attachment.slot,
            reason=attachment.reason or attachment.last_why or "",
            old_asset_id=mine,
            suggestions=_one_per_asset(offers),
        )


def _untold(offer: Suggestion) -> Suggestion:
    """The offer without how it was found: the old image, its merge or its pair are another source's."""
    return Suggestion(offer.kind, offer.asset_id, f"image {offer.asset_id}: {Suggestion.Kind(offer.kind).label}")


def _one_per_asset(offers: list[Suggestion]) -> list[Suggestion]:
    """An image offered for several reasons is offered once, for the best one."""
    first: dict[int, Suggestion] = {}
    for offer in offers:
        first.setdefault(offer.asset_id, offer)
    return list(first.values())


def _from_old_asset(mine: int, assets: dict, ends: dict, history: list[int], usable) -> list[Suggestion]:
    offers = []
    if mine in ends and usable(assets.get(ends[mine][0])):
        end, merge_id = ends[mine]
        why = f"image {mine} was merged into image {end} (merge {merge_id}): the same photograph, kept"
        offers.append(Suggestion(Suggestion.Kind.MERGED, end, why))
    elif usable(assets.get(mine)):
        offers.append(Suggestion(Suggestion.Kind.ORIGINAL, mine, f"image {mine}, which it showed, is still stored"))
    # The canonical is the same photograph by a person's decision, and showing it leaves the
    # quarantined copy free to be purged: the placeholder's own quarantined image is offered only
    # when nothing better is; the images it showed earlier (before a merge moved it) always are.
    earlier = [pk for pk in history if pk != mine]
    for pk in earlier if offers else [mine, *earlier]:
        asset = assets.get(pk)
        if asset is not None and asset.state == Asset.State.QUARANTINED and usable(asset, quarantined=True):
            why = f"image {pk}, which it showed, is quarantined and its bytes are still stored"
            offers.append(Suggestion(Suggestion.Kind.QUARANTINED_ORIGINAL, pk, why))
    for pk in earlier:  # newest first: the image shown just before the one that was lost
        asset = assets.get(pk)
        if asset is not None and asset.state == Asset.State.ACTIVE and usable(asset):
            why = f"image {pk}, which it showed before image {mine}, is still stored and readable"
            offers.append(Suggestion(Suggestion.Kind.PREVIOUS, pk, why))
    return offers


def _from_same_bytes(mine: int, assets: dict, same_bytes: dict, paired: dict, usable) -> list[Suggestion]:
    offers: list[Suggestion] = []
    own = assets.get(mine)
    for other in same_bytes.get(own.sha256 if own else "", []):
        if other.pk != mine and usable(other) and len(offers) < MAX_MATCHES:
            why = f"image {other.pk} has the same bytes (SHA-256) as image {mine}"
            offers.append(Suggestion(Suggestion.Kind.MATCHING_FINGERPRINT, other.pk, why))
    for other_id, candidate in paired.get(mine, []):
        if usable(assets.get(other_id)):
            why = (
                f"{candidate.kind} candidate {candidate.pk} pairs image {other_id} with image {mine} "
                f"({candidate.get_status_display().lower()}, score {candidate.score:.2f})"
            )
            offers.append(Suggestion(Suggestion.Kind.MATCHING_FINGERPRINT, other_id, why))
    return offers


def _history_assets(attachment_ids: list[int]) -> dict[int, list[int]]:
    """The assets each attachment showed, newest first, from its history."""
    shown: dict[int, list[int]] = {}
    steps = AttachmentChange.objects.filter(attachment_id__in=attachment_ids).order_by("-at", "-id")
    for attachment_id, to_asset, from_asset in steps.values_list("attachment_id", "to_asset_id", "from_asset_id"):
        seen = shown.setdefault(attachment_id, [])
        seen += [pk for pk in (to_asset, from_asset) if pk is not None and pk not in seen]
    return shown


def _load(ids: Iterable[int]) -> dict[int, Asset]:
    fields = ("pk", "source_id", "state", "inspection", "storage_name", "sha256")
    return Asset.objects.only(*fields).in_bulk(set(ids)) if ids else {}


def chain_ends(asset_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """For each asset with a live merge: (the end of its chain, its own live merge id).

    One query per hop for the whole batch, where canonical_of takes one per hop per asset.
    A chain that loops (check_invariants reports it) is left out: nothing is suggested from it.
    """
    first = dict(
        (dup, (canonical, merge))
        for dup, canonical, merge in Merge.objects.filter(duplicate_id__in=set(asset_ids), undone_at__isnull=True)
        .values_list("duplicate_id", "canonical_id", "pk")
        .iterator()
    )
    at = {dup: canonical for dup, (canonical, _) in first.items()}
    walked = {dup: {dup} for dup in at}
    ends: dict[int, tuple[int, int]] = {}
    for _ in range(Merge.MAX_CHAIN):
        if not at:
            break
        onto = dict(
            Merge.objects.filter(duplicate_id__in=set(at.values()), undone_at__isnull=True).values_list(
                "duplicate_id", "canonical_id"
            )
        )
        for start, here in list(at.items()):
            if here not in onto:
                ends[start] = (here, first[start][1])
                del at[start]
            elif here in walked[start]:
                del at[start]  # a loop
            else:
                walked[start].add(here)
                at[start] = onto[here]
    return ends


def _same_bytes(shas: set[str]) -> dict[str, list[Asset]]:
    """Active readable assets by SHA-256, the first few per hash (a window, not one query per hash)."""
    if not shas:
        return {}
    ranked = (
        Asset.objects.filter(sha256__in=shas, state=Asset.State.ACTIVE, inspection=Asset.Inspection.READABLE)
        .annotate(rank=Window(RowNumber(), partition_by=F("sha256"), order_by=F("pk").asc()))
        .filter(rank__lte=MAX_MATCHES + 1)  # + 1: the old asset itself may be one of them
        .only("pk", "source_id", "state", "inspection", "storage_name", "sha256")
        .order_by("sha256", "pk")
    )
    found: dict[str, list[Asset]] = {}
    for asset in ranked:
        found.setdefault(asset.sha256, []).append(asset)
    return found


def _paired(old_ids: set[int]) -> dict[int, list[tuple[int, Candidate]]]:
    """The other side of each open or "same" candidate touching one of the assets."""
    pairs: dict[int, list[tuple[int, Candidate]]] = {}
    if not old_ids:
        return pairs
    found = Candidate.objects.filter(Q(asset_a__in=old_ids) | Q(asset_b__in=old_ids)).filter(
        status__in=[Candidate.Status.OPEN, Candidate.Status.SAME]
    )
    for candidate in found.order_by("-score", "pk"):
        for mine, other in ((candidate.asset_a_id, candidate.asset_b_id), (candidate.asset_b_id, candidate.asset_a_id)):
            if mine in old_ids:
                pairs.setdefault(mine, []).append((other, candidate))
    return pairs


def own_assets(attachment: Attachment) -> set[int]:
    """The assets this placeholder has shown: the only quarantined ones it may be restored onto."""
    steps = AttachmentChange.objects.filter(attachment=attachment).values_list("from_asset_id", "to_asset_id")
    shown = {pk for step in steps for pk in step if pk is not None}
    if attachment.asset_id is not None:
        shown.add(attachment.asset_id)
    return shown


def missing_for(user, record: Record) -> dict[int, list[Suggestion]]:
    """Restore suggestions per stripped attachment of the record, limited to what the person sees."""
    within = set(visible_sources(user).values_list("pk", flat=True))
    return {m.attachment_id: m.suggestions for m in records_missing_imagery(record_id=record.pk, within=within)}
