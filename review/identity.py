"""Audit events for changes to who may do what: accounts, their flags and passwords, their roles
(Django groups) and permissions, and the groups themselves.

The admin, `createsuperuser`, `changepassword`, `create_demo_users` and any code calling
`user.save()` or `user.groups.add()` all end in the same model signals, so identity changes are
recorded here, once, rather than in each path. The actor is the signed-in person when a request
is running (`recording.PersonAuditMiddleware` says who), otherwise the process, for example
"system:manage.py changepassword (ops)". A password is never recorded, nor its hash: only that it
changed. Saves that change nothing privileged (`last_login` on every sign-in, a name) write
nothing. Writes that bypass the model (`QuerySet.update`, raw SQL) send no signal and are not
seen: the database's own grants are the guard there.
"""

import getpass
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from dedupe.actions import Action, Subject
from dedupe.roles import role_forget

from .recording import _write

# What a person's account may do or be known by; a change to any of these is an event.
USER_FIELDS = ("username", "email", "is_active", "is_staff", "is_superuser")
# Programs whose first argument names what they are doing ("manage.py changepassword"); a Celery
# worker's events carry their task id already.
DISPATCHERS = ("manage.py", "django-admin")


def process_actor() -> str:
    """Who changed an account when no person is signed in: the command and the OS user running it."""
    argv = sys.argv or ["python"]
    program = Path(argv[0]).name
    if program == "__main__.py":  # python -m something
        program = Path(argv[0]).parent.name
    if program in DISPATCHERS:
        verb = next((arg for arg in argv[1:] if not arg.startswith("-")), "")
        program = f"{program} {verb}".strip()
    try:
        name = f"system:{program} ({getpass.getuser()})"
    except (KeyError, OSError):
        name = f"system:{program}"
    return name[:150]  # AuditEvent.actor_name


def _record(*, action: Action, subjects: Iterable[tuple[Subject, Any]], **kwargs: Any) -> None:
    _write(action=action, subjects=subjects, actor_name=process_actor(), **kwargs)


# Accounts ----------------------------------------------------------------------------------------


def _user_facts(user: Any) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_FIELDS}


def _rehashed(old_hash: str, user: Any, update_fields: frozenset | None) -> bool:
    """True for Django upgrading a stored hash at sign-in (`check_password`'s setter): the same
    password under a newer hasher, not a change. That path saves only the password, after
    clearing `_password`, and only when the old hash is outdated."""
    if user._password is not None or update_fields != frozenset({"password"}):
        return False
    try:
        hasher = identify_hasher(old_hash)
    except ValueError:
        return False
    return hasher.algorithm != get_hasher().algorithm or hasher.must_update(old_hash)


def user_before(sender: Any, instance: Any, update_fields: frozenset | None = None, **kwargs: Any) -> None:
    instance._identity_before = None
    if instance.pk is None or (update_fields is not None and not set(update_fields) & {*USER_FIELDS, "password"}):
        return
    instance._identity_before = sender._default_manager.filter(pk=instance.pk).values(*USER_FIELDS, "password").first()
    instance._identity_rehash = instance._identity_before is not None and _rehashed(
        instance._identity_before["password"], instance, update_fields
    )


def user_saved(sender: Any, instance: Any, created: bool, update_fields: frozenset | None = None, **kw: Any) -> None:
    """An account created, or its name, e-mail, active, staff or superuser flag or password changed."""
    before = instance.__dict__.pop("_identity_before", None)
    role_forget(instance)  # the superuser flag is a role
    now = _user_facts(instance)
    subjects = [(Subject.USER, instance.pk)]
    if created:
        password = "set" if instance.has_usable_password() else "unusable"
        _record(action=Action.USER_CREATE, subjects=subjects, after={**now, "password": password})
        return
    if before is None:
        return
    saved = USER_FIELDS if update_fields is None else [name for name in USER_FIELDS if name in update_fields]
    changed = [name for name in saved if before[name] != now[name]]
    if changed:
        _record(
            action=Action.USER_CHANGE,
            subjects=subjects,
            before={"user": before["username"], **{name: before[name] for name in changed}},
            after={"user": now["username"], **{name: now[name] for name in changed}},
        )
    rehash = instance.__dict__.pop("_identity_rehash", False)
    password_saved = update_fields is None or "password" in update_fields
    if password_saved and before["password"] != instance.password and not rehash:
        _record(
            action=Action.USER_PASSWORD,
            subjects=subjects,
            after={"user": now["username"], "password": "changed", "usable": instance.has_usable_password()},
        )


def user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The roles go with the account (a cascade sends no m2m signal): note them before they do.
    instance._identity_deleted = {
        "user": instance.get_username(),
        **_user_facts(instance),
        "roles": sorted(instance.groups.values_list("name", flat=True)),
        "permissions": _permission_labels(sender.user_permissions.through.objects.filter(user=instance)),
    }


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    before = instance.__dict__.pop("_identity_deleted", None)
    before = before or {"user": instance.get_username(), **_user_facts(instance)}
    _record(action=Action.USER_DELETE, subjects=[(Subject.USER, instance.pk)], before=before)


# Groups: a group's name is the role it grants (`dedupe.audit.role_of`), so renaming one changes
# what every member may do.


def group_before(sender: Any, instance: Group, **kwargs: Any) -> None:
    old = Group.objects.filter(pk=instance.pk).values_list("name", flat=True).first() if instance.pk else None
    vars(instance)["_identity_before"] = old


def group_saved(sender: Any, instance: Group, created: bool, **kwargs: Any) -> None:
    old = instance.__dict__.pop("_identity_before", None)
    if created:
        _record(action=Action.GROUP_CREATE, subjects=[(Subject.ROLE, instance.pk)], after={"name": instance.name})
    elif old is not None and old != instance.name:
        members = [(Subject.USER, pk) for pk in instance.user_set.values_list("pk", flat=True)]
        _record(
            action=Action.GROUP_RENAME,
            subjects=[(Subject.ROLE, instance.pk), *members],
            before={"name": old},
            after={"name": instance.name},
        )


def group_deleting(sender: Any, instance: Group, **kwargs: Any) -> None:
    # Its members lose the role in a cascade that sends no m2m signal: name them now.
    members = dict(instance.user_set.values_list("pk", get_user_model().USERNAME_FIELD))
    before = {
        "name": instance.name,
        "members": sorted(members.values()),
        "permissions": _permission_labels(Group.permissions.through.objects.filter(group=instance)),
    }
    vars(instance)["_identity_deleted"] = (before, sorted(members))


def group_deleted(sender: Any, instance: Group, **kwargs: Any) -> None:
    before, member_ids = instance.__dict__.pop("_identity_deleted")
    subjects = [(Subject.ROLE, instance.pk), *((Subject.USER, pk) for pk in member_ids)]
    _record(action=Action.GROUP_DELETE, subjects=subjects, before=before)


def _permission_labels(rows: Any) -> list[str]:
    pairs = rows.values_list("permission__content_type__app_label", "permission__codename")
    return sorted(f"{app}.{codename}" for app, codename in pairs)


# Roles and permissions: many-to-many relations, seen from either end (`user.groups.add(group)` or
# `group.user_set.add(user)`), each change recorded per owner with the whole set before and after.


@dataclass(frozen=True)
class Relation:
    """A many-to-many relation that grants something: its through table's owner and target fields."""

    through: Any
    action: Action
    owner: str  # "user" or "group": whose grants these are
    target: str  # "group" or "permission": what is granted
    key: str  # how before/after name the set: "roles" or "permissions"
    subject: Subject  # the owner's subject kind: a user or a role

    def owners(self, instance: Any, reverse: bool, pk_set: set | None) -> list[int]:
        if not reverse:
            return [instance.pk]
        if pk_set is not None:
            return sorted(pk_set)
        rows = self.through.objects.filter(**{f"{self.target}_id": instance.pk})
        return sorted(rows.values_list(f"{self.owner}_id", flat=True))

    def granted(self, owners: list[int]) -> dict[int, list[str]]:
        """Each owner's roles by name, or permissions as "app_label.codename", sorted."""
        found: dict[int, list[str]] = {pk: [] for pk in owners}
        rows = self.through.objects.filter(**{f"{self.owner}_id__in": owners})
        if self.target == "group":
            for owner_id, name in rows.values_list(f"{self.owner}_id", "group__name"):
                found[owner_id].append(name)
        else:
            labels = rows.values_list(f"{self.owner}_id", "permission__content_type__app_label", "permission__codename")
            for owner_id, app, codename in labels:
                found[owner_id].append(f"{app}.{codename}")
        return {pk: sorted(names) for pk, names in found.items()}

    def names(self, owners: list[int]) -> dict[int, str]:
        model = self.through._meta.get_field(self.owner).related_model
        label = model.USERNAME_FIELD if self.owner == "user" else "name"
        return dict(model._default_manager.filter(pk__in=owners).values_list("pk", label))


_relations: dict[Any, Relation] = {}


def grants_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: set | None, **kwargs: Any) -> None:
    """Snapshot the grants of everyone a change touches before it, record each who differs after."""
    relation = _relations[sender]
    pending = instance.__dict__.setdefault("_identity_grants", {})
    if action.startswith("pre_"):
        owners = relation.owners(instance, reverse, pk_set)
        roles = [instance.pk] if reverse else sorted(pk_set or ())
        if relation.target == "group" and not reverse and pk_set is None:  # clear(): every role held
            roles = sorted(relation.through.objects.filter(user_id=instance.pk).values_list("group_id", flat=True))
        touched = [(Subject.ROLE, pk) for pk in roles] if relation.target == "group" else []
        pending[sender] = (owners, touched, relation.granted(owners))
        return
    if sender not in pending:
        return
    owners, touched, before = pending.pop(sender)
    if relation.target == "group" and not reverse:
        role_forget(instance)  # its role is cached for the request; the groups just changed
    after, names = relation.granted(owners), relation.names(owners)
    for owner in owners:
        if before[owner] != after[owner]:
            _record(
                action=relation.action,
                subjects=[(relation.subject, owner), *touched],
                before={relation.owner: names.get(owner, ""), relation.key: before[owner]},
                after={relation.owner: names.get(owner, ""), relation.key: after[owner]},
            )


def connect() -> None:
    user = get_user_model()
    for relation in (
        Relation(user.groups.through, Action.USER_ROLES, "user", "group", "roles", Subject.USER),
        Relation(
            user.user_permissions.through, Action.USER_PERMISSIONS, "user", "permission", "permissions", Subject.USER
        ),
        Relation(
            Group.permissions.through, Action.GROUP_PERMISSIONS, "group", "permission", "permissions", Subject.ROLE
        ),
    ):
        _relations[relation.through] = relation
        m2m_changed.connect(grants_changed, sender=relation.through, dispatch_uid=f"audit-{relation.action}")
    pre_save.connect(user_before, sender=user, dispatch_uid="audit-user-before")
    post_save.connect(user_saved, sender=user, dispatch_uid="audit-user")
    pre_delete.connect(user_deleting, sender=user, dispatch_uid="audit-user-deleting")
    post_delete.connect(user_deleted, sender=user, dispatch_uid="audit-user-deleted")
    pre_save.connect(group_before, sender=Group, dispatch_uid="audit-group-before")
    post_save.connect(group_saved, sender=Group, dispatch_uid="audit-group")
    pre_delete.connect(group_deleting, sender=Group, dispatch_uid="audit-group-deleting")
    post_delete.connect(group_deleted, sender=Group, dispatch_uid="audit-group-deleted")
