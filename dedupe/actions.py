"""What an audit event can say: every action, and every kind of subject an event names.

The one catalogue of the log's vocabulary, as Django's LogEntry names ADDITION, CHANGE and
DELETION: writers pass `Action.X` (`dedupe.audit.audit_record` takes nothing else), and the
readers (the auditor's filters and figures, the invariants, the lockout count) match on the same
names, never on a spelled string. It sits in `dedupe`, below `review`, because the audit writer
is typed with it; members are grouped by the module that writes them.

The values are stored in hash-chained events: never change one, only add. A new action is
`<subject>.<verb>`, added here beside its writer's group, then written by the service that makes
the change.
"""

from enum import StrEnum, unique


@unique
class Action(StrEnum):
    # dedupe.ingest
    IMPORT_START = "import.start"
    IMPORT_BATCH = "import.batch"
    IMPORT_FINISH = "import.finish"
    # dedupe.inspection
    ASSET_INSPECT = "asset.inspect"
    # dedupe.scanning, dedupe.candidates
    SCAN_START = "scan.start"
    SCAN_FINISH = "scan.finish"
    CANDIDATES_FOUND = "candidates.found"
    CANDIDATES_PIXEL_IDENTICAL = "candidates.pixel_identical"
    # dedupe.partials
    CANDIDATES_PARTIAL_FOUND = "candidates.partial_found"
    # dedupe.recovery, dedupe.orphans, dedupe.restore
    IMPORT_INTERRUPT = "import.interrupt"
    IMPORT_STORAGE_FULL = "import.storage_full"
    STORAGE_ORPHANS_RECLAIM = "storage.orphans_reclaim"
    SOURCES_DRIFT = "sources.drift"  # dedupe.verify: a file kept in place changed or went at its source
    # dedupe.source_writes: a bucket source that grants write access has its duplicates moved aside
    SOURCES_QUARANTINE = "sources.quarantine"
    SOURCES_RETURN = "sources.return"
    AUDIT_RESTORE = "audit.restore"

    # review.services.decisions, review.services.groups
    DECISION_PROPOSE = "decision.propose"
    DECISION_APPLY = "decision.apply"
    DECISION_APPROVE = "decision.approve"
    DECISION_REJECT = "decision.reject"
    DECISION_REVERSE = "decision.reverse"
    REVERSAL_PROPOSE = "reversal.propose"  # review.services.decisions, .reversals
    REVERSAL_APPROVE = "reversal.approve"
    REVERSAL_REJECT = "reversal.reject"
    ATTACHMENT_DETACH = "attachment.detach"
    ATTACHMENT_REATTACH = "attachment.reattach"
    # review.services.merges, .placeholders, .storage
    ASSET_MERGE = "asset.merge"
    ASSET_UNMERGE = "asset.unmerge"
    ATTACHMENT_RESTORE = "attachment.restore"
    ASSET_PURGE = "asset.purge"
    # review.services.assignments, .images, .exports
    QUEUE_ASSIGN = "queue.assign"
    QUEUE_UNASSIGN = "queue.unassign"
    IMAGE_VIEW_THUMBNAIL = "image.view.thumbnail"
    IMAGE_VIEW_ORIGINAL = "image.view.original"
    IMAGE_VIEW_DIFFERENCE = "image.view.difference"
    AUDIT_EXPORT = "audit.export"

    # review.recording (signals and the refused-request middleware)
    AUTH_LOGIN = "auth.login"
    AUTH_LOGOUT = "auth.logout"
    SOURCE_CREATE = "source.create"
    SOURCE_CHANGE = "source.change"
    SOURCE_KEEPER_RULES = "source.keeper_rules"
    USER_ASSIGN_SOURCE = "user.assign_source"
    USER_UNASSIGN_SOURCE = "user.unassign_source"
    HOLD_PLACE = "hold.place"
    HOLD_LIFT = "hold.lift"
    HOLD_CHANGE = "hold.change"
    REQUEST_REFUSED = "request.refused"
    # review.two_factor, review.throttling
    AUTH_SECOND_FACTOR = "auth.second_factor"
    AUTH_SECOND_FACTOR_ENROL = "auth.second_factor_enrol"
    AUTH_LOCKOUT = "auth.lockout"
    # review.identity
    USER_CREATE = "user.create"
    USER_CHANGE = "user.change"
    USER_PASSWORD = "user.password"  # noqa: S105 - the action of changing one; no password here
    USER_DELETE = "user.delete"
    USER_ROLES = "user.roles"
    USER_PERMISSIONS = "user.permissions"
    GROUP_CREATE = "group.create"
    GROUP_RENAME = "group.rename"
    GROUP_DELETE = "group.delete"
    GROUP_PERMISSIONS = "group.permissions"
    # review.services.api_tokens, review.services.gate (the API, issue 14)
    API_TOKEN_CREATE = "token.create"  # noqa: S105 - an action name, no secret
    API_TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name, no secret
    GATE_POLICY = "source.gate_policy"
    GATE_STORE = "gate.store"  # an upload stored as a new image
    GATE_ATTACH = "gate.attach"  # an upload that was a copy: its slot attached to the existing image
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_REPLAY = "webhook.replay"

    @classmethod
    def family(cls, subject: str) -> tuple["Action", ...]:
        """Every action on one subject ("decision" gives decision.propose, .apply, ...)."""
        return tuple(action for action in cls if action.startswith(f"{subject}."))


# Every decision a person records: what the figures count per day and time spent is measured on.
DECISION_ACTIONS = Action.family("decision")


@unique
class Subject(StrEnum):
    """What an event concerns (`AuditSubject.kind`); the object id is the row's pk unless noted."""

    SOURCE = "source"  # its slug
    RECORD = "record"
    ASSET = "asset"
    ATTACHMENT = "attachment"
    CANDIDATE = "candidate"
    DECISION = "decision"
    MERGE = "merge"
    REVERSAL = "reversal"  # a request to reverse an applied decision, answered by another person
    SCAN = "scan"
    IMPORT = "import"
    HOLD = "hold"
    USER = "user"
    ROLE = "role"  # a Django group: a group's name is the role it grants
    LOGIN = "login"  # the user name typed at a locked-out sign-in
    WEBHOOK = "webhook"  # a webhook endpoint (review.models.WebhookEndpoint)
    API_TOKEN = "token"  # noqa: S105 - an API token (review.models.ApiToken)
