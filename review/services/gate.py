"""The gate: an upload from a source system is stored, attached to the copy already kept, or refused.

`dedupe.admission` says what the upload is and what it matches; this module applies the source's
policy (`GatePolicy`) and writes, with one audit event signed by the token's system. Two uploads
of the same bytes at the same instant end as one stored image: the decision and the store happen
under a lock on the bytes' SHA-256 (an advisory lock on PostgreSQL; SQLite has one writer), and
the check for a stored copy is made again under it.
"""

import io
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

from django.core.files.storage import default_storage
from django.db import OperationalError, connection, transaction

from dedupe.actions import Action, Subject
from dedupe.admission import Examined, Match, stored_copies, upload_examine
from dedupe.attachments import AttachmentStep, attachments_locked
from dedupe.audit import audit_record
from dedupe.blobs import blob_keep, blob_orphaned
from dedupe.candidates import candidates_record
from dedupe.inspection import asset_inspected_write, aware
from dedupe.models import Asset, Attachment, AuditEvent, Record, Source
from dedupe.scoring import EXACT, PIXEL

from ..models import ApiToken, GatePolicy

STORED, DUPLICATE, PENDING_REVIEW = "stored", "duplicate", "stored_pending_review"
# Attempts of the store when PostgreSQL breaks a deadlock by aborting it. Under 50 tablets into one
# source, bench/load.py saw 1 in about 550 uploads deadlock on the source's row; the cause, an
# attachment lock that locked the source too, is gone (`attachments_locked`: none in 2,081 uploads),
# and the retry stays for what other lock orders may yet do.
DEADLOCK_ATTEMPTS = 3


class GateRefused(Exception):  # noqa: N818 - a refusal the client is told about, not a fault
    """The source's policy refuses this kind of copy; nothing was stored."""

    def __init__(self, match: Match) -> None:
        super().__init__(
            f"the source's policy refuses {match.kind} copies; this upload is one of image {match.asset_id}"
        )
        self.match = match


@dataclass(frozen=True)
class Upload:
    """What a source system sends with the file."""

    source: Source
    record_id: str
    slot: str
    address: str = ""
    captured_at: datetime | None = None


@dataclass
class Admitted:
    outcome: str  # stored | duplicate | stored_pending_review
    asset: Asset
    attachment: Attachment
    matches: list[Match] = field(default_factory=list)
    candidates_opened: int = 0


def gate_policy(source: Source) -> GatePolicy:
    """The source's policy; the defaults (attach copies, store near matches for review) when none is set."""
    return GatePolicy.objects.filter(source=source).first() or GatePolicy(source=source)


def gate_admit(*, token: ApiToken, upload: Upload, data: bytes) -> Admitted:
    """Decide and store one upload (see the module's docstring); raises UploadRefused or GateRefused."""
    policy = gate_policy(upload.source)
    decode_copies = policy.action_for(EXACT) == GatePolicy.Action.REVIEW
    examined = upload_examine(data, source=upload.source, decode_copies=decode_copies)
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return _decide_and_store(token, upload, examined, policy)
        except OperationalError as exc:
            if attempt == DEADLOCK_ATTEMPTS or not _deadlocked(exc):
                raise
    raise AssertionError("unreachable")


def _decide_and_store(token: ApiToken, upload: Upload, examined: Examined, policy: GatePolicy) -> Admitted:
    """One all-or-nothing attempt: the decision and every row and file of it, or none of them."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            _lock_bytes(examined.sha256)
            not_a_copy = examined.best is None or examined.best.kind != EXACT
            if not_a_copy and (copies := stored_copies(examined.sha256)):  # stored by another upload meanwhile
                examined.matches = [Match(pk, EXACT, 1.0, {"sha256": True}) for pk in copies]
            return _apply(token, upload, examined, policy, stored)
    except BaseException:
        for name in stored:  # rolled back: no row references these files, unless another took the blob
            with suppress(Exception):  # a database that cannot answer leaves them to the orphan sweep
                if blob_orphaned(name):
                    default_storage.delete(name)
        raise


def _deadlocked(exc: OperationalError) -> bool:
    """PostgreSQL chose this transaction to break a deadlock (SQLSTATE 40P01): it is safe to run again."""
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


def _apply(token: ApiToken, upload: Upload, examined: Examined, policy: GatePolicy, stored: list[str]) -> Admitted:
    best = examined.best
    action = policy.action_for(best.kind) if best else GatePolicy.Action.REVIEW
    if best is not None and action == GatePolicy.Action.REFUSE:
        raise GateRefused(best)
    record = _record(upload)
    if best is not None and best.kind in (EXACT, PIXEL) and action == GatePolicy.Action.ATTACH:
        asset = Asset.objects.get(pk=best.asset_id)
        attachment, step = _attach(record, upload.slot, asset, f"gate: {best.kind} copy of image {asset.pk}")
        event = _event(Action.GATE_ATTACH, token, record, asset, attachment, DUPLICATE, examined)
        step and step.record(audit_event=event)
        return Admitted(DUPLICATE, asset, attachment, examined.matches)
    asset = _store(upload, examined, stored)
    attachment, step = _attach(record, upload.slot, asset, f"gate: uploaded by {token.actor_name}")
    outcome = PENDING_REVIEW if examined.matches else STORED
    event = _event(Action.GATE_STORE, token, record, asset, attachment, outcome, examined)
    step and step.record(audit_event=event)
    opened = 0
    if examined.matches:
        pairs = [(min(asset.pk, m.asset_id), max(asset.pk, m.asset_id)) for m in examined.matches]
        opened = candidates_record(None, pairs, actor_name=token.actor_name)
    return Admitted(outcome, asset, attachment, examined.matches, opened)


def _lock_bytes(sha256: str) -> None:
    """Serialise uploads of the same bytes until commit (SQLite: transactions are IMMEDIATE already).

    Foreign keys are checked as each row is written, not at commit: Django makes them deferred on
    PostgreSQL, and a check at commit locks the referenced rows (the source, the record) after
    this transaction took the audit chain's lock, which deadlocked uploads into the same source
    under load (bench/load.py --tablets found it). Every row lock is now taken before the chain's.
    """
    if connection.vendor == "postgresql":
        key = int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _record(upload: Upload) -> Record:
    record, _ = Record.objects.get_or_create(
        source=upload.source, external_id=upload.record_id, defaults={"address": upload.address}
    )
    return record


def _store(upload: Upload, examined: Examined, stored: list[str]) -> Asset:
    """Keep the bytes once per content (`dedupe.blobs`: a neutral name, never an extension) with
    what the sandbox read. An upload is always a copy: a field device has no share to leave it on."""
    assert examined.inspection is not None
    name, written = blob_keep(examined.sha256, len(examined.data), lambda: io.BytesIO(examined.data))
    if written:
        stored.append(name)
    asset = Asset.objects.create(
        source=upload.source,
        origin_path=f"api:{upload.record_id}/{upload.slot}/{uuid.uuid4().hex[:12]}",
        sha256=examined.sha256,
        byte_size=len(examined.data),
        storage_name=name,
        captured_at=aware(upload.captured_at),
        inspection=Asset.Inspection.PENDING,
    )
    stored.append(asset_inspected_write(asset, examined.inspection))
    return asset


def _attach(record: Record, slot: str, asset: Asset, why: str) -> tuple[Attachment, AttachmentStep | None]:
    """The slot shows `asset`: an empty or stripped slot is filled, a slot showing another image gets a sibling.

    The history step is returned to be written once the audit event exists; None when the slot
    already showed this image (a retry with a new key changes nothing).
    """
    state = Attachment.State.ATTACHED
    current = attachments_locked(record=record, slot=slot).first()
    if current is not None and current.asset_id == asset.pk and current.state in Attachment.SHOWN:
        return current, None
    if current is not None and (current.asset_id is None or current.state not in Attachment.SHOWN):
        step = AttachmentStep(current, current.asset_id, asset.pk, current.state, state, why)
        Attachment.objects.filter(pk=current.pk).update(asset=asset, state=state, reason=why)
        current.asset, current.state, current.reason = asset, state, why
        return current, step
    if current is not None:
        taken = set(Attachment.objects.filter(record=record, slot__startswith=slot).values_list("slot", flat=True))
        slot = next(f"{slot}.{n}" for n in range(2, len(taken) + 3) if f"{slot}.{n}" not in taken)
        why += f" (slot {current.slot} already shows image {current.asset_id})"
    attachment = Attachment.objects.create(record=record, slot=slot, asset=asset, state=state, reason=why)
    return attachment, AttachmentStep(attachment, None, asset.pk, "", state, why)


def _event(
    action: Action,
    token: ApiToken,
    record: Record,
    asset: Asset,
    attachment: Attachment,
    outcome: str,
    examined: Examined,
) -> AuditEvent:
    return audit_record(
        action=action,
        actor_name=token.actor_name,
        subjects=[
            (Subject.API_TOKEN, token.pk),
            (Subject.SOURCE, record.source.slug),
            (Subject.RECORD, record.pk),
            (Subject.ASSET, asset.pk),
            (Subject.ATTACHMENT, attachment.pk),
        ],  # fmt: skip
        after={
            "outcome": outcome,
            "sha256": examined.sha256,
            "slot": attachment.slot,
            "matches": [{"image": m.asset_id, "kind": m.kind, "score": m.score} for m in examined.matches],
        },
        reason=f"upload through the gate by {token.actor_name}",
    )
