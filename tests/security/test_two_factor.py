"""Administrators and archivists prove a second factor (TOTP, or a one-use recovery code) after
the password; without an authenticator they are sent to enrol one; nobody else is asked."""

import io
import os
import re
import subprocess
import sys

import pytest
from django.core.management import call_command

from dedupe.models import AuditEvent
from tests.conftest import ROOT
from tests.factories import totp_code, totp_device, user_with_role

pytestmark = pytest.mark.django_db


def password_step(client, username: str):
    response = client.post("/login/", {"username": username, "password": "pw-for-tests-only"})
    assert response.status_code == 302
    return client.get(response["Location"])


def test_an_archivist_without_an_authenticator_is_sent_to_enrol(client):
    user_with_role("ana", "archivist")

    response = password_step(client, "ana")

    assert response.status_code == 302 and response["Location"].startswith("/login/second-step/enrol/")
    for path in ("/queue/", "/records/", "/admin/"):
        assert client.get(path)["Location"].startswith("/login/second-step/enrol/"), path


def test_enrolment_shows_the_secret_and_confirms_with_a_code_then_recovery_codes_once(client):
    user = user_with_role("ana", "archivist")
    password_step(client, "ana")

    page = client.get("/login/second-step/enrol/?next=/queue/").content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "otpauth://totp/Dedupe%20Desk%3Aana?secret=" + secret in page
    assert 'src="data:image/svg+xml' in page  # the QR code, inline (the CSP allows data: images)

    done = client.post("/login/second-step/enrol/", {"token": totp_code(secret), "next": "/queue/"})

    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert client.get("/queue/").status_code == 200
    assert AuditEvent.objects.get(action="auth.second_factor_enrol").actor_id == user.pk
    assert client.get("/login/second-step/enrol/")["Location"].startswith("/login/second-step/")  # no second phone


def test_enrolment_refuses_a_wrong_code(client):
    user_with_role("ana", "archivist")
    password_step(client, "ana")
    client.get("/login/second-step/enrol/")

    response = client.post("/login/second-step/enrol/", {"token": "000000"})

    assert "That code does not match" in response.content.decode()
    assert client.get("/queue/").status_code == 302


def test_an_administrator_with_an_authenticator_types_its_code_after_the_password(client):
    device = totp_device(user_with_role("adele", "administrator"))

    response = password_step(client, "adele")
    assert response["Location"] == "/login/second-step/?next=%2F"
    wrong = client.post("/login/second-step/", {"token": "123456", "next": "/"})
    assert "does not match" in wrong.content.decode() and client.get("/").status_code == 302
    hurried = client.post("/login/second-step/", {"token": totp_code(device), "next": "/"})
    assert "too many wrong codes" in hurried.content.decode()  # django-otp's back-off: 1 s, 2 s, 4 s...
    device.refresh_from_db()
    device.throttle_reset()

    right = client.post("/login/second-step/", {"token": totp_code(device), "next": "/storage/"})

    assert right["Location"] == "/storage/"
    assert client.get("/storage/").status_code == 200
    assert AuditEvent.objects.get(action="auth.second_factor").after == {"device": "authenticator"}


def test_a_stolen_password_cannot_enrol_another_authenticator(client):
    totp_device(user_with_role("ana", "archivist"))
    password_step(client, "ana")

    response = client.get("/login/second-step/enrol/")

    assert response["Location"].startswith("/login/second-step/?")


def test_a_recovery_code_works_once(client):
    from review.two_factor import recovery_codes_issue

    user = user_with_role("ana", "archivist")
    totp_device(user)
    code = recovery_codes_issue(user)[0]
    password_step(client, "ana")

    assert client.post("/login/second-step/", {"token": code.upper()})["Location"] == "/"
    assert AuditEvent.objects.get(action="auth.second_factor").after["recovery_codes_left"] == 9
    client.post("/logout/")
    password_step(client, "ana")
    again = client.post("/login/second-step/", {"token": code})

    assert again.status_code == 200 and "does not match" in again.content.decode()


def test_a_staff_member_without_a_role_is_asked_too(client):
    user = user_with_role("sam", "caseworker")
    user.is_staff = True
    user.save()

    assert password_step(client, "sam").status_code == 302


@pytest.mark.parametrize("role", ["caseworker", "auditor"])
def test_caseworkers_and_auditors_are_not_asked(client, role):
    user_with_role("pat", role)

    assert password_step(client, "pat").status_code == 200


def test_the_requirement_is_a_setting(client, settings):
    settings.DEDUPE_REQUIRE_2FA = False
    user_with_role("ana", "archivist")

    assert password_step(client, "ana").status_code == 200


def test_next_never_leaves_the_site(client):
    device = totp_device(user_with_role("ana", "archivist"))
    password_step(client, "ana")

    response = client.post("/login/second-step/", {"token": totp_code(device), "next": "https://evil.example/"})

    assert response["Location"] == "/"


def test_an_htmx_request_before_the_second_step_loads_it_whole(client):
    user_with_role("ana", "archivist")
    password_step(client, "ana")

    response = client.get("/queue/", HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"].startswith("/login/second-step/enrol/")


def test_a_verified_session_is_let_through_by_force_login(client):
    """The suite's way through (tests/conftest.py): force_login also proves the second factor."""
    client.force_login(user_with_role("ana", "archivist"))

    assert client.get("/queue/").status_code == 200


def show_require_2fa(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DEDUPE_REQUIRE_2FA")}
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEDUPE_REQUIRE_2FA)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings"} | env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_it_is_on_in_production_and_off_under_debug_by_default():
    assert show_require_2fa(DEBUG="0") == "True"
    assert show_require_2fa(DEBUG="1") == "False"
    assert show_require_2fa(DEBUG="1", DEDUPE_REQUIRE_2FA="1") == "True"


def test_the_demo_prints_what_its_logins_need_and_it_works(client):
    out = io.StringIO()
    call_command("create_demo_users", "--i-mean-demo", "--password", "demo-pass-123", stdout=out)
    printed = out.getvalue()

    secret = re.search(r"archivist\s+secret ([A-Z2-7]+)", printed).group(1)
    assert re.search(r"admin\s+secret [A-Z2-7]+", printed)
    recovery = re.search(r"recovery codes ([a-z2-7]+)", printed).group(1)
    client.post("/login/", {"username": "archivist", "password": "demo-pass-123"})
    assert client.post("/login/second-step/", {"token": totp_code(secret)})["Location"] == "/"
    client.post("/logout/")
    client.post("/login/", {"username": "admin", "password": "demo-pass-123"})
    assert client.post("/login/second-step/", {"token": recovery})["Location"] == "/"
    assert client.get("/").status_code == 200
