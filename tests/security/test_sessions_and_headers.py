"""Nothing a signed-in person sees is stored by a browser or proxy, pages carry a
Permissions-Policy, and a session ends after 30 idle minutes and 12 hours after sign-in."""

import time

import pytest
from django.conf import settings

from dedupe.models import AuditEvent, Candidate
from review.security import SESSION_SEEN, SESSION_STARTED
from tests.factories import archive_rows, store_bytes, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def archivist(db):
    return user_with_role("ana", "archivist")


def test_pages_for_a_signed_in_person_are_not_stored(client, archivist):
    client.force_login(archivist)

    for path in ("/", "/queue/", "/records/", "/storage/"):
        assert client.get(path)["Cache-Control"] == "private, no-store", path


def test_case_images_are_not_stored(client, archivist):
    _, [(_, a), (_, b)] = archive_rows("cases")
    store_bytes(a)
    candidate = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
    client.force_login(archivist)

    for path in (
        f"/assets/{a.pk}/thumbnail/",
        f"/assets/{a.pk}/original/",
        f"/candidates/{candidate.pk}/difference.png",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "private, no-store", path


def test_every_page_carries_a_permissions_policy(client, archivist):
    assert "camera=()" in client.get("/login/")["Permissions-Policy"]
    client.force_login(archivist)

    policy = client.get("/")["Permissions-Policy"]

    assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy


def age_session(client, *, idle: int, since_sign_in: int) -> None:
    session, now = client.session, int(time.time())
    session[SESSION_STARTED] = now - since_sign_in
    session[SESSION_SEEN] = now - idle
    session.save()


def test_a_session_idle_for_more_than_30_minutes_ends(client, archivist):
    client.force_login(archivist)
    age_session(client, idle=31 * 60, since_sign_in=40 * 60)

    response = client.get("/queue/")

    assert response.status_code == 302 and response["Location"] == "/login/?next=/queue/"
    assert client.get("/").status_code == 302  # signed out, not only redirected once
    assert AuditEvent.objects.filter(action="auth.logout", actor_name="ana").exists()


def test_a_session_idle_for_29_minutes_goes_on_and_counts_as_activity(client, archivist):
    client.force_login(archivist)
    age_session(client, idle=29 * 60, since_sign_in=40 * 60)

    assert client.get("/queue/").status_code == 200
    assert int(time.time()) - client.session[SESSION_SEEN] < 5


def test_a_busy_session_ends_12_hours_after_sign_in(client, archivist):
    client.force_login(archivist)
    age_session(client, idle=10, since_sign_in=12 * 3600 + 1)

    assert client.get("/").status_code == 302
    assert client.get("/").status_code == 302


def test_an_htmx_request_in_an_ended_session_is_sent_to_sign_in_whole(client, archivist):
    client.force_login(archivist)
    age_session(client, idle=31 * 60, since_sign_in=40 * 60)

    response = client.get("/queue/", HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"] == "/login/"


def test_the_idle_limit_is_a_setting(client, archivist, settings):
    settings.DEDUPE_SESSION_IDLE_SECONDS = 60
    client.force_login(archivist)
    age_session(client, idle=2 * 60, since_sign_in=3 * 60)

    assert client.get("/").status_code == 302


def test_the_session_cookie_lasts_12_hours_not_two_weeks():
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert settings.DEDUPE_SESSION_IDLE_SECONDS == 30 * 60
