"""What must always hold in the archive, checked from the rows themselves (and storage).

Each check returns plain sentences naming the rows, so that `check_invariants` can be run by an
administrator after an incident and the tests can run it after every scenario. Every check reads
in bounded queries (no query per row) except the bytes check, which asks storage once per file.
"""

from collections.abc import Callable, Iterator

from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast

from dedupe.actions import Action, Subject
from dedupe.models import Asset, Attachment, AuditSubject
from dedupe.originals import original_exists
from dedupe.orphans import orphans

from .models import Decision, Merge, MergeMove, Purge

VIEWABLE = (Asset.State.ACTIVE, Asset.State.QUARANTINED)
# Problems reported per check: past this many, more of the same help nobody read the report.
LIMIT = 100
# Shown assets whose bytes are checked per round trip.
BATCH = 1000


def check_invariants(*, check_bytes: bool = True) -> list[str]:
    """Every broken promise found, as sentences; an empty list when the archive is sound."""
    checks: list[Callable[[], Iterator[str]]] = [
        shown_assets_are_viewable,
        merged_assets_are_not_active,
        quarantined_assets_have_a_live_merge,
        merge_chains_end_on_an_active_asset,
        purges_match_purged_assets,
        merges_have_audit_events,
        moves_have_audit_events,
        decisions_have_audit_events,
        purges_have_audit_events,
    ]
    if check_bytes:
        checks[1:1] = [shown_assets_have_bytes, quarantined_assets_have_bytes, stored_bytes_have_rows]
    problems: list[str] = []
    for check in checks:
        found: list[str] = []
        for problem in check():
            if len(found) == LIMIT:
                found.append(f"... and more from {check.__name__}")
                break
            found.append(problem)
        problems += found
    return problems


def shown_assets_are_viewable() -> Iterator[str]:
    """An attached or restored placeholder shows an active or quarantined asset, never a purged one."""
    broken = (
        Attachment.objects.filter(state__in=Attachment.SHOWN)
        .exclude(asset__state__in=VIEWABLE)
        .select_related("record__source", "asset")
        .order_by("pk")
    )
    for attachment in broken.iterator():
        state = attachment.asset.state if attachment.asset else "missing"  # the check constraint says never
        yield f"{attachment} ({attachment.state}) shows image {attachment.asset_id}, which is {state}"


def shown_assets_have_bytes() -> Iterator[str]:
    """The bytes of every shown asset are in storage: otherwise the record shows a broken image."""
    shown = Asset.objects.filter(Exists(Attachment.objects.filter(asset=OuterRef("pk"), state__in=Attachment.SHOWN)))
    for pk, name in _missing_bytes(shown):
        yield f"image {pk} is shown by a placeholder but its bytes are missing from storage ({name})"


def quarantined_assets_have_bytes() -> Iterator[str]:
    """Quarantine keeps the bytes: an unmerge puts the duplicate back on records (promise 1)."""
    for pk, name in _missing_bytes(Asset.objects.filter(state=Asset.State.QUARANTINED)):
        yield f"image {pk} is quarantined but its bytes are missing from storage ({name}): its merge cannot be undone"


def stored_bytes_have_rows() -> Iterator[str]:
    """Bytes to rows: every stored file (older than the grace of an import in progress) has its asset."""
    for name, size in orphans():
        yield f"{name} ({size:,} bytes) is in storage but no image row references it: `manage.py sweep_orphans`"


def _missing_bytes(assets) -> Iterator[tuple[int, str]]:
    after = 0
    while batch := list(assets.filter(pk__gt=after).order_by("pk")[:BATCH]):
        for asset in batch:
            if not original_exists(asset):  # a file kept in place: still the one imported, at its source
                yield asset.pk, asset.storage_name or f"{asset.origin_path} at its source"
        after = batch[-1].pk


def merged_assets_are_not_active() -> Iterator[str]:
    """The duplicate of a live merge is quarantined (or purged): an active one would be two truths."""
    for merge in Merge.objects.filter(undone_at__isnull=True, duplicate__state=Asset.State.ACTIVE).order_by("pk"):
        yield f"merge {merge.pk}: image {merge.duplicate_id} is merged onto {merge.canonical_id} but still active"


def quarantined_assets_have_a_live_merge() -> Iterator[str]:
    """A quarantine nobody can undo or purge is a picture stuck in limbo."""
    live = Merge.objects.filter(duplicate=OuterRef("pk"), undone_at__isnull=True)
    stuck = Asset.objects.filter(state=Asset.State.QUARANTINED).exclude(Exists(live)).order_by("pk")
    for pk in stuck.values_list("pk", flat=True).iterator():
        yield f"image {pk} is quarantined without a live merge: nothing can undo or purge it"


def merge_chains_end_on_an_active_asset() -> Iterator[str]:
    """Live merges form chains that end, without a loop, on an active asset (the canonical kept).

    Chains are allowed: when the canonical of A -> B is later merged itself (B -> C), A -> B stays
    live so that undoing it is exact, and A resolves to C. So a live merge's canonical may itself
    have a live merge; what may not happen is a loop, or a chain ending on an asset not active.
    """
    onto = dict(Merge.objects.filter(undone_at__isnull=True).values_list("duplicate_id", "canonical_id").iterator())
    end_of: dict[int, int | None] = {}  # None: the chain runs into a loop
    for start in sorted(onto):
        path, on_path, here = [], set(), start
        while here in onto and here not in end_of and here not in on_path:
            path.append(here)
            on_path.add(here)
            here = onto[here]
        if here in on_path:
            loop = path[path.index(here) :]
            yield "merge chain loops: " + " -> ".join(str(pk) for pk in [*loop, here])
            end = None
        else:
            end = end_of.get(here, here)
        end_of.update(dict.fromkeys(path, end))
    ends = {end for end in end_of.values() if end is not None}
    states = dict(Asset.objects.filter(pk__in=ends).values_list("pk", "state"))
    for end in sorted(ends):
        if states.get(end) != Asset.State.ACTIVE:
            yield f"merge chains end on image {end}, which is {states.get(end, 'missing')}, not active"


def purges_match_purged_assets() -> Iterator[str]:
    """A purged asset has its Purge row (what was deleted, kept forever), and only a purged one does."""
    unrecorded = Asset.objects.filter(state=Asset.State.PURGED, purge__isnull=True).order_by("pk")
    for pk in unrecorded.values_list("pk", flat=True).iterator():
        yield f"image {pk} is purged but no Purge row records what was deleted"
    for purge in Purge.objects.exclude(asset__state=Asset.State.PURGED).order_by("pk"):
        yield f"purge {purge.pk} records image {purge.asset_id} as purged, but it is not"


def _named(kind: Subject, action: Action | None = None) -> Exists:
    """An audit subject of `kind` naming the row, whose id the query annotates as `_<kind>_id`."""
    events = AuditSubject.objects.filter(kind=kind, object_id=OuterRef(f"_{kind}_id"))
    if action is not None:
        events = events.filter(event__action=action)
    return Exists(events)


def merges_have_audit_events() -> Iterator[str]:
    """Every merge was recorded when it happened, and its undo too."""
    merges = Merge.objects.annotate(_merge_id=Cast("pk", CharField())).order_by("pk")
    for pk in merges.exclude(_named(Subject.MERGE, Action.ASSET_MERGE)).values_list("pk", flat=True).iterator():
        yield f"merge {pk} has no asset.merge audit event"
    undone = merges.filter(undone_at__isnull=False).exclude(_named(Subject.MERGE, Action.ASSET_UNMERGE))
    for pk in undone.values_list("pk", flat=True).iterator():
        yield f"merge {pk} was undone without an asset.unmerge audit event"


def moves_have_audit_events() -> Iterator[str]:
    """Every placeholder a merge moved is named by that merge's audit event."""
    merge_event = AuditSubject.objects.filter(
        kind=Subject.MERGE,
        object_id=OuterRef(OuterRef("_merge_id")),
        event__action=Action.ASSET_MERGE,
        event=OuterRef("event"),
    )
    moved = AuditSubject.objects.filter(kind=Subject.ATTACHMENT, object_id=OuterRef("_attachment_id")).filter(
        Exists(merge_event)
    )
    moves = MergeMove.objects.annotate(
        _merge_id=Cast("merge_id", CharField()), _attachment_id=Cast("attachment_id", CharField())
    ).exclude(Exists(moved))
    for move in moves.order_by("pk").iterator():
        yield f"merge {move.merge_id} moved attachment {move.attachment_id} but its audit event does not name it"


def decisions_have_audit_events() -> Iterator[str]:
    decisions = Decision.objects.annotate(_decision_id=Cast("pk", CharField())).exclude(_named(Subject.DECISION))
    for pk in decisions.order_by("pk").values_list("pk", flat=True).iterator():
        yield f"decision {pk} has no audit event"


def purges_have_audit_events() -> Iterator[str]:
    purges = Purge.objects.annotate(_asset_id=Cast("asset_id", CharField())).exclude(
        _named(Subject.ASSET, Action.ASSET_PURGE)
    )
    for asset_id in purges.order_by("pk").values_list("asset_id", flat=True).iterator():
        yield f"image {asset_id} was purged without an asset.purge audit event"
