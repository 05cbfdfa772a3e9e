"""Auditors read and change nothing: every unsafe request they make is a 403, on every URL the
site routes (the list is built from the URLconf, so a new POST view is covered without a line here)."""

import re

import pytest
from django.urls import URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern

from dedupe.models import AuditEvent, Candidate
from tests.factories import archive_rows, user_with_role

pytestmark = pytest.mark.django_db

# A sample value for each path converter and for the regex groups the admin uses.
SAMPLES = {"int": "1", "slug": "cases", "str": "x", "path": "x/y", "uuid": "00000000-0000-0000-0000-000000000001"}


def sample(pattern) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        text = text.lstrip("^").rstrip("$").replace("\\", "")
        # (?P<app_label>auth|review) -> auth; (?P<url>.*) -> x
        text = re.sub(r"\(\?P<\w+>(\w+)(?:\|[\w|]+)?\)", r"\1", text)
        return re.sub(r"\(\?P<\w+>[^)]*\)", "x", text)
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], text)


def every_path(resolver: URLResolver | None = None, prefix: str = "/") -> list[str]:
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            found += every_path(entry, prefix + sample(entry.pattern))
        else:
            found.append(prefix + sample(entry.pattern))
    return found


def test_the_walk_reaches_the_desk_the_admin_and_sign_out():
    paths = every_path()

    assert {"/candidates/1/decide/", "/groups/1/decide/", "/scans/", "/admin/auth/user/add/", "/logout/"} <= set(paths)
    for path in paths:
        resolve(path)  # each sample is a real route, not a 404 that would pass for a refusal


def test_an_auditor_is_refused_every_post_on_every_url(client):
    client.force_login(user_with_role("aude", "auditor"))
    paths = [path for path in every_path() if path != "/logout/"]

    answered = {path: client.post(path, {"verdict": "skip"}).status_code for path in paths}

    assert {path: status for path, status in answered.items() if status != 403} == {}


def test_an_auditors_skip_is_refused_and_recorded_as_a_refusal(client):
    _, [(_, a), (_, b)] = archive_rows("cases")
    candidate = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
    client.force_login(user_with_role("aude", "auditor"))

    response = client.post(f"/candidates/{candidate.pk}/decide/", {"verdict": "skip"})

    assert response.status_code == 403
    refusal = AuditEvent.objects.get(action="request.refused")
    assert refusal.actor_name == "aude" and refusal.after["status"] == 403


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_unsafe_methods_are_refused_too(client, method):
    client.force_login(user_with_role("aude", "auditor"))

    assert getattr(client, method)("/scans/").status_code == 403


def test_an_auditor_may_still_sign_out_and_read(client):
    client.force_login(user_with_role("aude", "auditor"))

    assert client.get("/audit/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/audit/").status_code == 302  # signed out


def test_an_archivist_still_posts(client):
    _, [(_, a), (_, b)] = archive_rows("cases")
    candidate = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
    client.force_login(user_with_role("ana", "archivist"))

    assert client.post(f"/candidates/{candidate.pk}/decide/", {"verdict": "skip"}).status_code == 302
