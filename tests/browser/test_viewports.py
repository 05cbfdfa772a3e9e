"""The review pages at the four sizes reviewers use: nothing runs off the side, and axe-core finds
no accessibility violation of serious or critical impact (checked at 1280x800)."""

import pytest

from dedupe.candidates import groups_rebuild
from dedupe.models import Asset, Candidate
from tests.browser.conftest import screenshot
from tests.browser.test_desk import sign_in_by_keyboard, twelve_pairs
from tests.factories import store_bytes, strip, user_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SIZES = [(1280, 800), (1920, 1080), (1024, 768), (390, 844)]


def grave_violations(page) -> list[str]:
    """axe-core's violations of serious or critical impact on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {len(v['nodes'])} element(s)" for v in found
            if v["impact"] in ("serious", "critical")]  # fmt: skip


def test_changed_pages_fit_every_viewport(site, browser):
    pairs: list[Candidate] = twelve_pairs()
    user_with_role("ana", "archivist")
    record = pairs[0].asset_a.attachments.first().record
    store_bytes(pairs[2].asset_a)
    strip(pairs[2].asset_a.attachments.first())  # one record missing imagery, its image still stored
    Asset.objects.filter(pk__in=[pairs[1].asset_a_id, pairs[1].asset_b_id]).update(sha256="d" * 64)
    Candidate.objects.filter(pk=pairs[1].pk).update(kind="exact", score=1.0)  # a byte copy to plan
    for other in (pairs[5].asset_a, pairs[5].asset_b):  # a group of three or more for its page
        Candidate.objects.create(asset_a=other, asset_b=pairs[6].asset_a, kind="near", score=0.8)
    groups_rebuild()
    group = Candidate.objects.get(pk=pairs[5].pk).group_id
    serious: dict[str, list[str]] = {}
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        sign_in_by_keyboard(page, site, "ana")
        for name, url in (("pair", f"/candidates/{pairs[0].pk}/"), ("record", f"/records/{record.pk}/"),
                          ("proposals", "/proposals/"), ("missing", "/missing/"),
                          ("exact", "/exact-groups/"), ("home", "/"), ("queue", "/queue/"),
                          ("image", f"/assets/{pairs[0].asset_a_id}/"), ("storage", "/storage/"),
                          ("search", "/records/?q=PERM"), ("group", f"/groups/{group}/")):  # fmt: skip
            page.goto(f"{site.url}{url}")
            screenshot(page, f"{name}-{width}x{height}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, width, overflow)
            if width == 1280:
                serious[name] = grave_violations(page)
        context.close()
    assert serious == dict.fromkeys(serious, []), serious


def test_the_queue_shows_totals_and_r_starts_reviewing_and_the_pair_says_what_w_detaches(site, browser):
    pairs = twelve_pairs()
    user_with_role("ana", "archivist")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in_by_keyboard(page, site, "ana")

    page.goto(f"{site.url}/queue/")

    assert page.locator(".totals").inner_text().startswith(f"{len(pairs)} open pairs")
    assert page.locator(f'img[src="/assets/{pairs[0].asset_a_id}/thumbnail/"]').count() >= 1
    screenshot(page, "queue-1280x800")
    page.keyboard.press("r")
    page.wait_for_url(f"{site.url}/candidates/**")
    # beside the pair: which attachment w detaches, following the choice below the buttons
    assert page.locator("#w-target").inner_text().endswith(f"(image {pairs[0].asset_b_id})")
    page.locator('input[name="wrong_attachment"]').first.check()
    assert page.locator("#w-target").inner_text().endswith(f"(image {pairs[0].asset_a_id})")
