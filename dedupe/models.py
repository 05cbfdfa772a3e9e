"""The archive: sources, records, the image files they show, and the audit log of every change."""

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from . import scoring
from .addresses import address_key
from .leases import LeasedChunk


def new_sources_keep() -> str:
    """What a new source keeps (issue 16): the site's setting, in place unless it says copy."""
    return settings.DEDUPE_NEW_SOURCES_KEEP


class Source(models.Model):
    """One record system, e.g. `building-permits`."""

    class Sensitivity(models.TextChoices):
        PUBLIC = "public", "Public"
        INTERNAL = "internal", "Internal"
        SENSITIVE = "sensitive", "Sensitive"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    sensitivity = models.CharField(max_length=16, choices=Sensitivity.choices, default=Sensitivity.INTERNAL)
    # Detection thresholds for pairs touching this source; empty = the measured defaults.
    near_radius = models.PositiveSmallIntegerField(null=True, blank=True)
    verify_radius = models.PositiveSmallIntegerField(null=True, blank=True)

    class Keeps(models.TextChoices):
        COPY = "copy", "A copy of each file (once per content), for sources being retired"
        IN_PLACE = "in_place", "Nothing but thumbnails and fingerprints: the files stay at the source"

    # What the import keeps of this source's files (issue 16); new sources: DEDUPE_NEW_SOURCES_KEEP.
    keeps = models.CharField(max_length=16, choices=Keeps.choices, default=new_sources_keep)
    # A source kept in a bucket may let us move quarantined duplicates aside and delete them after
    # retention; off, a purge only records that the source may delete the file (issue 16).
    write_access = models.BooleanField(
        default=False, help_text="Bucket sources only: quarantine moves the object aside, purge deletes it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Record(models.Model):
    """One entry in a source (permit number, parcel number, case id)."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="records")
    external_id = models.CharField(max_length=200)
    address = models.CharField(max_length=500, blank=True)
    # The property as a key ("15595 figueroa st"), kept on save: the partial-copy stage reads the
    # pictures of a new asset's property by it, not every address in the archive.
    address_key = models.CharField(max_length=200, blank=True, db_index=True, editable=False)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="record_unique_external_id"),
        ]
        indexes = [models.Index(fields=["address"], name="record_address")]

    def __str__(self) -> str:
        return f"{self.source.slug}/{self.external_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.address_key = address_key(self.address)[:200]
        if kwargs.get("update_fields") is not None and "address" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "address_key"}
        super().save(*args, **kwargs)


class Asset(models.Model):
    """One stored image file. Two files with equal bytes are two assets: people decide merges."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        QUARANTINED = "quarantined", "Quarantined"
        PURGED = "purged", "Purged"

    class Inspection(models.TextChoices):
        PENDING = "pending", "Not inspected yet"
        READABLE = "readable", "Readable"
        UNREADABLE = "unreadable", "Unreadable"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="assets")
    origin_path = models.CharField(max_length=1024, help_text="Where the source system keeps the file.")
    origin_mtime_ns = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    byte_size = models.BigIntegerField()
    storage_name = models.CharField(
        max_length=500, blank=True, help_text="Where the bytes live in Django storage; empty for a file kept in place."
    )
    origin_root = models.CharField(
        max_length=1024,
        blank=True,
        help_text="For a file kept in place: the folder, or s3://bucket/prefix, its origin_path is under.",
    )
    origin_etag = models.CharField(
        max_length=200, blank=True, help_text="For an object kept in a bucket: its ETag when imported (drift)."
    )
    origin_moved_to = models.CharField(
        max_length=1024, blank=True, help_text="For an object quarantined in its bucket: the key it was moved to."
    )
    source_drift = models.CharField(
        max_length=500, blank=True, help_text="Why a file kept in place is no longer the one imported (verify_sources)."
    )
    format = models.CharField(max_length=16, blank=True)
    # As shown: after the EXIF orientation is applied.
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    exif_orientation = models.PositiveSmallIntegerField(null=True, blank=True)
    exif_captured_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True, help_text="As the source system reports it.")
    # Facts the keeper rules rest on, from inspection: the pixels that are picture (letterbox bars
    # trimmed) and the JPEG quality estimate. None for assets inspected before these were kept.
    content_pixels = models.PositiveBigIntegerField(null=True, blank=True)
    jpeg_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    inspection = models.CharField(max_length=16, choices=Inspection.choices, default=Inspection.PENDING)
    unreadable_reason = models.TextField(blank=True)
    thumbnail_name = models.CharField(max_length=500, blank=True)
    import_run = models.ForeignKey("ImportRun", on_delete=models.PROTECT, null=True, blank=True, related_name="assets")
    import_row = models.PositiveIntegerField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The same path re-imported with other bytes is a new asset; the same bytes are not.
            models.UniqueConstraint(fields=["source", "origin_path", "sha256"], name="asset_unique_origin_version"),
        ]
        indexes = [
            models.Index(fields=["sha256"], name="asset_sha256"),
            models.Index(fields=["state"], name="asset_state"),
            models.Index(fields=["inspection"], name="asset_inspection"),
            models.Index(fields=["source", "origin_path"], name="asset_origin"),
        ]

    def __str__(self) -> str:
        return f"asset {self.pk} ({self.origin_path})"

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def picture_pixels(self) -> int:
        """The pixels that are picture; all of them when inspection did not measure it."""
        return self.pixels if self.content_pixels is None else self.content_pixels


class Blob(models.Model):
    """Bytes we store, once per SHA-256: every asset with these bytes names the same `storage_name`
    (`dedupe.blobs`). Assets stored before blobs existed keep a file each and have no row here."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    storage_name = models.CharField(max_length=500, unique=True)
    byte_size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.byte_size:,} bytes)"


class Fingerprint(models.Model):
    """What detection computes once per readable asset. 64-bit hashes are stored signed.

    Hashes are taken with letterbox bars trimmed; the `zoom` ones on the centre 90%, so that a
    copy cropped by 5% per side meets its original. The 256-bit pHashes verify what the 64-bit
    ones found. `pixel_sha256` (upright decoded pixels) is paid for only when a pair needs it.
    """

    asset = models.OneToOneField(Asset, on_delete=models.CASCADE, primary_key=True, related_name="fingerprint")
    phash = models.BigIntegerField()
    dhash = models.BigIntegerField()
    phash_zoom = models.BigIntegerField()
    phash256 = models.BinaryField(max_length=32)
    phash256_zoom = models.BinaryField(max_length=32)
    pixel_sha256 = models.CharField(max_length=64, blank=True)
    # Partial copies (dedupe.partial): the mirror image's hashes, ORB keypoints (float32 x, y in the
    # feature frame) and descriptors (32 bytes each), and a small grey image for pixel agreement.
    # Empty for assets inspected before these existed: they take part in partial matching once re-inspected.
    phash_mirror = models.BigIntegerField(null=True, blank=True)
    phash256_mirror = models.BinaryField(max_length=32, default=b"")
    feature_width = models.PositiveSmallIntegerField(default=0)
    feature_height = models.PositiveSmallIntegerField(default=0)
    keypoints = models.BinaryField(default=b"")
    descriptors = models.BinaryField(default=b"")
    grey = models.BinaryField(default=b"")
    grey_width = models.PositiveSmallIntegerField(default=0)
    # Lab a*b* at half the grey image's size: a change painted in a similar grey is seen in colour.
    chroma = models.BinaryField(default=b"")
    # What the picture shows, aggregated from its descriptors over the archive's vocabulary
    # (dedupe.content): partial copies are looked for by it whatever record they are filed under.
    # Empty until the search phase of the first scan after inspection codes it.
    content_code = models.BinaryField(default=b"")
    searched = models.BooleanField(default=False, help_text="Compared against the archive by a finished scan.")
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"fingerprint of asset {self.asset_id}"


class ContentVocabulary(models.Model):
    """The words and projection of content codes, learned once from the archive (one row, ever).

    Codes are comparable only under one vocabulary, so it is never learned again by itself.
    """

    singleton = models.BooleanField(default=True, unique=True)
    data = models.BinaryField()
    pictures = models.PositiveIntegerField(help_text="Pictures it was learned from.")
    learned_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"content vocabulary learned from {self.pictures} pictures"


class Attachment(models.Model):
    """A record's slot that shows an asset: the placeholder a past cleanup once stripped."""

    class State(models.TextChoices):
        ATTACHED = "attached", "Attached"
        STRIPPED = "stripped", "Stripped"
        RESTORED = "restored", "Restored"
        DETACHED = "detached", "Detached on purpose"

    # The states in which the record shows the asset: what "every record keeps a viewable image" counts.
    SHOWN = (State.ATTACHED, State.RESTORED)

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="attachments")
    slot = models.CharField(max_length=64)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="attachments")
    state = models.CharField(max_length=16, choices=State.choices)
    reason = models.TextField(blank=True, help_text="Why the attachment is in its current state.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["record", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["record", "slot"], name="attachment_unique_slot"),
            # A stripped placeholder may have lost its asset; a shown one never has. (SHOWN spelled
            # out: Meta cannot see the class body, and the migration holds the same list.)
            models.CheckConstraint(
                condition=~models.Q(state__in=["attached", "restored"]) | models.Q(asset__isnull=False),
                name="attachment_shown_has_asset",
            ),
        ]
        indexes = [models.Index(fields=["state"], name="attachment_state")]

    def __str__(self) -> str:
        return f"{self.record} slot {self.slot}"


class AttachmentChange(models.Model):
    """One step in an attachment's history: which asset it showed before and after, and why."""

    attachment = models.ForeignKey(Attachment, on_delete=models.PROTECT, related_name="history")
    at = models.DateTimeField(auto_now_add=True)
    from_asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    reason = models.TextField()
    audit_event = models.ForeignKey("AuditEvent", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["attachment", "at", "id"]

    def __str__(self) -> str:
        return f"{self.attachment}: {self.from_state or 'new'} -> {self.to_state}"


class ImportRun(models.Model):
    """One run of import_archive or import_folder, with its counts."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        # Its process stopped beating (killed, machine lost): re-running the command resumes it.
        INTERRUPTED = "interrupted", "Interrupted"

    kind = models.CharField(max_length=16)  # archive | folder
    location = models.CharField(max_length=1024, help_text="The manifest or folder imported.")
    root = models.CharField(max_length=1024)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the importing process.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} import {self.pk} of {self.location}"


class ImportChunk(LeasedChunk):
    """Asset ids of one import batch for a worker to decode; leased like a scan chunk (dedupe.leases)."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="chunks")

    class Meta:
        indexes = [models.Index(fields=["status", "queued_at"], name="import_chunk_status")]

    def __str__(self) -> str:
        return f"{self.run} chunk {self.pk}"


class ImportProblem(models.Model):
    """A row of an import that did not yield a readable asset, kept for people to see later."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="problems")
    row = models.PositiveIntegerField(null=True, blank=True)
    path = models.CharField(max_length=1024)
    reason = models.TextField()
    asset = models.ForeignKey(Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["run", "row", "id"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.path}: {self.reason}"


class AuditEvent(models.Model):
    """An append-only entry for one state change; written only by `dedupe.audit.audit_record`.

    Events form a hash chain (`dedupe.auditchain`): `seq` numbers them 1, 2, 3... without gaps,
    `hash` covers the event's content, its subjects and `prev_hash`, the hash of event `seq - 1`.
    `at` is set by the writer, not the database, so the hash covers exactly the stored time.
    """

    seq = models.BigIntegerField(unique=True, help_text="Position in the hash chain, from 1, without gaps.")
    prev_hash = models.CharField(max_length=64, help_text="The hash of the event before (64 zeros for the first).")
    hash = models.CharField(max_length=64, help_text="SHA-256 of prev_hash and this event's canonical content.")
    at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, help_text="User id; empty for system work.")
    actor_name = models.CharField(max_length=150)
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["actor_id", "id"], name="audit_actor")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are append-only: an event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ValueError("Audit events are append-only: an event cannot be deleted.")


class AuditSubject(models.Model):
    """One object an audit event concerns; ids, not foreign keys, so history outlives the rows."""

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="subjects")
    kind = models.CharField(max_length=32)  # source | record | asset | attachment | import | ...
    object_id = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["kind", "object_id", "event"], name="audit_subject")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id}"


class ScanRun(models.Model):
    """One detection run: inspect what is pending, search the new assets against all, group."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        INSPECT = "inspect", "Decoding and fingerprinting"
        SEARCH = "search", "Searching for pairs"
        PARTIAL = "partial", "Matching partial copies"
        VERIFY = "verify", "Comparing pixels"
        GROUP = "group", "Grouping"
        DONE = "done", "Done"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.INSPECT)
    started_by = models.CharField(max_length=150)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    new_assets = models.PositiveIntegerField(default=0)
    candidates_found = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # The assets searched: everything up to this id that was readable when the scan began.
    upto_asset = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # Two scans at once would do the work twice: at most one runs.
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="running"), name="one_running_scan"),
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} ({self.status}, {self.phase})"


class ScanChunk(LeasedChunk):
    """A piece of a scan phase that one task does; the database, not the broker, says what is left."""

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="chunks")
    phase = models.CharField(max_length=16, choices=ScanRun.Phase.choices)
    number = models.PositiveIntegerField()

    class Meta:
        ordering = ["scan", "phase", "number"]
        constraints = [models.UniqueConstraint(fields=["scan", "phase", "number"], name="chunk_unique")]
        indexes = [models.Index(fields=["scan", "phase", "status"], name="chunk_status")]

    def __str__(self) -> str:
        return f"{self.scan} {self.phase} chunk {self.number}"


class CandidateGroup(models.Model):
    """A connected set of open candidates: three copies of one photo are reviewed once."""

    size = models.PositiveIntegerField(default=0)
    best_kind = models.CharField(max_length=16)
    best_score = models.FloatField(default=0)
    address_conflict = models.BooleanField(default=False)
    cross_source = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["best_kind", "-best_score", "id"], name="group_queue")]

    def __str__(self) -> str:
        return f"group {self.pk} of {self.size}"


class Candidate(models.Model):
    """A pair of assets that may be the same photograph, with the evidence. asset_a.pk < asset_b.pk."""

    class Kind(models.TextChoices):
        EXACT = scoring.EXACT, "Same bytes"
        PIXEL = scoring.PIXEL, "Same pixels"
        NEAR = scoring.NEAR, "Near duplicate"
        PARTIAL = scoring.PARTIAL, "Partial copy"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SAME = "same", "Same photograph"
        DIFFERENT = "different", "Different photographs"
        WRONG_ATTACHMENT = "wrong_attachment", "Wrong attachment"
        # One image was merged away: the pair is closed, its question moved to the kept image
        # (review.models.PairMove); an unmerge reopens it.
        MOVED = "moved", "Moved to the kept image"

    asset_a = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    asset_b = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    score = models.FloatField(help_text="0..1; 1 is the same bytes.")
    evidence = models.JSONField(default=dict)
    address_conflict = models.BooleanField(default=False)
    cross_source = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    group = models.ForeignKey(
        CandidateGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="candidates"
    )
    found_by = models.ForeignKey(ScanRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    found_at = models.DateTimeField(auto_now_add=True)
    # The desk's queue order, stored so one index serves it: byte copies (bulk-approvable) first,
    # then pairs whose addresses differ (likely wrong attachments), then the rest; by score within.
    priority = models.PositiveSmallIntegerField(default=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset_a", "asset_b"], name="candidate_unique_pair"),
            models.CheckConstraint(condition=models.Q(asset_a__lt=models.F("asset_b")), name="candidate_ordered_pair"),
        ]
        indexes = [
            models.Index(fields=["status", "kind", "-score", "id"], name="candidate_queue"),
            models.Index(fields=["status", "priority", "-score", "id"], name="candidate_desk_queue"),
            models.Index(fields=["asset_b"], name="candidate_asset_b"),
            models.Index(fields=["group"], name="candidate_group"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} candidate {self.asset_a_id}~{self.asset_b_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.priority = self.queue_priority()
        super().save(*args, **kwargs)

    def queue_priority(self) -> int:
        return 0 if self.kind == self.Kind.EXACT else 1 if self.address_conflict else 2

    @property
    def images(self) -> tuple[Asset, Asset]:
        return self.asset_a, self.asset_b
