"""Pure: the canonical content of an audit event and the hash that chains it to the one before.

An event's hash is SHA-256 over the previous event's hash followed by the event's canonical
JSON, so changing, removing or reordering any stored event breaks every link after it. No ORM
here: the writer (`dedupe.audit`), the checker and the migration that numbers old events all
call the same two functions, so they cannot drift apart.

The content must come out the same whether computed from the values about to be stored or from
the values read back years later on SQLite or PostgreSQL. Hence:
- times are written in UTC with microseconds (both databases keep exactly microseconds);
- `before`/`after` go through a JSON round trip first (integer keys become strings, tuples
  lists, as the JSON column stores them);
- numbers are written as their decimal value, not as Python spells them: PostgreSQL's jsonb
  keeps 1e16 as 10000000000000000 and 1.0 as 1.0, which Python reads back as int or float.
  Integral values are written as integers, others in plain decimal notation.
"""

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

# The `prev_hash` of the first event.
GENESIS_HASH = "0" * 64
# Bumped if the canonical form ever changes; part of every hashed content.
FORMAT_VERSION = 1


class EventLike(Protocol):
    """What the hash covers: the fields of `dedupe.models.AuditEvent` (or its migration-time twin)."""

    seq: int
    at: datetime
    actor_id: int | None
    actor_name: str
    actor_role: str
    action: str
    before: Any
    after: Any
    reason: str
    request_id: str
    ip: str | None
    task_id: str


def iso_utc(at: datetime) -> str:
    """A stored time as fixed-width UTC text; naive times are refused, they have no one meaning."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_content(event: EventLike, subjects: Iterable[tuple[str, str]]) -> str:
    """The canonical JSON of an event and the (kind, object id) pairs it concerns."""
    content = {
        "v": FORMAT_VERSION,
        "seq": event.seq,
        "at": iso_utc(event.at),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "action": event.action,
        "before": _as_stored(event.before),
        "after": _as_stored(event.after),
        "reason": event.reason,
        "request_id": event.request_id,
        "ip": event.ip or None,
        "task_id": event.task_id,
        "subjects": sorted([str(kind), str(object_id)] for kind, object_id in subjects),
    }
    return _encode(content)


def event_hash(prev_hash: str, content: str) -> str:
    """SHA-256 (hex) of the previous event's hash followed by this event's canonical content."""
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _as_stored(value: Any) -> Any:
    """The value as a JSON column gives it back: string keys, lists for tuples."""
    if value is None:
        return None
    return json.loads(json.dumps(value))


def _encode(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, ASCII only, numbers by decimal value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("canonical JSON objects need string keys")
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=True)}:{_encode(value[k])}" for k in sorted(value)) + "}"
    raise TypeError(f"cannot put a {type(value).__name__} in an audit event")


def _number(value: float) -> str:
    exact = Decimal(repr(value))  # the decimal Python writes, which is what the database keeps
    if not exact.is_finite():
        raise ValueError("audit events cannot hold NaN or infinity")
    if exact == int(exact):
        return str(int(exact))
    return format(exact, "f").rstrip("0")
