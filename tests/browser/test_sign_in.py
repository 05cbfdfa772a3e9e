"""Signing in and finding a record's imagery, in Chromium."""

import re

import pytest

from tests.browser.conftest import screenshot
from tests.factories import archive_rows, totp_code, user_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_archivist_signs_in_and_opens_a_record(site, page):
    source, [(record, _), _] = archive_rows("building-permits")
    user_with_role("ana", "archivist")

    page.goto(f"{site.url}/")
    assert "/login/" in page.url
    screenshot(page, "login")
    page.fill("#id_username", "ana")
    page.fill("#id_password", "pw-for-tests-only")
    page.keyboard.press("Enter")
    # First sign-in of an archivist: enrol an authenticator from the secret shown, keep the codes.
    page.wait_for_url(re.compile(r".*/login/second-step/enrol/.*"))
    assert page.locator("img[src^='data:image/svg+xml']").evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, "second-step-enrol")
    page.fill("#id_token", totp_code(page.locator("#totp-secret").inner_text()))
    page.keyboard.press("Enter")
    page.locator("#recovery-codes").wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    page.click("text=Continue")
    page.wait_for_url(f"{site.url}/")
    screenshot(page, "home")
    page.click("text=Building Permits")
    page.click(f"text={record.external_id}")
    page.wait_for_load_state("load")  # images included

    header = page.locator("header.bar").evaluate("el => getComputedStyle(el).backgroundColor")
    assert header == "rgb(23, 32, 44)", "the stylesheet did not load"
    image = page.locator("main img")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "slot 1" in image.get_attribute("alt")
    screenshot(page, "record")


def test_a_wrong_password_is_refused_with_a_message(site, page):
    user_with_role("ana", "archivist")

    page.goto(f"{site.url}/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", "not-the-password")
    page.keyboard.press("Enter")

    assert page.locator("[role=alert]").inner_text() == "That user name and password do not match."
