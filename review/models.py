"""Who may see what: the sources each caseworker is assigned to."""

from django.conf import settings
from django.db import models

from dedupe.models import Source


class SourceAssignment(models.Model):
    """A caseworker sees and works on the records of the sources assigned to them, no others."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_assignments")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "source"], name="assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user} -> {self.source}"


class ReviewAssignment(models.Model):
    """A pair given to one reviewer, so a team splits the queue without two people on one pair."""

    candidate = models.OneToOneField("dedupe.Candidate", on_delete=models.CASCADE, related_name="assignment")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["reviewer", "candidate"], name="review_assignment_reviewer")]

    def __str__(self) -> str:
        return f"pair {self.candidate_id} -> {self.reviewer}"


class Decision(models.Model):
    """A reviewer's verdict on one candidate pair. A caseworker's "same" on a sensitive source is
    only proposed until an archivist approves it (four eyes)."""

    # Why a decision waits for another person; set by the service that records it, not stored.
    proposed_because: str = ""

    class Verdict(models.TextChoices):
        SAME = "same", "Same photograph"
        DIFFERENT = "different", "Different photographs"
        WRONG_ATTACHMENT = "wrong_attachment", "Wrong attachment"

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed, awaiting approval"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Proposal rejected"
        REVERSED = "reversed", "Reversed"

    class Reason(models.TextChoices):
        DIFFERENT_PHOTOGRAPH = "different_photograph", "Different photograph"
        SAME_PLACE_OTHER_TIME = "same_place_other_time", "Same place at another time"
        NEIGHBOURING_PROPERTY = "neighbouring_property", "Neighbouring property"
        OTHER = "other", "Other (see note)"

    candidate = models.ForeignKey("dedupe.Candidate", on_delete=models.PROTECT, related_name="decisions")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    canonical = models.ForeignKey("dedupe.Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    wrong_attachment = models.ForeignKey(
        "dedupe.Attachment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    # What an applied "same" actually did, which the verdict alone cannot say: the image the pair
    # shows afterwards (not `canonical` when another decision merged the reviewer's choice away first),
    # and, when the two were already one image, the decision whose merge made them one.
    kept = models.ForeignKey("dedupe.Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    already_one_by = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            # At most one live decision per candidate: two reviewers racing cannot both win.
            models.UniqueConstraint(
                fields=["candidate"], condition=models.Q(status__in=["proposed", "applied"]), name="decision_one_live"
            ),
        ]
        indexes = [models.Index(fields=["decided_by", "-decided_at"], name="decision_by_user")]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on {self.candidate} ({self.status})"


class Reversal(models.Model):
    """A request to reverse an applied decision that one person may not make alone: on a sensitive
    source from someone who may not approve, or reaching sources they cannot see. Another person
    answers it; until then the decision stands."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed, awaiting a second person"
        APPLIED = "applied", "Approved and reversed"
        REJECTED = "rejected", "Rejected"

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="reversals")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    reason = models.TextField(blank=True)
    because = models.TextField(blank=True)  # why it needs a second person, as the requester was told
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["decision"], condition=models.Q(status="proposed"), name="reversal_one_waiting"
            ),
        ]

    def __str__(self) -> str:
        return f"Reversal of decision {self.decision_id} ({self.status})"


class Merge(models.Model):
    """A duplicate asset merged onto a canonical one; live until undone."""

    # Longest chain a walk follows (canonical_of, chain_ends): far beyond any real chain; a longer
    # walk means a cycle got in, which must not pass silently.
    MAX_CHAIN = 10_000

    duplicate = models.ForeignKey("dedupe.Asset", on_delete=models.PROTECT, related_name="merges_out")
    canonical = models.ForeignKey("dedupe.Asset", on_delete=models.PROTECT, related_name="merges_in")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="merges")
    at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            # One live merge per duplicate: a chain, never a fork.
            models.UniqueConstraint(
                fields=["duplicate"], condition=models.Q(undone_at__isnull=True), name="merge_one_live_per_duplicate"
            ),
            models.CheckConstraint(condition=~models.Q(duplicate=models.F("canonical")), name="merge_not_onto_itself"),
        ]
        indexes = [models.Index(fields=["canonical", "undone_at"], name="merge_canonical")]

    def __str__(self) -> str:
        return f"asset {self.duplicate_id} -> {self.canonical_id}"


class MergeMove(models.Model):
    """One attachment a merge re-pointed, and what it showed before: what unmerge puts back."""

    merge = models.ForeignKey(Merge, on_delete=models.PROTECT, related_name="moves")
    attachment = models.ForeignKey("dedupe.Attachment", on_delete=models.PROTECT, related_name="+")
    from_asset = models.ForeignKey("dedupe.Asset", on_delete=models.PROTECT, related_name="+")
    from_state = models.CharField(max_length=16)

    def __str__(self) -> str:
        return f"{self.attachment} was on asset {self.from_asset_id}"


class PairMove(models.Model):
    """An open pair of the merged-away image, closed by the merge so no page offers a quarantined
    image; the question it asked now stands between the kept image and the other one. Unmerge
    reads these to reopen the pair and close what the merge opened in its place."""

    merge = models.ForeignKey(Merge, on_delete=models.PROTECT, related_name="pair_moves")
    candidate = models.ForeignKey("dedupe.Candidate", on_delete=models.PROTECT, related_name="+")
    # The pair between the kept image and the other one; none when the other one is the kept image.
    replacement = models.ForeignKey(
        "dedupe.Candidate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The merge opened the replacement (created it, or reopened one an earlier unmerge closed):
    # unmerge closes it again while nobody has decided it.
    opened = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"pair {self.candidate_id} moved to {self.replacement_id} by merge {self.merge_id}"


class LegalHold(models.Model):
    """While a hold is in force, nothing under it is quarantined or purged."""

    source = models.ForeignKey("dedupe.Source", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    record = models.ForeignKey("dedupe.Record", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    asset = models.ForeignKey("dedupe.Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.TextField()
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__isnull=False)
                | models.Q(record__isnull=False)
                | models.Q(asset__isnull=False),
                name="hold_has_a_target",
            ),
        ]

    def __str__(self) -> str:
        target = self.asset or self.record or self.source
        return f"hold on {target}: {self.reason}"


class KeeperPolicy(models.Model):
    """The ordered rules that suggest which copy to keep, set per source by an administrator."""

    source = models.OneToOneField("dedupe.Source", on_delete=models.CASCADE, related_name="keeper_policy")
    rules = models.JSONField(default=list, help_text="Rule names, first decides; see review.keeper.RULES.")

    def __str__(self) -> str:
        return f"keeper rules of {self.source}"


class Purge(models.Model):
    """The bytes of one quarantined asset deleted after retention: what was there, kept forever."""

    asset = models.OneToOneField("dedupe.Asset", on_delete=models.PROTECT, related_name="purge")
    sha256 = models.CharField(max_length=64)
    byte_size = models.BigIntegerField()
    source = models.ForeignKey("dedupe.Source", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["source", "at"], name="purge_source_at")]

    def __str__(self) -> str:
        return f"purged asset {self.asset_id} ({self.byte_size} bytes)"


class ApiToken(models.Model):
    """A source system's key to the API: only its digest is kept, the token is shown once.

    A token is not a person: it never opens a site page, and its changes are recorded as
    `api:NAME`. Limits are per token so one tablet fleet cannot starve another.
    """

    name = models.CharField(max_length=100, unique=True, help_text="The source system, e.g. permit-tablets.")
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart.")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token; the token is not kept.")
    requests_per_minute = models.PositiveIntegerField(default=120)
    max_upload_bytes = models.PositiveBigIntegerField(default=50 * 1024 * 1024)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"API token {self.name} ({self.prefix}…)"

    @property
    def actor_name(self) -> str:
        """How the token's changes are signed in the audit log."""
        return f"api:{self.name}"


class ApiTokenSource(models.Model):
    """A source a token may read, and write when `write` is set: nothing outside these."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="scopes")
    source = models.ForeignKey("dedupe.Source", on_delete=models.CASCADE, related_name="+")
    write = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "source"], name="api_token_source_unique")]

    def __str__(self) -> str:
        return f"{self.token.name} {'reads and writes' if self.write else 'reads'} {self.source.slug}"


class ApiRateWindow(models.Model):
    """Requests a token made in one minute; shared by every web process (the database counts)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "minute"], name="api_rate_window_unique")]

    def __str__(self) -> str:
        return f"{self.count} requests at {self.minute:%H:%M}"


class IdempotencyKey(models.Model):
    """The first answer to an `Idempotency-Key`: a retried upload gets it again, never a second asset."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Answered"

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_digest = models.CharField(max_length=64, help_text="SHA-256 of method, path, fields and file.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_age")]

    def __str__(self) -> str:
        return f"{self.token.name} key {self.key} ({self.state})"


class GatePolicy(models.Model):
    """What the gate does with each kind of match for uploads into one source; set by administrators."""

    class Action(models.TextChoices):
        ATTACH = "attach", "Attach the slot to the existing image, store nothing"
        REVIEW = "review", "Store, and open a pair for the desk"
        REFUSE = "refuse", "Refuse the upload"

    source = models.OneToOneField("dedupe.Source", on_delete=models.CASCADE, related_name="gate_policy")
    exact = models.CharField(max_length=8, choices=Action.choices, default=Action.ATTACH)
    pixel = models.CharField(max_length=8, choices=Action.choices, default=Action.ATTACH)
    near = models.CharField(max_length=8, choices=Action.choices, default=Action.REVIEW)

    class Meta:
        verbose_name_plural = "gate policies"

    def __str__(self) -> str:
        return f"gate policy of {self.source}"

    def action_for(self, kind: str) -> str:
        return str(getattr(self, kind, self.Action.REVIEW))


class WebhookEndpoint(models.Model):
    """Where a source system wants to be told of moves of one source's references, signed with `secret`.

    The secret is kept (a signature needs it) and shown to the administrator once, at creation.
    `cursor` is how far into the changes feed deliveries have been made.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.PROTECT, related_name="webhooks")
    source = models.ForeignKey("dedupe.Source", on_delete=models.PROTECT, related_name="+")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, editable=False)
    cursor = models.CharField(max_length=40, blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook of {self.token.name} for {self.source.slug} to {self.url}"


class WebhookDelivery(models.Model):
    """One page of the changes feed sent (or to send) to an endpoint: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Given up after retries"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    body = models.TextField(help_text="Exactly the bytes sent and signed.")
    last_cursor = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} to {self.endpoint.url} ({self.status})"
