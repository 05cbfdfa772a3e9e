"""The review pages at the four sizes reviewers use: nothing runs off the side, and axe-core finds
no accessibility violation of serious or critical impact (checked at 1280x800)."""

import pytest

from dedupe.candidates import groups_rebuild
from dedupe.models import Asset, Candidate, ImportRun
from tests.browser.conftest import screenshot
from tests.browser.test_desk import sign_in_by_keyboard, twelve_pairs
from tests.factories import store_bytes, strip, user_with_role
from tests.review.test_desk import partial_pair

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SIZES = [(1280, 800), (1920, 1080), (1024, 768), (390, 844)]


def grave_violations(page) -> list[str]:
    """axe-core's violations of serious or critical impact on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {len(v['nodes'])} element(s)" for v in found
            if v["impact"] in ("serious", "critical")]  # fmt: skip


def every_size(site, browser, username: str, pages: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each page at each size, signed in as `username`: a screenshot, no sideways overflow, and
    axe-core's serious or critical violations at 1280x800 (by page name)."""
    serious: dict[str, list[str]] = {}
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(f"{site.url}/login/")  # the page before any other
        screenshot(page, f"login-{width}x{height}")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, ("login", width)
        if width == 1280:
            serious["login"] = grave_violations(page)
        sign_in_by_keyboard(page, site, username)
        for name, url in pages:
            response = page.goto(f"{site.url}{url}")
            assert response.status == 200, (name, response.status)
            screenshot(page, f"{name}-{width}x{height}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, width, overflow)
            if width == 1280:
                serious[name] = grave_violations(page)
        context.close()
    return serious


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
    run = ImportRun.objects.create(kind="archive", location="manifest.csv", root="/archive", status="finished",
                                   rows_total=3, imported=2, failed=1)  # fmt: skip
    run.problems.create(row=3, path="../../etc/passwd", reason="the path leaves the archive's folder")
    pages = [("pair", f"/candidates/{pairs[0].pk}/"), ("record", f"/records/{record.pk}/"),
             ("proposals", "/proposals/"), ("missing", "/missing/"),
             ("exact", "/exact-groups/"), ("home", "/"), ("queue", "/queue/"),
             ("image", f"/assets/{pairs[0].asset_a_id}/"), ("storage", "/storage/"),
             ("search", "/records/?q=PERM"), ("group", f"/groups/{group}/"),
             ("source", f"/sources/{record.source.slug}/"), ("merge-map", "/merge-map/"),
             ("import", f"/imports/{run.pk}/"), ("partial", f"/candidates/{partial_pair().pk}/")]  # fmt: skip
    serious = every_size(site, browser, "ana", pages)
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


KEYS_AND_TARGETS = """() => {
    const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
    const keys = [...document.querySelectorAll('#help dt kbd')].map(k => k.textContent).filter(k => k !== '…');
    const targets = [...document.querySelectorAll('#desk [data-key], #desk [data-action]')]
        .filter(el => !el.closest('[hidden]'));
    return {
        keys,
        missing: keys.filter(k => !targets.some(el => el.dataset.key === k && shown(el))),
        small: targets.filter(shown).filter(el => el.getBoundingClientRect().width < 44
            || el.getBoundingClientRect().height < 44).map(el => el.dataset.key || el.dataset.action),
    };
}"""


@pytest.mark.parametrize("width,height", [(1024, 768), (390, 844)])
def test_on_a_tablet_or_phone_every_keys_action_is_a_target_a_finger_can_hit(site, browser, width, height):
    from dedupe.candidates import groups_rebuild

    pairs = twelve_pairs()
    for other in (pairs[5].asset_a, pairs[5].asset_b):
        Candidate.objects.create(asset_a=other, asset_b=pairs[6].asset_a, kind="near", score=0.8)
    groups_rebuild()
    group = Candidate.objects.get(pk=pairs[5].pk).group_id
    user_with_role("ana", "archivist")
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=True, is_mobile=width < 500)
    page = context.new_page()
    sign_in_by_keyboard(page, site, "ana")
    page.goto(f"{site.url}/candidates/{pairs[0].pk}/")
    page.locator(f'body[data-ready="{pairs[0].pk}"]').wait_for()
    page.locator('button[data-key="d"]').tap()  # a decision, so that undo (u) has a target too
    page.locator(f'body[data-ready="{pairs[1].pk}"]').wait_for()

    found = page.evaluate(KEYS_AND_TARGETS)

    assert {"m", "d", "w", "s", "u", "n", "z", "Z", "0", "f", "o", "x", "?"} <= set(found["keys"])
    assert found["missing"] == []  # (Esc has its button in the key list: "Close")
    assert found["small"] == []
    page.locator('[data-action="zoom-in"]').tap()
    assert page.locator("#stage").get_attribute("data-zoom") == "2"
    page.locator('[data-action="help"]').tap()
    screenshot(page, f"touch-keys-{width}x{height}")
    page.locator('[data-action="help-close"]').tap()
    assert not page.locator("#help").is_visible()

    page.goto(f"{site.url}/groups/{group}/")
    page.locator(f'body[data-ready="group-{group}"]').wait_for()
    found = page.evaluate(KEYS_AND_TARGETS)
    assert found["small"] == []
    assert found["missing"] == ["9"]  # three copies: keys 1 to 3
    screenshot(page, f"touch-group-{width}x{height}")
    context.close()


def test_the_auditors_pages_fit_every_viewport_and_pass_axe(site, browser):
    from dedupe.models import AuditEvent
    from review.services.decisions import decide_candidate

    pairs = twelve_pairs()
    ana = user_with_role("ana", "archivist")
    decide_candidate(candidate_id=pairs[0].pk, verdict="same", actor=ana, seen=0, canonical_id=pairs[0].asset_a_id)
    decide_candidate(candidate_id=pairs[1].pk, verdict="different", actor=ana, seen=0, reason="different_photograph")
    user_with_role("olu", "auditor")
    event = AuditEvent.objects.filter(action__startswith="decision").order_by("-pk").first()
    record = pairs[0].asset_a.attachments.first().record
    pages = [("audit-log", "/audit/"), ("audit-filtered", f"/audit/?pair={pairs[0].pk}"),
             ("audit-event", f"/audit/events/{event.pk}/"), ("audit-record", f"/audit/timeline/record/{record.pk}/"),
             ("audit-user", f"/audit/timeline/user/{ana.pk}/"), ("audit-figures", "/audit/figures/"),
             ("audit-image", f"/audit/timeline/asset/{pairs[0].asset_a_id}/")]  # fmt: skip
    serious = every_size(site, browser, "olu", pages)
    assert serious == dict.fromkeys(serious, []), serious
