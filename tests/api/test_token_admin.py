"""Administrators create tokens in the site (shown once) and revoke them; gate policies are audited."""

from django.contrib.messages import get_messages

from dedupe.models import AuditEvent
from review.models import ApiToken, GatePolicy
from tests.api.conftest import ApiClient


def test_an_administrator_creates_a_token_and_sees_it_once(admin_client, permits, housing):
    response = admin_client.post(
        "/admin/review/apitoken/add/",
        {"name": "permit-tablets", "writes": [permits.pk], "reads": [housing.pk],
         "requests_per_minute": 60, "max_upload_bytes": 1_000_000},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:3000]
    [shown] = [str(m) for m in get_messages(response.wsgi_request) if "shown this once" in str(m)]
    secret = shown.rsplit(" ", 1)[-1]
    token = ApiToken.objects.get()
    assert token.requests_per_minute == 60 and secret not in token.digest
    client = ApiClient(secret)
    assert client.get("/api/v1/sources/housing-cases/changes").status_code == 200
    assert client.upload("housing-cases", b"x").status_code == 404  # read only
    event = AuditEvent.objects.get(action="token.create")
    assert event.actor_name == "admin" and event.after["reads"] == ["housing-cases"]
    shown_after_adding = admin_client.get(f"/admin/review/apitoken/{token.pk}/change/").content.decode()
    later = admin_client.get(f"/admin/review/apitoken/{token.pk}/change/").content.decode()
    assert secret in shown_after_adding and secret not in later and token.prefix in later


def test_an_administrator_revokes_a_token(admin_client, permits, permit_tablets):
    token = ApiToken.objects.get()
    response = admin_client.post("/admin/review/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    assert permit_tablets.get("/api/v1/sources/building-permits/changes").status_code == 401
    assert AuditEvent.objects.get(action="token.revoke").actor_name == "admin"


def test_a_gate_policy_change_is_recorded_and_near_matches_cannot_be_attached(admin_client, permits):
    form = {"source": permits.pk, "exact": "refuse", "pixel": "attach", "near": "review"}
    assert admin_client.post("/admin/review/gatepolicy/add/", form).status_code == 302
    event = AuditEvent.objects.get(action="source.gate_policy")
    assert event.after == {"exact": "refuse", "pixel": "attach", "near": "review"}
    policy = GatePolicy.objects.get()
    refused = admin_client.post(f"/admin/review/gatepolicy/{policy.pk}/change/", form | {"near": "attach"})
    assert refused.status_code == 200 and GatePolicy.objects.get().near == "review"
