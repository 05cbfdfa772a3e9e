"""The API's calls: each authorises the token for the source it names, calls one service or
selector, and answers. Every refusal is a `Problem` (see review.api.problems)."""

import hashlib
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import File, Form, Header, Query, Router, Status, UploadedFile

from dedupe.admission import Examined, Match, UploadRefused, upload_examine
from dedupe.models import Record, Source

from ..selectors.changes import BadCursor, changes_after
from ..selectors.record_status import image_facts, record_status, shown_on
from ..services.api_tokens import token_sources
from ..services.gate import Admitted, GateRefused, Upload, gate_admit
from ..services.idempotency import (
    KeyBusy,
    KeyReused,
    Replay,
    idempotency_answer,
    idempotency_claim,
    idempotency_release,
)
from .auth import calling_token
from .problems import Problem, not_found
from .schemas import ChangesOut, GateAnswer, LookupAnswer, ProblemOut, RecordOut

router = Router(tags=["sources"])
PROBLEMS = {400: ProblemOut, 401: ProblemOut, 404: ProblemOut, 413: ProblemOut, 422: ProblemOut, 429: ProblemOut}
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # no control characters: these end up in CSV exports and pages
# Capture times outside these years are typing errors; at the edges of the calendar they would
# overflow when converted to UTC (the schema fuzzing found a 500 with year 1 and +14:00).
CAPTURED_YEARS = (1826, 2200)


def _source(request: HttpRequest, slug: str, *, write: bool) -> Source:
    """The source the path names, if the token may read it (or write it); else one 404 for both."""
    if slug not in token_sources(calling_token(request), write=write):
        raise not_found(f"source {slug[:64]!r}")
    return Source.objects.get(slug=slug)


def _file_bytes(request: HttpRequest, file: UploadedFile) -> bytes:
    limit = min(calling_token(request).max_upload_bytes, settings.DEDUPE_MAX_FILE_BYTES)
    if (file.size or 0) > limit:
        raise Problem(413, "too-large", "Upload too large", f"at most {limit:,} bytes may be uploaded")
    return file.read()


def _matches(request: HttpRequest, matches: list[Match]) -> list[dict[str, Any]]:
    if not matches:  # most uploads: no queries for nothing
        return []
    readable = Source.objects.filter(slug__in=token_sources(calling_token(request), write=False))
    where = shown_on([m.asset_id for m in matches], within=set(readable.values_list("pk", flat=True)))
    return [
        {
            "image": m.asset_id,
            "kind": m.kind,
            "score": m.score,
            "shown_on": [{"source": s, "record_id": r, "slot": slot} for s, r, slot in where[m.asset_id]],
        }  # fmt: skip
        for m in matches
    ]


def _refused(exc: UploadRefused) -> Problem:
    return Problem(422, "unreadable-image", "Not an image the gate accepts", str(exc))


@router.post(
    "/sources/{source}/images",
    response={200: GateAnswer, 201: GateAnswer, 409: ProblemOut, **PROBLEMS},
    summary="Upload an image through the gate",
    openapi_extra={
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Send the same key when retrying: the first answer comes back, nothing is stored twice.",
            }
        ]
    },
)
def upload_image(
    request: HttpRequest,
    source: str,
    file: File[UploadedFile],
    record_id: str = Form(..., min_length=1, max_length=200, pattern=TEXT_PATTERN),
    slot: str = Form("1", min_length=1, max_length=64, pattern=TEXT_PATTERN),
    address: str = Form("", max_length=500, pattern=TEXT_PATTERN),
    captured_at: datetime | None = Form(None),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", include_in_schema=False),
) -> Any:
    """Stored (201), a copy of a kept image (200, the slot attached to it), or stored pending review (201)."""
    target = _source(request, source, write=True)
    if captured_at is not None and not (CAPTURED_YEARS[0] <= captured_at.year <= CAPTURED_YEARS[1]):
        raise Problem(422, "invalid-request", "The request's fields are not valid",
                      f"captured_at: a year from {CAPTURED_YEARS[0]} to {CAPTURED_YEARS[1]}")  # fmt: skip
    data = _file_bytes(request, file)
    upload = Upload(target, record_id, slot, address, captured_at)
    if not idempotency_key:
        return Status(*_admit(request, upload, data))
    if len(idempotency_key) > 255:
        raise Problem(400, "bad-idempotency-key", "Idempotency-Key too long", "at most 255 characters")
    fields = "\x1f".join([request.method or "", request.path, record_id, slot, address, str(captured_at)])
    digest = hashlib.sha256(fields.encode("utf-8", "surrogatepass") + hashlib.sha256(data).digest()).hexdigest()
    try:
        claim = idempotency_claim(calling_token(request), idempotency_key, digest)
    except KeyReused as exc:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key used for another request", str(exc)) from exc
    except KeyBusy as exc:
        busy = Problem(409, "request-in-flight", "The first request is still running", str(exc))
        busy.headers["Retry-After"] = "1"
        raise busy from exc
    if isinstance(claim, Replay):
        if claim.status >= 400:
            raise Problem(claim.status, **claim.body)
        return Status(claim.status, claim.body)
    try:
        status, body = _admit(request, upload, data)
    except Problem as problem:
        idempotency_answer(claim, problem.status, problem.replayable())
        raise
    except BaseException:
        idempotency_release(claim)
        raise
    idempotency_answer(claim, status, body)
    return Status(status, body)


def _admit(request: HttpRequest, upload: Upload, data: bytes) -> tuple[int, dict[str, Any]]:
    try:
        admitted: Admitted = gate_admit(token=calling_token(request), upload=upload, data=data)
    except UploadRefused as exc:
        raise _refused(exc) from exc
    except GateRefused as exc:
        raise Problem(
            409, "duplicate-refused", "This source refuses copies of kept images", str(exc),
            matches=_matches(request, [exc.match]),
        ) from exc  # fmt: skip
    body = {
        "outcome": admitted.outcome,
        "image": image_facts(admitted.asset),
        "record_id": upload.record_id,
        "slot": admitted.attachment.slot,
        "matches": _matches(request, admitted.matches),
        "candidates_opened": admitted.candidates_opened,
    }
    return (200 if admitted.outcome == "duplicate" else 201), body


@router.post("/sources/{source}/lookup", response={200: LookupAnswer, **PROBLEMS}, summary="Matches, storing nothing")
def lookup_image(request: HttpRequest, source: str, file: File[UploadedFile]) -> Any:
    """The matches the gate would report for this file; nothing is stored or recorded."""
    target = _source(request, source, write=False)
    try:
        examined: Examined = upload_examine(_file_bytes(request, file), source=target)
    except UploadRefused as exc:
        raise _refused(exc) from exc
    return {"sha256": examined.sha256, "matches": _matches(request, examined.matches)}


@router.get(
    "/sources/{source}/records/{path:record_id}", response={200: RecordOut, **PROBLEMS}, summary="A record's imagery"
)
def record_imagery(request: HttpRequest, source: str, record_id: str) -> Any:
    """Each slot: what it shows; for a stripped one why, since when, and whether a restore waits for a person."""
    target = _source(request, source, write=False)
    record = Record.objects.filter(source=target, external_id=record_id).first()
    if record is None:
        raise not_found(f"record {record_id[:200]!r}")
    readable = Source.objects.filter(slug__in=token_sources(calling_token(request), write=False))
    slots = record_status(record, within=set(readable.values_list("pk", flat=True)))
    return {
        "source": target.slug,
        "record_id": record.external_id,
        "address": record.address,
        "slots": [
            {
                "slot": s.attachment.slot,
                "state": s.attachment.state,
                "image": image_facts(s.attachment.asset) if s.attachment.asset else None,
                "reason": s.attachment.reason,
                "since": s.since,
                "restore_suggestions": s.suggestions,
                "restore_pending": s.attachment.state == "stripped" and s.suggestions > 0,
            }
            for s in slots
        ],
    }


@router.get(
    "/sources/{source}/changes", response={200: ChangesOut, **PROBLEMS}, summary="Moves of this source's references"
)
def changes(
    request: HttpRequest,
    source: str,
    after: str = Query("", max_length=40),
    limit: int = Query(100, ge=1, le=500),
) -> Any:
    """Merges, unmerges, detaches, restores (and uploads) that changed what the source's slots show, oldest first."""
    target = _source(request, source, write=False)
    try:
        found, cursor = changes_after(target.pk, after, limit)
    except BadCursor as exc:
        raise Problem(400, "bad-cursor", "Not a cursor of this feed", str(exc)) from exc
    return {"changes": found, "next": cursor}
