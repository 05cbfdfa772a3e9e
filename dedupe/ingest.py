"""Import: files from a manifest or a folder become Sources, Records, Assets and Attachments.

The import loop only does what is cheap and must happen once per row: check the path, hash and
store the bytes. Reading the header, decoding, thumbnails and fingerprints happen afterwards in
`dedupe.inspection`, normally on Celery workers. Every row ends in exactly one bucket:
imported, unchanged or failed; failures are stored as ImportProblem rows.
"""

import csv
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .actions import Action, Subject
from .attachments import AttachmentStep
from .audit import audit_record
from .blobs import blob_keep, blob_orphaned
from .buckets import SPOOL_BYTES, BucketPlace, ObjectFacts, ObjectUnavailable, object_chunks, object_facts
from .inspection import aware
from .manifest import Row, RowRefused, printable, validated
from .models import Asset, Attachment, ImportProblem, ImportRun, Record, Source
from .originals import resolve_inside

# Rows per transaction: big enough that commits are not the cost, small enough that a crash
# loses little and a SQLite writer never holds the lock for long.
IMPORT_BATCH = 200
READ_CHUNK = 1 << 20
MANIFEST_COLUMNS = ("path", "source", "record_id", "slot", "address", "captured_at")


class ManifestError(ValueError):
    """The manifest itself cannot be read (not one of its rows)."""


@dataclass
class RowOutcome:
    status: str  # imported | unchanged | failed (a never-decoded asset met again is imported, not unchanged)
    reason: str = ""
    asset: Asset | None = None
    # steps to record in the attachments' history once the batch's audit event exists
    changes: list[AttachmentStep] = field(default_factory=list)


def manifest_rows(manifest: Path) -> Iterator[Row]:
    """Stream the manifest's rows; nothing but the current row is held in memory."""
    # A byte that is not UTF-8 spoils its row, not the manifest: kept as a surrogate, refused there.
    with open(manifest, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(
                f"{manifest}: missing column(s) {', '.join(missing)}; expected {','.join(MANIFEST_COLUMNS)}"
            )
        for number, raw in enumerate(reader, start=1):
            yield Row(
                number=number,
                path=(raw["path"] or "").strip(),
                source=(raw["source"] or "").strip(),
                record_id=(raw["record_id"] or "").strip(),
                slot=(raw["slot"] or "1").strip() or "1",
                address=(raw["address"] or "").strip(),
                captured_at=(raw["captured_at"] or "").strip(),
            )


def count_manifest_rows(manifest: Path) -> int:
    with open(manifest, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def folder_rows(folder: Path, *, source: str, record_per: str) -> Iterator[Row]:
    """One record per file (its path without extension), or per sub-folder (slot = file name)."""
    number = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            number += 1
            rel = PurePosixPath(Path(dirpath, name).relative_to(folder).as_posix())
            if record_per == "folder":
                record_id, slot = (str(rel.parent) if str(rel.parent) != "." else folder.name), name
            else:
                record_id, slot = str(rel.with_suffix("")), "1"
            yield Row(number=number, path=str(rel), source=source, record_id=record_id, slot=slot)


class Importer:
    """Runs rows through the import loop in batches, one transaction and one audit event each."""

    def __init__(
        self,
        *,
        run: ImportRun,
        root: Path | BucketPlace,
        actor: Any = None,
        on_batch: Callable[[ImportRun, list[int]], object] | None = None,
        retry: Callable[[Callable[[], None]], None] = lambda step: step(),
    ) -> None:
        self.run = run
        self.root = root
        self.actor = actor
        # Called inside each batch's transaction with the ids of the assets to decode: the batch
        # and the work that decodes it commit together (dedupe.inspect_chunks), and workers can
        # fingerprint them while the loop reads the next files.
        self.on_batch = on_batch
        # Runs each batch, again after a transient fault (dedupe.resilience.retrying in commands).
        self.retry = retry
        self.sources: dict[str, Source] = {}
        self._stored: list[str] = []  # bytes the current batch saved: deleted if it rolls back

    def import_rows(self, rows: Iterator[Row], progress: Callable[[int], object] | None = None) -> None:
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= IMPORT_BATCH:
                self.retry(partial(self._import_batch, batch))
                progress and progress(len(batch))
                batch = []
        if batch:
            self.retry(partial(self._import_batch, batch))
            progress and progress(len(batch))

    def _import_batch(self, rows: list[Row]) -> None:
        """One batch, all or nothing: rows, audit event, decoding chunks, and the bytes stored for them."""
        self._stored = []
        try:
            self._import_batch_rows(rows)
        except BaseException:
            self.sources.clear()  # sources created in the rolled-back transaction are gone
            for name in self._stored:  # rolled back: these bytes were written for rows that are gone
                # unless another import has since taken the blob; a database that cannot answer
                # leaves them to the orphan sweep (manage.py sweep_orphans), as a crash would.
                with suppress(Exception):
                    if blob_orphaned(name):
                        default_storage.delete(name)
            raise
        finally:
            self._stored = []

    @transaction.atomic
    def _import_batch_rows(self, rows: list[Row]) -> None:
        outcomes = [(row, self._import_row(row)) for row in rows]
        created = [o.asset.pk for _, o in outcomes if o.asset is not None and o.asset.import_run_id == self.run.pk]
        failures = [
            {"row": row.number, "path": printable(row.path), "reason": o.reason}
            for row, o in outcomes
            if o.status == "failed"
        ]
        counts = {s: sum(1 for _, o in outcomes if o.status == s) for s in ("imported", "unchanged", "failed")}
        event = audit_record(
            action=Action.IMPORT_BATCH,
            actor=self.actor,
            actor_name="system:import",
            subjects=[(Subject.IMPORT, self.run.pk), *((Subject.ASSET, pk) for pk in created)],
            after={"rows": [rows[0].number, rows[-1].number], **counts, "failures": failures},
            reason=f"{self.run.kind} import of {self.run.location}",
        )
        for row, outcome in outcomes:
            for change in outcome.changes:
                change.record(audit_event=event)
            if outcome.status == "failed":
                ImportProblem.objects.create(
                    run=self.run, row=row.number, path=printable(row.path), reason=outcome.reason, asset=outcome.asset
                )
        if self.on_batch is not None and created:
            self.on_batch(self.run, created)
        ImportRun.objects.filter(pk=self.run.pk).update(
            heartbeat_at=timezone.now(),
            rows_total=F("rows_total") + len(rows),
            unchanged=F("unchanged") + counts["unchanged"],
            failed=F("failed") + counts["failed"],
        )

    def _import_row(self, raw: Row) -> RowOutcome:
        try:
            row = validated(raw)
        except RowRefused as exc:
            return RowOutcome("failed", str(exc))
        if not row.source or not row.record_id:
            return RowOutcome("failed", "row has no source or no record_id")
        record = self._record(row, source_name=raw.source)
        if isinstance(self.root, BucketPlace):
            return self._import_object_row(record, row, self.root)
        try:
            path = resolve_inside(self.root, row.path)
        except ValueError as exc:
            return self._placeholder(record, row, f"path refused: {exc}")
        if not path.is_file():
            why = "file missing" if not path.exists() else "not a regular file"
            return self._placeholder(record, row, f"{why}: {row.path}")
        return self._import_file(record, row, path)

    def _record(self, row: Row, *, source_name: str) -> Record:
        source = self.sources.get(row.source)
        if source is None:
            source, _ = Source.objects.get_or_create(slug=row.source, defaults={"name": source_name})
            self.sources[row.source] = source
        record, _ = Record.objects.get_or_create(
            source=source, external_id=row.record_id, defaults={"address": row.address}
        )
        return record

    def _placeholder(self, record: Record, row: Row, reason: str) -> RowOutcome:
        """A row without a usable file still gives its record a (stripped) placeholder."""
        outcome = RowOutcome("failed", reason)
        attachment = Attachment.objects.filter(record=record, slot=row.slot).first()
        if attachment is None:
            attachment = Attachment.objects.create(
                record=record, slot=row.slot, state=Attachment.State.STRIPPED, reason=reason
            )
            outcome.changes = [
                AttachmentStep(attachment, None, None, "", Attachment.State.STRIPPED, f"import: {reason}")
            ]
        return outcome

    def _import_file(self, record: Record, row: Row, path: Path) -> RowOutcome:
        stat = path.stat()
        existing = (
            Asset.objects.filter(source=record.source, origin_path=row.path).order_by("-imported_at", "-pk").first()
        )
        if existing and existing.origin_mtime_ns == stat.st_mtime_ns and existing.byte_size == stat.st_size:
            return self._known(existing, row)
        if stat.st_size > settings.DEDUPE_MAX_FILE_BYTES:
            return self._placeholder(record, row, f"file too large: {stat.st_size:,} bytes")
        sha256 = _sha256_of(path)
        if existing and existing.sha256 == sha256:
            Asset.objects.filter(pk=existing.pk).update(origin_mtime_ns=stat.st_mtime_ns)
            return self._known(existing, row)
        asset = self._store(record.source, row, path, sha256, stat)
        outcome = RowOutcome("imported", "", asset)
        outcome.changes = self._attach(record, row, asset, replaced=existing)
        return outcome

    def _store(self, source: Source, row: Row, path: Path, sha256: str, stat: os.stat_result) -> Asset:
        """Keep the file's bytes once per content (a byte copy shares the blob, `dedupe.blobs`), or
        for a source kept in place only where the file lies; reading them is the sandbox's job,
        later, which records what they are (`Asset.format`)."""
        name, root = "", ""
        if source.keeps == Source.Keeps.IN_PLACE:  # the file stays where it is: its place is recorded
            assert isinstance(self.root, Path)  # objects in a bucket take _import_object_row
            root = str(self.root.resolve())
        else:
            name, written = blob_keep(sha256, stat.st_size, lambda: open(path, "rb"))  # noqa: SIM115 - blob_keep closes it
            if written:
                self._stored.append(name)
        return Asset.objects.create(
            source=source,
            origin_path=row.path,
            origin_mtime_ns=stat.st_mtime_ns,
            sha256=sha256,
            byte_size=stat.st_size,
            storage_name=name,
            origin_root=root,
            captured_at=_parse_time(row.captured_at),
            inspection=Asset.Inspection.PENDING,
            import_run=self.run,
            import_row=row.number,
        )

    def _import_object_row(self, record: Record, row: Row, place: BucketPlace) -> RowOutcome:
        """As a file's row, for an object in a bucket: its key checked like a path, HEAD first."""
        try:
            key = place.key(row.path)
        except ValueError as exc:
            return self._placeholder(record, row, f"path refused: {exc}")
        try:
            facts = object_facts(place, key)
        except ObjectUnavailable as exc:
            return self._placeholder(record, row, f"object unreadable: {exc}")
        if facts is None:
            return self._placeholder(record, row, f"file missing: {row.path}")
        existing = (
            Asset.objects.filter(source=record.source, origin_path=row.path).order_by("-imported_at", "-pk").first()
        )
        if existing and (existing.origin_etag, existing.byte_size) == (facts.etag, facts.size):
            return self._known(existing, row)
        if facts.size > settings.DEDUPE_MAX_FILE_BYTES:  # before a byte is read
            return self._placeholder(record, row, f"file too large: {facts.size:,} bytes")
        keep = record.source.keeps == Source.Keeps.COPY
        try:
            sha256, spool = _object_sha256(place, key, facts, keep=keep)
        except ObjectUnavailable as exc:
            return self._placeholder(record, row, f"object unreadable: {exc}")
        if existing and existing.sha256 == sha256:
            Asset.objects.filter(pk=existing.pk).update(origin_etag=facts.etag, origin_mtime_ns=facts.modified_ns)
            return self._known(existing, row)
        name = ""
        if spool is not None:  # copy mode: the bytes read once, stored once per content
            with spool:
                name, written = blob_keep(sha256, facts.size, lambda: spool)
            if written:
                self._stored.append(name)
        asset = Asset.objects.create(
            source=record.source, origin_path=row.path, origin_mtime_ns=facts.modified_ns, origin_etag=facts.etag,
            sha256=sha256, byte_size=facts.size, storage_name=name, origin_root="" if name else str(place),
            captured_at=_parse_time(row.captured_at), inspection=Asset.Inspection.PENDING,
            import_run=self.run, import_row=row.number,
        )  # fmt: skip
        outcome = RowOutcome("imported", "", asset)
        outcome.changes = self._attach(record, row, asset, replaced=existing)
        return outcome

    def _attach(self, record: Record, row: Row, asset: Asset, replaced: Asset | None) -> list[AttachmentStep]:
        """Point the row's slot at the new asset; a slot another file already fills gets a sibling.

        The attachment shows the asset at once; should the sandbox find it unreadable, inspection
        strips it with the reason.
        """
        state = Attachment.State.ATTACHED
        why = f"import: {row.path}"
        attachment = Attachment.objects.filter(record=record, slot=row.slot).first()
        if attachment is not None and (
            attachment.asset_id is None or attachment.asset_id == getattr(replaced, "pk", 0)
        ):
            step_why = f"import: file changed at {row.path}" if replaced is not None else why
            change = AttachmentStep(attachment, attachment.asset_id, asset.pk, attachment.state, state, step_why)
            Attachment.objects.filter(pk=attachment.pk).update(asset=asset, state=state, reason=why)
            return [change]
        slot = row.slot if attachment is None else self._free_slot(record, row.slot)
        if attachment is not None:
            shown = attachment.asset.origin_path if attachment.asset else "nothing"
            why += f" (slot {row.slot} already shows {shown})"
        attachment = Attachment.objects.create(record=record, slot=slot, asset=asset, state=state, reason=why)
        return [AttachmentStep(attachment, None, asset.pk, "", state, why)]

    @staticmethod
    def _free_slot(record: Record, slot: str) -> str:
        taken = set(Attachment.objects.filter(record=record, slot__startswith=slot).values_list("slot", flat=True))
        return next(f"{slot}.{n}" for n in range(2, len(taken) + 3) if f"{slot}.{n}" not in taken)

    def _known(self, asset: Asset, row: Row) -> RowOutcome:
        """A file met before: unchanged only if it was decoded; a never-decoded one is this run's to finish.

        An import whose worker was killed leaves assets pending; calling them "unchanged" on the
        re-run would report files nobody has read as fine. This run takes them over and decodes them.
        """
        if asset.inspection == Asset.Inspection.UNREADABLE:
            return RowOutcome("failed", asset.unreadable_reason, asset)
        if asset.inspection == Asset.Inspection.PENDING:
            Asset.objects.filter(pk=asset.pk).update(import_run=self.run, import_row=row.number)
            asset.import_run_id, asset.import_row = self.run.pk, row.number
            return RowOutcome("imported", asset=asset)
        return RowOutcome("unchanged", asset=asset)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _object_sha256(place: BucketPlace, key: str, facts: ObjectFacts, *, keep: bool) -> tuple[str, IO[bytes] | None]:
    """The object's SHA-256, read once while the store confirms its ETag, checked to be exactly the
    size HEAD gave (so the size-check before reading holds); for copy mode the bytes, spooled."""
    digest = hashlib.sha256()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) if keep else None  # noqa: SIM115
    read = 0
    try:
        for chunk in object_chunks(place, key, etag=facts.etag, limit=facts.size):
            digest.update(chunk)
            read += len(chunk)
            if spool is not None:
                spool.write(chunk)
        if read != facts.size:
            raise ObjectUnavailable(f"read {read:,} bytes of {facts.size:,} ({key})")
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    if spool is not None:
        spool.seek(0)
    return digest.hexdigest(), spool


def _parse_time(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return aware(datetime.fromisoformat(raw))
    except ValueError:
        return None


def import_start(*, kind: str, location: str, root: Path | BucketPlace, started_by: str = "") -> ImportRun:
    with transaction.atomic():
        run = ImportRun.objects.create(kind=kind, location=location, root=str(root), started_by=started_by)
        audit_record(
            action=Action.IMPORT_START,
            actor_name=started_by or "system:import",
            subjects=[(Subject.IMPORT, run.pk)],
            after={"kind": kind, "location": location, "root": str(root)},
        )
    return run


def import_finish(run: ImportRun) -> dict:
    """Close the run with its final counts; the summary is what `--json` prints."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        run.imported = run.assets.filter(inspection=Asset.Inspection.READABLE).count()
        pending = run.assets.filter(inspection=Asset.Inspection.PENDING).count()
        run.failed = run.problems.count()
        run.status = ImportRun.Status.FINISHED
        run.finished_at = timezone.now()
        run.save(update_fields=["imported", "failed", "status", "finished_at"])
        summary = import_summary(run, pending=pending)
        audit_record(
            action=Action.IMPORT_FINISH,
            actor_name=run.started_by or "system:import",
            subjects=[(Subject.IMPORT, run.pk)],
            after={k: v for k, v in summary.items() if k != "failed"} | {"failed": len(summary["failed"])},
            reason=f"{run.kind} import of {run.location}",
        )
    return summary


def import_summary(run: ImportRun, *, pending: int = 0) -> dict:
    summary = {
        "run": run.pk,
        "imported": run.imported,
        "unchanged": run.unchanged,
        "failed": [{"row": p.row, "path": p.path, "reason": p.reason} for p in run.problems.order_by("row", "pk")],
    }
    if pending:
        summary["pending"] = pending
    return summary
