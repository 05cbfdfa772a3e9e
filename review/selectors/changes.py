"""The changes feed: every move of a source's references, in the order they were committed.

Each step in an attachment's history belongs to one audit event, and events are numbered under a
lock held until their transaction commits (dedupe.audit), so ordering by (event seq, step id)
never lets a late commit slip in behind a cursor a reader has already passed: the cursor is stable.
The facts are the merge map's (which slot moved from which image to which), for every kind of move.

A file kept in place at the source (issue 16) is the source's to delete: when its purge is
recorded here, the feed carries a "may_delete" entry naming the file's path, SHA-256 and size
(no record or slot: the file, not a reference). Its cursor is the purge event's, step 0.
"""

from typing import Any

from django.db.models import Q, QuerySet

from dedupe.actions import Action, Subject
from dedupe.models import AttachmentChange, AuditEvent, Source

# What a move is called in the feed, by the action that made it; anything else is "other".
KINDS: dict[str, str] = {
    Action.ASSET_MERGE: "merge",
    Action.ASSET_UNMERGE: "unmerge",
    Action.ATTACHMENT_DETACH: "detach",
    Action.ATTACHMENT_REATTACH: "reattach",
    Action.ATTACHMENT_RESTORE: "restore",
    Action.DECISION_APPLY: "merge",
    Action.DECISION_APPROVE: "merge",
    Action.DECISION_REVERSE: "unmerge",
    Action.REVERSAL_APPROVE: "unmerge",
    Action.GATE_STORE: "upload",
    Action.GATE_ATTACH: "upload",
    Action.IMPORT_BATCH: "import",
    Action.ASSET_INSPECT: "unreadable",
    Action.ASSET_PURGE: "purge",
}
MAX_PAGE = 500


class BadCursor(ValueError):
    pass


def cursor_parse(raw: str) -> tuple[int, int]:
    if not raw:
        return 0, 0
    seq, _, step = raw.partition(".")
    # At most 18 digits a part: a larger number would overflow the database's 64-bit integers.
    if not (seq.isdigit() and step.isdigit() and len(seq) <= 18 and len(step) <= 18):
        raise BadCursor(f"not a cursor from this feed: {raw[:40]!r}")
    return int(seq), int(step)


def changes_after(source_id: int, cursor: str, limit: int) -> tuple[list[dict[str, Any]], str]:
    """Up to `limit` moves of the source's references after `cursor`, and the cursor to ask from next.

    Each move as the API's ChangeOut has it (review.api.schemas).
    """
    seq, step = cursor_parse(cursor)
    steps = (
        AttachmentChange.objects.filter(attachment__record__source_id=source_id)
        .filter(Q(audit_event__seq__gt=seq) | Q(audit_event__seq=seq, pk__gt=step))
        .order_by("audit_event__seq", "pk")
        .values_list(
            "pk", "audit_event__seq", "at", "audit_event__action", "attachment__record__external_id",
            "attachment__slot", "from_asset_id", "to_asset_id", "from_state", "to_state", "reason",
        )[: min(limit, MAX_PAGE)]
    )  # fmt: skip
    moves: list[tuple[tuple[int, int], dict[str, Any]]] = [
        (
            (s, pk),
            {
                "cursor": f"{s}.{pk}",
                "at": at,
                "kind": KINDS.get(action, "other"),
                "record_id": record,
                "slot": slot,
                "from_image": a,
                "to_image": b,
                "from_state": fs,
                "to_state": ts,
                "reason": why,
            },
        )  # fmt: skip
        for pk, s, at, action, record, slot, a, b, fs, ts, why in steps
    ]
    merged = sorted([*moves, *_deletable(source_id, seq, limit)], key=lambda keyed: keyed[0])
    changes = [change for _, change in merged[: min(limit, MAX_PAGE)]]
    return changes, (str(changes[-1]["cursor"]) if changes else cursor or "0.0")


def _deletable(source_id: int, seq: int, limit: int) -> list[tuple[tuple[int, int], dict[str, Any]]]:
    """The source's own files, kept in place, whose purge was recorded after the cursor."""
    purges = (
        _purges(source_id)
        .filter(seq__gt=seq)  # (seq, 0) never comes after (seq, step)
        .order_by("seq")
        .values_list("seq", "at", "after", "reason")[: min(limit, MAX_PAGE)]
    )
    return [
        (
            (s, 0),
            {
                "cursor": f"{s}.0",
                "at": at,
                "kind": "may_delete",
                "record_id": "",
                "slot": "",
                "from_image": None,
                "to_image": None,
                "from_state": "",
                "to_state": "",
                "reason": why,
                "path": after["source_may_delete"],
                "sha256": after["sha256"],
                "byte_size": after["byte_size"],
            },
        )  # fmt: skip
        for s, at, after, why in purges
        if after is not None
    ]


def _purges(source_id: int) -> QuerySet[AuditEvent]:
    """The purges of the source's files kept in place (a stored copy's purge is ours, not theirs)."""
    slug = Source.objects.filter(pk=source_id).values_list("slug", flat=True).first()
    return AuditEvent.objects.filter(
        action=Action.ASSET_PURGE, subjects__kind=Subject.SOURCE, subjects__object_id=slug,
        after__has_key="source_may_delete",
    )  # fmt: skip


def changes_head(source_id: int) -> str:
    """The cursor after the source's latest change: following from it gives only what happens next."""
    last = (
        AttachmentChange.objects.filter(attachment__record__source_id=source_id)
        .order_by("-audit_event__seq", "-pk")
        .values_list("audit_event__seq", "pk")
        .first()
    )
    purged = _purges(source_id).order_by("-seq").values_list("seq", flat=True).first()
    if purged and (not last or purged > last[0]):  # a file's purge after the last move
        return f"{purged}.0"
    return f"{last[0]}.{last[1]}" if last else ""
