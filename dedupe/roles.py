"""Who may do what: the roles, and the named capabilities built on them.

The only place a role name is spelled. It sits in `dedupe`, below `review`, because the audit
writer snapshots each actor's role into every event; everything that asks "may this person..."
asks `can(user, Capability.X)` rather than comparing role names.
"""

from enum import StrEnum
from typing import Any

from django.db import models


class Role(models.TextChoices):
    """A role is a Django group of the same name; a superuser is an administrator."""

    ADMINISTRATOR = "administrator", "Administrator"
    ARCHIVIST = "archivist", "Archivist"
    CASEWORKER = "caseworker", "Caseworker"
    AUDITOR = "auditor", "Auditor"


# The role recorded for work no person started (imports, scans, purges run by commands).
SYSTEM = "system"
# Attribute on the user object holding its role for the rest of the request: one groups query,
# however many checks a page or a decision makes (as Django's ModelBackend caches permissions).
_CACHE = "_dedupe_role"


class Capability(StrEnum):
    SEE_ALL_SOURCES = "see_all_sources"
    SEE_ASSIGNED_SOURCES = "see_assigned_sources"  # only the sources assigned to them; anyone else none
    DECIDE = "decide"  # same / different / wrong attachment, alone or on a group
    APPROVE = "approve"  # four-eyes approvals, handing out pairs, reversing others' decisions
    APPROVE_EXACT = "approve_exact"  # bulk approval of byte-identical groups
    RESTORE = "restore"  # put an image back in a stripped placeholder
    EXPORT_MERGE_MAP = "export_merge_map"
    READ_AUDIT = "read_audit"  # the auditor's workspace
    SEE_IMPORTS = "see_imports"
    SEE_STORAGE = "see_storage"
    SCAN = "scan"


_A, _R, _C, _U = Role.ADMINISTRATOR, Role.ARCHIVIST, Role.CASEWORKER, Role.AUDITOR
GRANTS: dict[Capability, frozenset[str]] = {
    Capability.SEE_ALL_SOURCES: frozenset({_A, _R, _U}),
    Capability.SEE_ASSIGNED_SOURCES: frozenset({_C}),
    Capability.DECIDE: frozenset({_A, _R, _C}),
    Capability.APPROVE: frozenset({_A, _R}),
    Capability.APPROVE_EXACT: frozenset({_A, _R}),
    Capability.RESTORE: frozenset({_A, _R, _C}),
    Capability.EXPORT_MERGE_MAP: frozenset({_A, _R}),
    Capability.READ_AUDIT: frozenset({_A, _U}),
    Capability.SEE_IMPORTS: frozenset({_A, _R}),
    Capability.SEE_STORAGE: frozenset({_A, _R, _C, _U}),
    Capability.SCAN: frozenset({_A}),
}


def role_of(user: Any) -> str:
    """The user's role today, snapshotted into each audit event (roles change; history must not).

    Read once per user object, so once per request; `role_forget` drops it when groups change.
    """
    if user is None:
        return SYSTEM
    if not user.is_authenticated:  # a User or Django's AnonymousUser: both say
        return ""
    if user.is_superuser:
        return Role.ADMINISTRATOR.value
    cached = getattr(user, _CACHE, None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = next((role.value for role in Role if role.value in names), "")
        setattr(user, _CACHE, cached)
    return cached


def role_forget(user: Any) -> None:
    """Drop the cached role: the user's groups changed within this request (an admin page, a test)."""
    if hasattr(user, _CACHE):
        delattr(user, _CACHE)


def can(user: Any, capability: Capability) -> bool:
    return role_of(user) in GRANTS[capability]


def capabilities(user: Any) -> dict[str, bool]:
    """Every capability by name, for templates: `{% if can.decide %}`, never a role name."""
    role = role_of(user)  # "system" for None: no capability either
    return {str(capability): role in roles for capability, roles in GRANTS.items()}
