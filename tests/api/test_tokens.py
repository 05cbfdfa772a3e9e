"""Tokens: one per source system, hashed, shown once, revocable; a token is not a session and a
session is not a token; a token reaches only its own sources."""

import pytest
from django.core.management import call_command
from django.test import Client

from dedupe.models import AuditEvent, Record, Source
from review.models import ApiToken
from review.services.api_tokens import TokenRefused, api_token_create, api_token_revoke, token_digest
from tests.api.conftest import ApiClient
from tests.factories import jpeg_bytes, photo, user_with_role


def test_the_command_prints_the_token_on_its_last_line_and_keeps_only_its_digest(permits, capsys):
    call_command("create_api_token", "permit-tablets", "--source", "building-permits")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.get(name="permit-tablets")
    assert token.digest == token_digest(secret) and secret not in str(token.__dict__)
    assert ApiClient(secret).get("/api/v1/sources/building-permits/changes").status_code == 200
    event = AuditEvent.objects.get(action="token.create")
    assert event.after["writes"] == ["building-permits"] and secret not in str(event.after)


def test_the_command_refuses_an_unknown_source(db):
    with pytest.raises(Exception, match="unknown source"):
        call_command("create_api_token", "x", "--source", "nowhere")
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_and_its_revocation_recorded(permits):
    token, secret = api_token_create(name="t", sources=["building-permits"], actor_name="test")
    assert api_token_revoke(token, actor_name="test") and not api_token_revoke(token, actor_name="test")
    response = ApiClient(secret).get("/api/v1/sources/building-permits/changes")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.filter(action="token.revoke").count() == 1


def test_use_is_noted_as_last_use(permit_tablets):
    assert ApiToken.objects.get().last_used_at is None
    permit_tablets.get("/api/v1/sources/building-permits/changes")
    assert ApiToken.objects.get().last_used_at is not None


def test_a_name_is_one_token(permits):
    api_token_create(name="t", sources=["building-permits"], actor_name="test")
    with pytest.raises(TokenRefused):
        api_token_create(name="t", sources=["building-permits"], actor_name="test")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ddk_not-a-token", "Basic dXNlcjpwdw==", "Token abc"])
def test_no_valid_bearer_token_no_answer(permits, header):
    client = Client()
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/sources/building-permits/changes", headers=headers)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_a_signed_in_session_grants_no_api_call(permits):
    client = Client()
    client.force_login(user_with_role("ada", "administrator"))
    assert client.get("/", follow=False).status_code == 200  # the session is good for the site
    assert client.get("/api/v1/sources/building-permits/changes").status_code == 401


def test_a_token_grants_no_site_page(permit_tablets):
    for path in ["/", "/queue/", "/records/", "/admin/"]:
        response = permit_tablets.get(path)
        assert response.status_code == 302 and "/login/" in response["Location"], path


SCOPE_CALLS = [
    ("read", lambda c, s: c.get(f"/api/v1/sources/{s}/changes")),
    ("read", lambda c, s: c.get(f"/api/v1/sources/{s}/records/R-1")),
    ("read", lambda c, s: c.lookup(s, jpeg_bytes(photo(40)))),
    ("write", lambda c, s: c.upload(s, jpeg_bytes(photo(41)), record_id="R-1")),
]


@pytest.mark.parametrize("access,call", SCOPE_CALLS)
@pytest.mark.parametrize("scope", ["own", "other", "read-only", "unknown"])
def test_scope_matrix(permits, housing, access, call, scope):
    """A token of one source cannot read or write another's; a read-only scope cannot write."""
    _, secret = api_token_create(name="t", sources=["building-permits"], read_only=["housing-cases"], actor_name="test")
    Record.objects.create(source=permits, external_id="R-1")
    Record.objects.create(source=housing, external_id="R-1")
    target = {"own": "building-permits", "other": "elsewhere", "read-only": "housing-cases", "unknown": "nope"}[scope]
    Source.objects.create(slug="elsewhere", name="Elsewhere")
    Record.objects.create(source=Source.objects.get(slug="elsewhere"), external_id="R-1")
    response = call(ApiClient(secret), target)
    allowed = scope == "own" or (scope == "read-only" and access == "read")
    if allowed:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == 404, response.content
        assert response.json()["type"].endswith("/not-found")
    if not allowed and access == "write":
        assert not Record.objects.filter(source__slug=target).exclude(external_id="R-1").exists()
        assert not AuditEvent.objects.filter(action="gate.store").exists()
