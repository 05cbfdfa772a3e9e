"""The one way an audit event is written, the chain's verifier, and checkpoints of its head.

`audit_record` refuses to run outside a transaction: a state change and its event commit
together or not at all (promise 3). Which request or task a change came from is read from
`dedupe.origin`, never passed in.

Events form a hash chain (see `dedupe.auditchain`). Appending reads the head of the chain, so
appends are serialised until commit: on PostgreSQL by a transaction-level advisory lock, on
SQLite by its single writer (transactions begin IMMEDIATE). `audit_verify` walks the chain;
checkpoints of its head, kept outside the database and signed with a key it never holds
(DEDUPE_AUDIT_CHECKPOINT_KEY), catch a chain rewritten from an edit onward.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .actions import Action, Subject
from .auditchain import GENESIS_HASH, event_content, event_hash, iso_utc
from .models import AuditEvent, AuditSubject
from .origin import origin_current
from .roles import role_of


class AuditError(RuntimeError):
    pass


def audit_record(
    *,
    action: Action,
    actor: Any = None,
    actor_name: str = "",
    subjects: Iterable[tuple[Subject, Any]] = (),
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event about `subjects` (pairs like (Subject.ASSET, 12)) for a change in progress.

    `action` and the subject kinds are names from `dedupe.actions`; their values are what is stored.

        The event is linked to the head of the chain, which stays locked until the transaction
        ends: keep the work after this call short.
    """
    if not connection.in_atomic_block:
        raise AuditError(
            f"audit event {action!r} written outside a transaction: wrap the change and the event together"
        )
    origin = origin_current()
    pairs = list(dict.fromkeys((str(kind), str(object_id)) for kind, object_id in subjects))
    event = AuditEvent(
        actor_id=getattr(actor, "pk", None),
        actor_name=actor.get_username() if actor is not None else (actor_name or "system"),
        actor_role=role_of(actor),
        action=str(action),
        before=before,
        after=after,
        reason=reason,
        request_id=origin.request_id,
        ip=_as_stored_ip(origin.ip),
        task_id=origin.task_id,
    )
    _lock_chain()
    head = audit_head()
    event.seq, event.prev_hash, event.at = head.seq + 1, head.hash, timezone.now()
    event.hash = event_hash(event.prev_hash, event_content(event, pairs))
    event.save(force_insert=True)
    AuditSubject.objects.bulk_create(AuditSubject(event=event, kind=kind, object_id=oid) for kind, oid in pairs)
    return event


# pg_advisory_xact_lock key that serialises appends to the chain ("dedupe" + 1).
CHAIN_LOCK_KEY = 0x6465647570650001


def _lock_chain() -> None:
    """Hold the chain's head until this transaction ends, so two writers never fork it.

    SQLite needs nothing: its transactions begin IMMEDIATE, so one writer runs at a time. The
    unique `seq` refuses a fork either way (for example under REPEATABLE READ on PostgreSQL).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def _as_stored_ip(ip: str | None) -> str | None:
    """The address as the database gives it back (IPv6 compressed), so the hash matches later."""
    return AuditEvent._meta.get_field("ip").get_prep_value(ip) or None


@dataclass(frozen=True)
class ChainHead:
    """The last event of the chain: what a checkpoint records. seq 0 is the empty log."""

    seq: int
    hash: str
    at: str | None = None


def audit_head() -> ChainHead:
    """The chain's last event as this transaction sees it (lock the chain first to append after it)."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash", "at").first()
    return ChainHead(last[0], last[1], iso_utc(last[2])) if last else ChainHead(0, GENESIS_HASH)


@dataclass(frozen=True)
class ChainProblem:
    """The first thing wrong with the chain: kind is altered, removed, reordered or checkpoint."""

    kind: str
    seq: int
    event_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"event seq {self.seq} (id {self.event_id})" if self.event_id is not None else f"seq {self.seq}"
        return f"{self.kind.upper()}: {where}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """What a walk found: how many events checked out, the last good one, and the first problem."""

    events: int
    head: ChainHead
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": asdict(self.head),
            "problem": asdict(self.problem) if self.problem else None,
        }


NOT_EXTENDED = "the log no longer extends the checkpoint"
# Events read per query while verifying: with their subjects, a few MB at most.
VERIFY_CHUNK = 2000


def audit_verify(*, against: ChainHead | None = None, chunk_size: int = VERIFY_CHUNK) -> ChainReport:
    """Walk the chain in seq order and report the first event altered, removed or reordered.

    Checks, per event: seq follows the one before (a gap means events were removed), prev_hash
    is the hash of the event before (else events were reordered or one was replaced), and the
    hash recomputed from the stored content matches (else the event or its subjects were
    altered). With `against`, the event at the checkpoint's seq must still carry its hash: a
    chain edited and then re-hashed forward passes the walk but not this.
    Removing the newest events leaves a valid shorter chain: only a checkpoint shows that.
    """
    events = AuditEvent.objects.order_by("seq").prefetch_related("subjects").iterator(chunk_size=chunk_size)
    count, head = 0, ChainHead(0, GENESIS_HASH)
    for event in events:
        problem = _problem_of(event, head)
        if problem is None and against is not None and event.seq == against.seq and event.hash != against.hash:
            detail = f"{NOT_EXTENDED}: its hash is {event.hash}, the checkpoint says {against.hash}"
            problem = ChainProblem("checkpoint", event.seq, event.pk, detail)
        if problem is not None:
            return ChainReport(count, head, problem)
        count, head = count + 1, ChainHead(event.seq, event.hash, iso_utc(event.at))
    if against is not None and (against.seq > head.seq or (against.seq == 0 and against.hash != GENESIS_HASH)):
        detail = f"{NOT_EXTENDED}: the log ends at seq {head.seq}, the checkpoint is at seq {against.seq}"
        return ChainReport(count, head, ChainProblem("checkpoint", against.seq, None, detail))
    return ChainReport(count, head)


def _problem_of(event: AuditEvent, before: ChainHead) -> ChainProblem | None:
    if event.seq <= before.seq:
        return ChainProblem("reordered", event.seq, event.pk, f"seq {event.seq} cannot follow seq {before.seq}")
    if event.seq != before.seq + 1:
        missing = f"seq {before.seq + 1}" if event.seq == before.seq + 2 else f"seq {before.seq + 1} to {event.seq - 1}"
        return ChainProblem("removed", event.seq, event.pk, f"{missing} missing before it: events were removed")
    if event.prev_hash != before.hash:
        return ChainProblem(
            "reordered", event.seq, event.pk,
            f"its prev_hash {event.prev_hash} is not the hash of event seq {before.seq} ({before.hash}): "
            "events were reordered or replaced",
        )  # fmt: skip
    subjects = [(s.kind, s.object_id) for s in event.subjects.all()]
    recomputed = event_hash(event.prev_hash, event_content(event, subjects))
    if recomputed != event.hash:
        return ChainProblem(
            "altered", event.seq, event.pk,
            f"its content or subjects no longer match its hash (stored {event.hash}, recomputed {recomputed})",
        )  # fmt: skip
    return None


# Bound into every signature, so a MAC made for anything else never passes as a checkpoint's.
CHECKPOINT_CONTEXT = b"dedupe-desk audit checkpoint v1\n"


class CheckpointKeyMissing(AuditError):
    """No DEDUPE_AUDIT_CHECKPOINT_KEY: checkpoints can be neither signed nor checked."""


class CheckpointUntrusted(AuditError):
    """A checkpoint file that is unsigned, or whose signature does not match its content."""


def _checkpoint_key() -> bytes:
    key = settings.DEDUPE_AUDIT_CHECKPOINT_KEY
    if not key:
        raise CheckpointKeyMissing(
            "DEDUPE_AUDIT_CHECKPOINT_KEY is not set: audit checkpoints are signed with it (HMAC-SHA256) so that "
            "whoever can rewrite the database cannot rewrite them to match. Set it to a long random string, kept "
            "outside the database, where checkpoints are written and verified."
        )
    return str(key).encode()


def _key_id(key: bytes) -> str:
    """Names the key without revealing it, so a mismatch can say "another key" rather than "forged"."""
    return hmac.new(key, b"dedupe-desk checkpoint key id", hashlib.sha256).hexdigest()[:16]


def checkpoint_signature(fields: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 over the checkpoint's canonical JSON: every field but the signature's own."""
    signed = {k: v for k, v in fields.items() if k != "signature"}
    content = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return "hmac-sha256:" + hmac.new(key, CHECKPOINT_CONTEXT + content, hashlib.sha256).hexdigest()


def checkpoint_read(path: Path) -> ChainHead:
    """A checkpoint file written by `audit_checkpoint_write` and signed with this key.

    ValueError if the file is not a checkpoint at all; CheckpointUntrusted if it is unsigned or
    its signature does not match (altered, or signed with another key); CheckpointKeyMissing
    without a key.
    """
    key = _checkpoint_key()
    try:
        data = json.loads(Path(path).read_text())
        seq, digest = data["seq"], data["hash"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable audit checkpoint: {exc}") from None
    if not isinstance(seq, int) or seq < 0 or not isinstance(digest, str) or len(digest) != 64:
        raise ValueError(f"{path} is not an audit checkpoint: it needs an integer seq and a 64-character hash")
    signature = data.get("signature")
    if not isinstance(signature, str) or not signature:
        raise CheckpointUntrusted(
            f"UNSIGNED CHECKPOINT: {path} carries no signature, so it proves nothing against whoever can rewrite "
            "the database; take a new one with audit_checkpoint (it signs with DEDUPE_AUDIT_CHECKPOINT_KEY)"
        )
    if not hmac.compare_digest(signature, checkpoint_signature(data, key)):
        named, ours = data.get("key_id"), _key_id(key)
        why = f"it names key {named}, this key is {ours}" if named != ours else "the content was altered"
        raise CheckpointUntrusted(
            f"FORGED CHECKPOINT: {path}'s signature does not match its content under this key ({why}): "
            "the file was altered or signed elsewhere, and cannot vouch for the log"
        )
    return ChainHead(seq, digest, data.get("at"))


def audit_checkpoint_write(target: Path) -> tuple[Path, ChainHead]:
    """Write the chain's head as signed JSON to `target` (a folder: a new file named by seq and time).

    The file is created, never overwritten: older checkpoints are the evidence. It belongs
    outside the database, ideally where the database's users cannot write; its HMAC, under a
    key the database never sees, stops anyone who rewrites the chain from rewriting it to match.
    """
    key = _checkpoint_key()  # refuse before creating anything
    head = audit_head()
    taken = timezone.now()
    target = Path(target)
    if target.is_dir() or not target.suffix:
        target = target / f"audit-checkpoint-{head.seq:012d}-{taken:%Y%m%dT%H%M%S%fZ}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {**asdict(head), "taken_at": iso_utc(taken)}
    fields["key_id"] = _key_id(key)
    fields["signature"] = checkpoint_signature(fields, key)
    with target.open("x") as out:
        json.dump(fields, out, indent=2)
        out.write("\n")
    return target, head
