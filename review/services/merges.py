"""Merging duplicates onto a canonical asset and undoing it exactly: the part that must never lose a picture.

A merge re-points the attachments that show the duplicate, remembers each one (MergeMove), and
quarantines the duplicate with its bytes kept. Chains resolve to their end: merging onto an
asset that was itself merged lands on the asset it was merged into, so no cycle can form.
"""

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dedupe.actions import Action, Subject
from dedupe.attachments import attachment_repoint, attachments_locked
from dedupe.audit import audit_record
from dedupe.models import Asset, Attachment, Candidate, Source
from dedupe.source_writes import source_quarantine_after_commit, source_return_after_commit

from ..models import Decision, LegalHold, Merge, MergeMove, PairMove


class MergeRefused(Exception):
    """A merge or unmerge that would break a promise; the message says why, for the reviewer."""


def canonical_of(asset_id: int) -> int:
    """The end of the merge chain starting at `asset_id` (itself when it was never merged)."""
    chain = _chain(asset_id)
    return chain[-1].canonical_id if chain else asset_id


def _chain(asset_id: int) -> list[Merge]:
    """The live merges from `asset_id` to the end of its chain, in order."""
    merges: list[Merge] = []
    seen = {asset_id}
    while merge := Merge.objects.filter(duplicate_id=asset_id, undone_at__isnull=True).first():
        merges.append(merge)
        asset_id = merge.canonical_id
        if asset_id in seen or len(merges) >= Merge.MAX_CHAIN:
            raise MergeRefused(f"the merge chain from asset {asset_id} loops; run check_invariants")
        seen.add(asset_id)
    return merges


def holds_on(asset: Asset, within: QuerySet[Source] | None = None) -> list[str]:
    """Reasons of the legal holds in force on the asset, its source, or a record that shows it.

    `within` (a person's sources) leaves out holds on records of other sources: a page never
    names a record its reader may not open.
    """
    records = Attachment.objects.filter(asset=asset).values("record")
    if within is not None:
        records = records.filter(record__source__in=within)
    holds = LegalHold.objects.filter(lifted_at__isnull=True).filter(
        Q(asset=asset) | Q(source_id=asset.source_id) | Q(record__in=records)
    )
    return [f"{_target(h)} is under legal hold: {h.reason}" for h in holds.select_related("asset", "record", "source")]


def _target(hold: LegalHold) -> str:
    if hold.asset_id:
        return f"image {hold.asset_id}"
    if hold.record_id:
        return f"record {hold.record}"
    return f"source {hold.source}"


def merge_onto(*, canonical: Asset, duplicate: Asset, decision: Decision, actor) -> Merge | None:
    """Merge `duplicate` (or the end of its chain) onto `canonical` (or the end of its chain).

    Runs inside the caller's transaction; returns None when the two are already one.
    """
    target, dup = _lock_chain_ends(canonical.pk, duplicate.pk)
    if target.pk == dup.pk:
        return None
    if target.state != Asset.State.ACTIVE:
        raise MergeRefused(f"image {target.pk} cannot be kept: it is {target.state}")
    if dup.state != Asset.State.ACTIVE:
        raise MergeRefused(f"image {dup.pk} cannot be merged: it is {dup.state}")
    if holds := holds_on(dup):
        raise MergeRefused(f"image {dup.pk} cannot be quarantined: " + "; ".join(holds))
    merge = Merge.objects.create(duplicate=dup, canonical=target, decision=decision)
    moved = _move_pairs(merge, deciding=decision.candidate_id)
    shown = list(attachments_locked(asset=dup, state__in=Attachment.SHOWN).select_related("record"))
    event = audit_record(
        action=Action.ASSET_MERGE,
        actor=actor,
        subjects=[(Subject.ASSET, dup.pk), (Subject.ASSET, target.pk), (Subject.DECISION, decision.pk),
                  (Subject.MERGE, merge.pk), (Subject.CANDIDATE, decision.candidate_id), *_attachment_subjects(shown)],
        before={"asset": dup.pk, "state": Asset.State.ACTIVE, "attachments": {a.pk: dup.pk for a in shown}},
        after={"asset": dup.pk, "state": Asset.State.QUARANTINED, "canonical": target.pk,
               "attachments": {a.pk: target.pk for a in shown},
               "pairs_moved": {m.candidate_id: m.replacement_id for m in moved}},
        reason=decision.note,
    )  # fmt: skip
    for attachment in shown:
        MergeMove.objects.create(merge=merge, attachment=attachment, from_asset=dup, from_state=attachment.state)
        attachment_repoint(
            attachment,
            asset_id=target.pk,
            state=attachment.state,
            reason=f"merged: image {dup.pk} is the same photograph as {target.pk}",
            history_reason=f"merge {merge.pk}: image {dup.pk} onto {target.pk}",
            audit_event=event,
        )
    Asset.objects.filter(pk=dup.pk).update(state=Asset.State.QUARANTINED)
    source_quarantine_after_commit(dup.pk)  # a bucket that grants write access: moved aside
    return merge


class _Moved(Exception):
    """A chain end changed while its lock was awaited."""


def _lock_chain_ends(canonical_id: int, duplicate_id: int) -> tuple[Asset, Asset]:
    """Lock the two chain ends, lower id first, and make sure they are still the ends once locked.

    Reviewers racing A onto B, B onto C and C onto A lock the same rows in opposite orders: one
    order for everyone means they queue instead of deadlocking. A chain that grew while this one
    waited is followed to its new end, after letting go of the old ends (rolling back to the
    savepoint releases their locks): holding them while taking a lower id would break the order.
    NO KEY UPDATE (only the state changes): a plain FOR UPDATE would also wait on the key-share
    locks that each racing decision's own row takes on the image it names, and deadlock with them.
    """
    for _ in range(Merge.MAX_CHAIN):
        ends = canonical_of(canonical_id), canonical_of(duplicate_id)
        try:
            with transaction.atomic():
                locked = Asset.objects.select_for_update(no_key=True).order_by("pk").in_bulk(set(ends))
                if (canonical_of(ends[0]), canonical_of(ends[1])) != ends:
                    raise _Moved
        except _Moved:
            continue
        return locked[ends[0]], locked[ends[1]]
    raise MergeRefused(f"images {canonical_id} and {duplicate_id} keep being merged by others; try again")


def joined_by(first_id: int, second_id: int) -> Merge | None:
    """The merge that made two images one: the latest on either chain that is not on both.

    Merges past the point where the chains meet are on both and joined nothing of these two.
    """
    paths = [set(_chain(first_id)), set(_chain(second_id))]
    return max(paths[0] ^ paths[1], key=lambda m: m.pk, default=None)


def _move_pairs(merge: Merge, deciding: int) -> list[PairMove]:
    """Close the merged-away image's open pairs (but the one being decided) and open, where none
    is, the same question between the kept image and the other one."""
    dup, target = merge.duplicate, merge.canonical
    # Left alone: a pair waiting for a proposal's approval (the approval resolves through the chain),
    # and one another reviewer is deciding this instant (locked: waiting for it here would take the
    # locks in the opposite order to theirs; their decision resolves through the chain too).
    stale = (
        Candidate.objects.select_for_update(skip_locked=True)
        .filter(Q(asset_a=dup) | Q(asset_b=dup), status=Candidate.Status.OPEN)
        .exclude(pk=deciding)
        .exclude(decisions__status=Decision.Status.PROPOSED)
    )
    moves = []
    for pair in stale.order_by("pk"):
        other = canonical_of(pair.asset_b_id if pair.asset_a_id == dup.pk else pair.asset_a_id)
        replacement, opened = (None, False) if other == target.pk else _pair_between(target, other, pair)
        pair.status = Candidate.Status.MOVED
        pair.save(update_fields=["status", "priority"])
        moves.append(PairMove.objects.create(merge=merge, candidate=pair, replacement=replacement, opened=opened))
    return moves


def _pair_between(target: Asset, other_id: int, moving: Candidate) -> tuple[Candidate, bool]:
    """The pair of the kept image and `other_id`, and whether this opened it.

    An existing pair is kept as it is unless an unmerge closed it (status moved): that one is
    reopened. A new one carries the moving pair's evidence; it is byte-identical only if the bytes
    are, a byte or pixel match becomes near (the reviewer said the two sides it joins are the same
    photograph), and a partial copy stays partial. The pair is not locked: someone deciding it
    holds its lock while waiting for the images this merge holds, and a moved pair is decided by
    nobody, so the conditional update below is enough.
    """
    low, high = sorted((target.pk, other_id))
    other = Asset.objects.get(pk=other_id)
    exact = other.sha256 == target.sha256
    kind = moving.kind if moving.kind not in (Candidate.Kind.EXACT, Candidate.Kind.PIXEL) else Candidate.Kind.NEAR
    found, made = Candidate.objects.get_or_create(
        asset_a_id=low, asset_b_id=high,
        defaults={"kind": Candidate.Kind.EXACT if exact else kind, "score": 1.0 if exact else moving.score,
                  "evidence": {**moving.evidence, "moved_from_pair": moving.pk},
                  "address_conflict": moving.address_conflict, "cross_source": other.source_id != target.source_id,
                  "group_id": moving.group_id, "found_by_id": moving.found_by_id},
    )  # fmt: skip
    if made:
        return found, True
    reopened = Candidate.objects.filter(pk=found.pk, status=Candidate.Status.MOVED).update(status=Candidate.Status.OPEN)
    return found, bool(reopened)


def pair_reopen(pair: Candidate) -> None:
    """Open a decided pair again (its decision reversed), or, when one of its images has been
    merged away since, close it into the pair of the images kept, as that merge would have."""
    merged = Merge.objects.filter(duplicate_id__in=[pair.asset_a_id, pair.asset_b_id], undone_at__isnull=True)
    latest = merged.order_by("-pk").first()
    if latest is None:
        pair.status = Candidate.Status.OPEN
        pair.save(update_fields=["status", "priority"])
        return
    target, other = canonical_of(pair.asset_a_id), canonical_of(pair.asset_b_id)
    replacement, opened = (None, False)
    if target != other:
        replacement, opened = _pair_between(Asset.objects.get(pk=target), other, pair)
    pair.status = Candidate.Status.MOVED
    pair.save(update_fields=["status", "priority"])
    PairMove.objects.create(merge=latest, candidate=pair, replacement=replacement, opened=opened)


def _restore_pairs(merge: Merge) -> dict[int, str]:
    """Undo `_move_pairs`: reopen each closed pair whose images are both active again, and close
    each pair the merge opened that nobody has decided since. What became of each, by pair."""
    done: dict[int, str] = {}
    for move in merge.pair_moves.select_related("candidate", "replacement").order_by("-pk"):
        pair = move.candidate
        if move.opened and move.replacement and move.replacement.status == Candidate.Status.OPEN:
            move.replacement.status = Candidate.Status.MOVED
            move.replacement.save(update_fields=["status", "priority"])
            done[move.replacement.pk] = "closed"
        both_active = Asset.objects.filter(
            pk__in=[pair.asset_a_id, pair.asset_b_id], state=Asset.State.ACTIVE
        ).count() == 2  # fmt: skip
        if pair.status == Candidate.Status.MOVED and both_active:
            pair.status = Candidate.Status.OPEN
            pair.save(update_fields=["status", "priority"])
            done[pair.pk] = "reopened"
    return done


def _attachment_subjects(attachments: list[Attachment]) -> list[tuple[Subject, int]]:
    return [s for a in attachments for s in ((Subject.ATTACHMENT, a.pk), (Subject.RECORD, a.record_id))]


def unmerge(*, merge_id: int, actor, reason: str = "") -> Merge:
    """Put every attachment the merge moved back on the asset it showed before; the duplicate active again."""
    with transaction.atomic():
        merge = Merge.objects.select_for_update().select_related("duplicate").get(pk=merge_id)
        if merge.undone_at is not None:
            raise MergeRefused(f"merge {merge.pk} was already undone at {merge.undone_at:%Y-%m-%d %H:%M}")
        if merge.duplicate.state == Asset.State.PURGED:
            raise MergeRefused(f"image {merge.duplicate_id} was purged: its bytes are gone, the merge stays")
        moves = list(merge.moves.select_related("attachment"))
        now_on = {merge.canonical_id, canonical_of(merge.canonical_id)}
        back = [m for m in moves if m.attachment.asset_id in now_on]
        changed = {m.attachment_id: m.attachment.asset_id for m in moves if m not in back}
        Asset.objects.filter(pk=merge.duplicate_id).update(state=Asset.State.ACTIVE)
        source_return_after_commit(merge.duplicate_id)  # moved aside at merge: moved back
        pairs = _restore_pairs(merge)
        event = audit_record(
            action=Action.ASSET_UNMERGE,
            actor=actor,
            subjects=[(Subject.ASSET, merge.duplicate_id), (Subject.ASSET, merge.canonical_id),
                      (Subject.MERGE, merge.pk), (Subject.DECISION, merge.decision_id),
                      *_attachment_subjects([m.attachment for m in back])],
            before={"state": Asset.State.QUARANTINED,
                    "attachments": {m.attachment_id: m.attachment.asset_id for m in back}},
            after={"state": Asset.State.ACTIVE, "attachments": {m.attachment_id: m.from_asset_id for m in back},
                   "left_alone_changed_since": changed, "pairs": pairs},
            reason=reason,
        )  # fmt: skip
        for move in back:
            attachment_repoint(
                move.attachment,
                asset_id=move.from_asset_id,
                state=move.from_state,
                reason=f"unmerged: merge {merge.pk} undone",
                history_reason=f"unmerge of merge {merge.pk}" + (f": {reason}" if reason else ""),
                audit_event=event,
            )
        merge.undone_at = timezone.now()
        merge.save(update_fields=["undone_at"])
        return merge
