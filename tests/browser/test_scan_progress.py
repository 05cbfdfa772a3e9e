"""The administrator's scan button and its live progress bar, in Chromium."""

import pytest

from dedupe.models import ScanRun
from dedupe.scanning import scan_run_here
from tests.browser.conftest import screenshot, second_step
from tests.factories import archive_rows, totp_device, user_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_progress_bar_follows_the_scan_without_a_reload(site, page):
    archive_rows("building-permits")
    device = totp_device(user_with_role("adele", "administrator"))
    page.goto(f"{site.url}/login/")
    page.fill("#id_username", "adele")
    page.fill("#id_password", "pw-for-tests-only")
    page.keyboard.press("Enter")
    second_step(page, device)
    page.wait_for_url(f"{site.url}/")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    page.click("text=Scan for duplicates")
    bar = page.locator("#scan-progress progress")
    bar.wait_for()
    scan = ScanRun.objects.get()
    assert int(bar.get_attribute("max")) == scan.total > 0
    assert f"0 of {scan.total} steps" in page.locator("#scan-progress").inner_text()
    screenshot(page, "scan-running")

    scan_run_here(scan)  # no worker in this test: the test process does the chunks

    page.locator("#scan-progress", has_text="Finished").wait_for(timeout=10_000)
    assert page.evaluate("window.loadedOnce") is True
    assert page.locator("#scan-progress progress").count() == 0
    assert page.locator("#scan-progress button", has_text="Scan for duplicates").is_visible()
    screenshot(page, "scan-finished")
