"""What the API answers, as pydantic schemas: the OpenAPI document is generated from these."""

from datetime import datetime
from typing import Literal

from ninja import Schema


class ImageOut(Schema):
    id: int
    sha256: str
    byte_size: int
    width: int | None
    height: int | None
    format: str


class Shown(Schema):
    """A record slot showing an image, in a source the token may read."""

    source: str
    record_id: str
    slot: str


class MatchOut(Schema):
    image: int
    kind: Literal["exact", "pixel", "near"]
    score: float
    shown_on: list[Shown]


class GateAnswer(Schema):
    outcome: Literal["stored", "duplicate", "stored_pending_review"]
    image: ImageOut
    record_id: str
    slot: str
    matches: list[MatchOut]
    candidates_opened: int


class LookupAnswer(Schema):
    sha256: str
    matches: list[MatchOut]


class SlotOut(Schema):
    slot: str
    state: Literal["attached", "stripped", "restored", "detached"]
    image: ImageOut | None
    reason: str
    since: datetime
    restore_suggestions: int
    restore_pending: bool


class RecordOut(Schema):
    source: str
    record_id: str
    address: str
    slots: list[SlotOut]


class ChangeOut(Schema):
    cursor: str
    at: datetime
    kind: str
    record_id: str
    slot: str
    from_image: int | None
    to_image: int | None
    from_state: str
    to_state: str
    reason: str
    # A "may_delete" entry (a file kept in place whose purge is recorded): the source's file to delete.
    path: str = ""
    sha256: str = ""
    byte_size: int | None = None


class ChangesOut(Schema):
    changes: list[ChangeOut]
    next: str


class ProblemOut(Schema):
    """RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
