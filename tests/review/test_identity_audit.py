"""Every change to who may do what is an audit event with before and after, whatever made it: the
admin's forms, a management command, or code saving a user or a group. Passwords and their hashes
never reach the log; saves that change nothing privileged write nothing."""

import json
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import RequestFactory

from dedupe.models import AuditEvent
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Correct-Horse-Battery-77"


def events(action: str, since: int = 0) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, seq__gt=since).order_by("seq"))


def about(action: str, username: str) -> list[AuditEvent]:
    return [e for e in events(action) if (e.after or e.before).get("user") == username]


def last_seq() -> int:
    """Where the log ends now: the fixtures' own events (their users and roles) come before it."""
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def subjects(event: AuditEvent) -> set[tuple[str, str]]:
    return {(s.kind, s.object_id) for s in event.subjects.all()}


def assert_log_keeps_no_secret(*secrets: str) -> None:
    """No event's content names a password or a password hash, and the chain still verifies."""
    log = json.dumps([[e.actor_name, e.before, e.after, e.reason] for e in AuditEvent.objects.all()])
    for secret in secrets:
        assert secret and secret not in log
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("OK: ")


@pytest.fixture
def admin_client(client, administrator):
    administrator.is_staff = administrator.is_superuser = True  # the admin site's own gate
    administrator.save()
    client.force_login(administrator)
    return client


@pytest.fixture
def as_command(monkeypatch):
    """Run the next call_command as `python manage.py NAME` would, whose argv names the actor."""

    def run(name: str, *args: str, **options) -> None:
        monkeypatch.setattr(sys, "argv", ["manage.py", name, *args])
        call_command(name, *args, **options)

    return run


def change_form(user, **fields) -> dict:
    form = {
        "username": user.username, "email": user.email, "first_name": user.first_name, "last_name": "",
        "groups": list(user.groups.values_list("pk", flat=True)), "date_joined_0": "2026-11-01",
        "date_joined_1": "10:00:00", "initial-date_joined_0": "2026-11-01", "initial-date_joined_1": "10:00:00",
        "is_active": "on",
    }  # fmt: skip
    form.update(fields)
    return {name: value for name, value in form.items() if value is not None}


# Through the admin, as the signed-in administrator ---------------------------------------------


def test_creating_a_user_in_the_admin_is_recorded_without_the_password(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "newcomer", "usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.content[:2000]
    newcomer = get_user_model().objects.get(username="newcomer")
    [created] = events("user.create")[-1:]
    assert subjects(created) == {("user", str(newcomer.pk))}
    assert (created.actor_name, created.actor_role) == ("administrator", "administrator")
    assert created.before is None
    assert created.after == {
        "username": "newcomer", "email": "", "is_active": True, "is_staff": False, "is_superuser": False,
        "password": "set",
    }  # fmt: skip
    assert created.request_id
    assert_log_keeps_no_secret(NEW_PASSWORD, newcomer.password)


def test_granting_staff_and_superuser_and_deactivating_in_the_admin_are_recorded(admin_client, archivist):
    mark = last_seq()
    response = admin_client.post(
        f"/admin/auth/user/{archivist.pk}/change/",
        change_form(archivist, is_staff="on", is_superuser="on", is_active=None),
    )

    assert response.status_code == 302, response.content[:2000]
    [changed] = about("user.change", "archivist")
    assert (changed.actor_name, changed.actor_role) == ("administrator", "administrator")
    assert changed.before == {"user": "archivist", "is_active": True, "is_staff": False, "is_superuser": False}
    assert changed.after == {"user": "archivist", "is_active": False, "is_staff": True, "is_superuser": True}
    assert subjects(changed) == {("user", str(archivist.pk))}
    assert not events("user.roles", since=mark) and not events("user.password", since=mark)
    assert_log_keeps_no_secret(archivist.password)


def test_changing_a_users_roles_in_the_admin_records_the_roles_before_and_after(admin_client, archivist):
    auditors = Group.objects.get_or_create(name="auditor")[0]
    mark = last_seq()

    response = admin_client.post(
        f"/admin/auth/user/{archivist.pk}/change/", change_form(archivist, groups=[auditors.pk])
    )

    assert response.status_code == 302, response.content[:2000]
    changes = events("user.roles", since=mark)
    assert changes[0].before == {"user": "archivist", "roles": ["archivist"]}
    assert changes[-1].after == {"user": "archivist", "roles": ["auditor"]}
    assert all(e.actor_name == "administrator" for e in changes)
    assert ("role", str(auditors.pk)) in subjects(changes[-1])
    assert not about("user.change", "archivist")  # the form re-saved the user, but no privileged field changed


def test_setting_a_password_in_the_admin_records_only_that_it_changed(admin_client, archivist):
    old_hash = archivist.password

    response = admin_client.post(
        f"/admin/auth/user/{archivist.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.content[:2000]
    archivist.refresh_from_db()
    assert archivist.check_password(NEW_PASSWORD)
    [changed] = events("user.password")
    assert changed.after == {"user": "archivist", "password": "changed", "usable": True}
    assert changed.before is None
    assert changed.actor_name == "administrator"
    assert not about("user.change", "archivist")
    assert_log_keeps_no_secret(NEW_PASSWORD, old_hash, archivist.password, "pw-for-tests-only")


def test_deleting_a_user_in_the_admin_records_who_they_were_and_their_roles(admin_client, archivist):
    response = admin_client.post(f"/admin/auth/user/{archivist.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content[:2000]
    assert not get_user_model().objects.filter(pk=archivist.pk).exists()
    [deleted] = events("user.delete")
    assert deleted.actor_name == "administrator"
    assert deleted.before == {
        "user": "archivist", "username": "archivist", "email": "", "is_active": True, "is_staff": False,
        "is_superuser": False, "roles": ["archivist"], "permissions": [],
    }  # fmt: skip
    assert subjects(deleted) == {("user", str(archivist.pk))}
    assert_log_keeps_no_secret(archivist.password)


def test_changing_a_groups_permissions_in_the_admin_is_recorded(admin_client, archivist):
    group = Group.objects.get(name="archivist")
    permission = Permission.objects.get(content_type__app_label="auth", codename="change_user")

    response = admin_client.post(
        f"/admin/auth/group/{group.pk}/change/", {"name": "archivist", "permissions": [permission.pk]}
    )

    assert response.status_code == 302, response.content[:2000]
    [changed] = events("group.permissions")
    assert changed.before == {"group": "archivist", "permissions": []}
    assert changed.after == {"group": "archivist", "permissions": ["auth.change_user"]}
    assert changed.actor_name == "administrator"
    assert subjects(changed) == {("role", str(group.pk))}


# Through management commands, as the process ------------------------------------------------------


def test_createsuperuser_is_recorded_as_the_command(as_command, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW_PASSWORD)

    as_command("createsuperuser", "--noinput", username="root", email="root@example.org", stdout=StringIO())

    [created] = events("user.create")
    assert created.actor_name.startswith("system:manage.py createsuperuser")
    assert (created.actor_id, created.actor_role) == (None, "system")
    assert created.after["is_superuser"] is True and created.after["is_staff"] is True
    assert created.after["password"] == "set"
    assert_log_keeps_no_secret(NEW_PASSWORD, get_user_model().objects.get(username="root").password)


def test_changepassword_is_recorded_as_the_command(as_command, monkeypatch, archivist):
    old_hash = archivist.password
    monkeypatch.setattr(changepassword.getpass, "getpass", lambda prompt="": NEW_PASSWORD)

    as_command("changepassword", "archivist", stdout=StringIO())

    [changed] = events("user.password")
    assert changed.actor_name.startswith("system:manage.py changepassword")
    assert changed.actor_id is None
    assert changed.after == {"user": "archivist", "password": "changed", "usable": True}
    archivist.refresh_from_db()
    assert_log_keeps_no_secret(NEW_PASSWORD, old_hash, archivist.password)


def test_create_demo_users_records_each_account_and_role(as_command, settings):
    settings.DEBUG = True  # the demo's own command, run as a demo runs it

    as_command("create_demo_users", "--password", NEW_PASSWORD, stdout=StringIO())

    created = {e.after["username"]: e for e in events("user.create")}
    assert set(created) == {"admin", "archivist", "caseworker", "auditor"}
    assert all(e.actor_name.startswith("system:manage.py create_demo_users") for e in created.values())
    [granted_admin] = about("user.change", "admin")  # created plain, then granted
    assert granted_admin.after == {"user": "admin", "is_staff": True, "is_superuser": True}
    granted = {e.after["user"]: e.after["roles"] for e in events("user.roles")}
    assert granted == {"admin": ["administrator"], "archivist": ["archivist"], "caseworker": ["caseworker"],
                       "auditor": ["auditor"]}  # fmt: skip
    assert_log_keeps_no_secret(NEW_PASSWORD, *get_user_model().objects.values_list("password", flat=True))


# Through plain code ------------------------------------------------------------------------------


def test_code_saving_a_user_records_the_flags_it_changed(archivist):
    archivist.is_superuser = True
    archivist.first_name = "Ada"
    archivist.save()

    [changed] = events("user.change")
    assert changed.before == {"user": "archivist", "is_superuser": False}
    assert changed.after == {"user": "archivist", "is_superuser": True}
    assert changed.actor_name.startswith("system:") and changed.actor_id is None


def test_code_setting_a_password_or_making_it_unusable_records_only_that(archivist):
    old_hash = archivist.password
    archivist.set_password(NEW_PASSWORD)
    archivist.save()
    archivist.set_unusable_password()
    archivist.save(update_fields=["password"])

    assert [e.after for e in events("user.password")] == [
        {"user": "archivist", "password": "changed", "usable": True},
        {"user": "archivist", "password": "changed", "usable": False},
    ]
    assert_log_keeps_no_secret(NEW_PASSWORD, old_hash, archivist.password)


def test_roles_granted_from_either_end_are_recorded_per_person(archivist, auditor):
    reviewers = Group.objects.get_or_create(name="caseworker")[0]
    mark = last_seq()
    reviewers.user_set.add(archivist, auditor)
    archivist.groups.remove(reviewers)
    auditor.groups.clear()

    roles = [(e.after["user"], e.before["roles"], e.after["roles"]) for e in events("user.roles", since=mark)]
    assert roles == [
        ("archivist", ["archivist"], ["archivist", "caseworker"]),
        ("auditor", ["auditor"], ["auditor", "caseworker"]),
        ("archivist", ["archivist", "caseworker"], ["archivist"]),
        ("auditor", ["auditor", "caseworker"], []),
    ]
    assert_log_keeps_no_secret(archivist.password)


def test_direct_permissions_groups_renamed_and_deleted_are_recorded(archivist):
    permission = Permission.objects.get(content_type__app_label="auth", codename="delete_user")
    archivist.user_permissions.add(permission)
    group = Group.objects.get(name="archivist")
    group.permissions.add(permission)
    group.name = "reviewer"  # a rename changes what every member may do
    group.save()
    group_pk = group.pk
    group.delete()

    [direct] = events("user.permissions")
    assert (direct.before["permissions"], direct.after["permissions"]) == ([], ["auth.delete_user"])
    [renamed] = events("group.rename")
    assert (renamed.before, renamed.after) == ({"name": "archivist"}, {"name": "reviewer"})
    assert ("user", str(archivist.pk)) in subjects(renamed)
    [deleted] = events("group.delete")
    assert deleted.before == {"name": "reviewer", "members": ["archivist"], "permissions": ["auth.delete_user"]}
    assert subjects(deleted) == {("role", str(group_pk)), ("user", str(archivist.pk))}
    assert_log_keeps_no_secret(archivist.password)


def test_deleting_a_user_in_code_is_recorded(archivist):
    archivist.delete()

    [deleted] = events("user.delete")
    assert deleted.before["roles"] == ["archivist"] and deleted.actor_name.startswith("system:")


# What is not an identity change -----------------------------------------------------------------


def test_signing_in_and_unchanged_saves_write_no_identity_event(client, archivist):
    identity = ("user.create", "user.change", "user.password", "user.roles", "user.delete")
    before = AuditEvent.objects.filter(action__in=identity).count()

    # updates last_login; django-axes needs the request
    assert client.login(request=RequestFactory().get("/login/"), username="archivist", password="pw-for-tests-only")
    archivist.refresh_from_db()
    archivist.save()
    archivist.last_name = "Lovelace"
    archivist.save()
    archivist.groups.add(Group.objects.get(name="archivist"))  # already held

    assert AuditEvent.objects.filter(action__in=identity).count() == before
    assert events("auth.login")


def test_a_hash_upgraded_at_sign_in_is_not_a_password_change(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    person = user_with_role("legacy", "archivist")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    assert client.login(request=RequestFactory().get("/login/"), username="legacy", password="pw-for-tests-only")

    person.refresh_from_db()
    assert person.password.startswith("pbkdf2_sha256$")  # Django did upgrade it
    assert not events("user.password")
