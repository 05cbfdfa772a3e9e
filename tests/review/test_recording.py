"""Each kind of event is written by the action that causes it: sign-ins, roles, sources, holds,
keeper rules, refused requests and looks at sensitive images."""

import pytest
from django.contrib.auth.models import Group

from dedupe.models import AuditEvent, Source
from review.models import KeeperPolicy, LegalHold, SourceAssignment
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_signing_in_and_out_are_recorded_and_a_failed_sign_in_is_not(client, archivist):
    client.post("/login/", {"username": "archivist", "password": "wrong"})
    client.post("/login/", {"username": "archivist", "password": "pw-for-tests-only"})
    client.post("/logout/")

    # anyone can fail: failures are counted by django-axes, only a lockout is an event
    # (tests/security/test_sign_in_throttling.py)
    assert events("auth.login_failed") == []
    assert [(e.actor_name, e.actor_role) for e in events("auth.login")] == [("archivist", "archivist")]
    assert [e.actor_name for e in events("auth.logout")] == ["archivist"]
    assert all(e.request_id for e in events("auth.login") + events("auth.logout"))


def test_a_role_change_made_in_the_admin_is_recorded_as_the_administrators(client, administrator, archivist):
    auditors = Group.objects.get_or_create(name="auditor")[0]
    administrator.is_staff = administrator.is_superuser = True  # the admin site's own gate
    administrator.save()
    client.force_login(administrator)

    response = client.post(
        f"/admin/auth/user/{archivist.pk}/change/",
        {"username": "archivist", "groups": [auditors.pk], "is_active": "on", "date_joined_0": "2026-11-01",
         "date_joined_1": "10:00:00", "initial-date_joined_0": "2026-11-01", "initial-date_joined_1": "10:00:00"},
    )  # fmt: skip

    assert response.status_code == 302 and response["Location"] == "/admin/auth/user/", response.content[:2000]
    change = [e for e in events("user.roles") if e.after["user"] == "archivist"][-1]
    assert change.after["roles"] == ["auditor"]
    assert (change.actor_name, change.actor_role) == ("administrator", "administrator")


def test_source_changes_and_thresholds_are_recorded_with_before_and_after(permits):
    source = permits[0]
    source.near_radius = 4
    source.sensitivity = "sensitive"
    source.save()
    source.save()  # nothing changed: nothing recorded

    created, changed = events("source.create")[-1], events("source.change")
    assert created.after["slug"] == "permits"
    assert len(changed) == 1
    assert (changed[0].before["near_radius"], changed[0].after["near_radius"]) == (None, 4)
    assert changed[0].after["sensitivity"] == "sensitive"


def test_assignments_keeper_rules_and_holds_are_recorded(permits, archivist):
    source = permits[0]
    worker = user_with_role("cw", "caseworker", sources=(source,))
    SourceAssignment.objects.get(user=worker).delete()
    KeeperPolicy.objects.create(source=source, rules=["most_pixels"])
    hold = LegalHold.objects.create(source=source, reason="litigation 2026-114", placed_by=archivist)

    assert [e.after["source"] for e in events("user.assign_source")] == ["permits"]
    assert [e.before["user"] for e in events("user.unassign_source")] == ["cw"]
    assert events("source.keeper_rules")[0].after == {"rules": ["most_pixels"]}
    [placed] = events("hold.place")
    assert (placed.actor_name, placed.reason) == ("archivist", "litigation 2026-114")
    assert {(s.kind, s.object_id) for s in placed.subjects.all()} >= {("hold", str(hold.pk)), ("source", "permits")}


def test_a_refused_request_is_recorded_with_who_asked_for_what(client, caseworker, permits):
    client.force_login(caseworker)
    record = permits[1][0][0]

    assert client.get(f"/records/{record.pk}/").status_code == 404

    [refused] = events("request.refused")
    assert refused.actor_name == "caseworker"
    assert refused.after == {"method": "GET", "path": f"/records/{record.pk}/", "status": 404}


def test_an_allowed_request_writes_no_refusal(client, archivist, permits):
    client.force_login(archivist)

    assert client.get(f"/records/{permits[1][0][0].pk}/").status_code == 200
    assert not events("request.refused")


def test_the_sensitivity_setting_is_what_makes_image_views_recorded(client, archivist, permits):
    asset = permits[1][0][1]
    client.force_login(archivist)
    client.get(f"/assets/{asset.pk}/thumbnail/")
    Source.objects.filter(pk=asset.source_id).update(sensitivity="sensitive")
    client.get(f"/assets/{asset.pk}/thumbnail/")

    assert [e.actor_name for e in events("image.view.thumbnail")] == ["archivist"]
