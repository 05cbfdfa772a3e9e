"""Sign-in throttling: a few failures from one address, or at one account, lock it out for a
cool-off that doubles; a lockout is one audit event, a failure none, so guessing cannot grow the log."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from dedupe.models import AuditEvent
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db
LIMIT = 5  # AXES_FAILURE_LIMIT's default (DEDUPE_SIGN_IN_FAILURES)


@pytest.fixture
def caseworker(db):
    return user_with_role("cora", "caseworker")


def sign_in(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_fifty_wrong_passwords_then_the_right_one_is_refused(client, caseworker):
    answers = [sign_in(client, "cora", f"guess-{n}").status_code for n in range(50)]

    response = sign_in(client, "cora", "pw-for-tests-only")

    assert answers[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its message
    assert set(answers[LIMIT - 1 :]) == {429}
    assert response.status_code == 429
    assert "Signing in is paused" in response.content.decode()
    assert client.get("/").status_code == 302  # not signed in


def test_a_few_failures_do_not_lock_anyone_out(client, caseworker):
    for n in range(LIMIT - 1):
        sign_in(client, "cora", f"guess-{n}")

    assert sign_in(client, "cora", "pw-for-tests-only").status_code == 302


def test_one_address_guessing_many_accounts_is_locked_out(client, caseworker):
    for n in range(LIMIT):
        sign_in(client, f"someone-{n}", "guess")

    assert sign_in(client, "cora", "pw-for-tests-only").status_code == 429
    assert sign_in(client, "cora", "pw-for-tests-only", ip="10.0.0.2").status_code == 302  # another address


def test_many_addresses_guessing_one_account_lock_the_account(client, caseworker):
    for n in range(LIMIT):
        sign_in(client, "cora", "guess", ip=f"10.0.1.{n}")

    assert sign_in(client, "cora", "pw-for-tests-only", ip="10.0.2.1").status_code == 429


def test_many_failures_from_one_address_append_one_audit_event(client, caseworker):
    before = AuditEvent.objects.count()

    for n in range(60):
        sign_in(client, f"someone-{n % 7}", "guess")

    assert AuditEvent.objects.count() - before == 1
    lockout = AuditEvent.objects.get(action="auth.lockout")
    assert lockout.ip == "10.0.0.1" and lockout.after["failures"] == LIMIT
    assert lockout.after["minutes"] == 15
    assert not AuditEvent.objects.filter(action="auth.login_failed").exists()
    # axes' own record stays bounded too: failures while locked out are not counted
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == LIMIT


def wait_out_the_cool_off() -> None:
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(days=2))


def test_each_lockout_of_the_same_address_doubles_the_cool_off(client, caseworker):
    for _round in range(3):
        for n in range(LIMIT + 3):
            sign_in(client, "cora", f"guess-{n}")
        wait_out_the_cool_off()

    lockouts = AuditEvent.objects.filter(action="auth.lockout").order_by("seq")
    assert [event.after["minutes"] for event in lockouts] == [15, 30, 60]


def test_after_the_cool_off_the_right_password_works_again(client, caseworker):
    for n in range(LIMIT):
        sign_in(client, "cora", f"guess-{n}")
    assert sign_in(client, "cora", "pw-for-tests-only").status_code == 429

    wait_out_the_cool_off()

    assert sign_in(client, "cora", "pw-for-tests-only").status_code == 302


def test_signing_in_to_ones_own_account_does_not_clear_the_address(client, caseworker):
    user_with_role("gus", "caseworker")
    for n in range(LIMIT - 1):
        sign_in(client, "cora", f"guess-{n}")

    assert sign_in(client, "gus", "pw-for-tests-only").status_code == 302
    client.post("/logout/")
    sign_in(client, "cora", "one-more-guess")

    assert sign_in(client, "cora", "pw-for-tests-only").status_code == 429
