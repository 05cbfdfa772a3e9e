"""The review desk in Chromium: ten pairs reviewed by keyboard alone, the view tools, and a
caseworker guessing URLs of a source not assigned to them."""

import pytest

from dedupe.models import Asset, Candidate
from review.models import Decision
from review.selectors.groups import suggest_canonical
from tests.browser.conftest import authenticator_for, screenshot, second_step
from tests.factories import archive_rows, store_bytes, user_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def sign_in_by_keyboard(page, site, username: str) -> None:
    device = authenticator_for(username)
    page.goto(f"{site.url}/login/")
    page.focus("#id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type("pw-for-tests-only")
    page.keyboard.press("Enter")
    if device is not None:
        second_step(page, device)
    page.wait_for_url(f"{site.url}/")


def twelve_pairs() -> list[Candidate]:
    _, made = archive_rows("permits", records=24)
    assets = [a for _, a in made]
    store_bytes(*assets)
    return [
        Candidate.objects.create(asset_a=assets[2 * i], asset_b=assets[2 * i + 1], kind="near", score=0.99 - i / 100)
        for i in range(12)
    ]


def on_desk(page, candidate: Candidate) -> None:
    """Wait until the pair is shown and the desk takes keys again (the JS drops keys while busy)."""
    page.locator(f'body[data-ready="{candidate.pk}"] #desk[data-candidate="{candidate.pk}"]').wait_for(timeout=10_000)


def at_the_desk(site, page) -> list[Candidate]:
    """Twelve open pairs, an archivist signed in by keyboard, and the first pair on the desk."""
    pairs = twelve_pairs()
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    page.goto(f"{site.url}/candidates/{pairs[0].pk}/")
    on_desk(page, pairs[0])
    return pairs


def test_an_archivist_reviews_ten_pairs_by_keyboard_alone(site, page):
    pairs = twelve_pairs()
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    page.goto(f"{site.url}/queue/")
    screenshot(page, "queue")
    page.keyboard.press("Tab")  # to the first link of the page; then find "Start reviewing" by Tab
    for _ in range(30):
        if page.evaluate("document.activeElement.textContent.trim()").startswith("Start reviewing"):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    on_desk(page, pairs[0])
    page.evaluate("window.loadedOnce = true")  # gone if any step reloads the whole page
    screenshot(page, "review-pair")

    # 1 merge, 2 keep right then merge, 3 different, 4 skip, 5 merge then undo then different, 6-10 merge
    page.keyboard.press("m")
    on_desk(page, pairs[1])
    page.keyboard.press("2")
    page.keyboard.press("m")
    on_desk(page, pairs[2])
    page.keyboard.press("d")
    on_desk(page, pairs[3])
    page.keyboard.press("s")
    on_desk(page, pairs[4])
    page.keyboard.press("m")
    on_desk(page, pairs[5])
    page.keyboard.press("u")
    on_desk(page, pairs[4])
    page.keyboard.press("d")
    on_desk(page, pairs[5])
    for i in range(5, 10):
        page.keyboard.press("m")
        on_desk(page, pairs[i + 1])
    screenshot(page, "review-after-ten")

    assert page.evaluate("window.loadedOnce") is True
    assert page.url == f"{site.url}/candidates/{pairs[10].pk}/"
    live = {d.candidate_id: d for d in Decision.objects.exclude(status="reversed")}
    expected = {
        0: "same",
        1: "same",
        2: "different",
        4: "different",
        5: "same",
        6: "same",
        7: "same",
        8: "same",
        9: "same",
    }
    assert {pairs.index(next(p for p in pairs if p.pk == pk)): d.verdict for pk, d in live.items()} == expected
    assert Decision.objects.filter(status="reversed").count() == 1
    assert Candidate.objects.get(pk=pairs[3].pk).status == "open"  # skipped, still to do
    for i, pair in enumerate(pairs[:10]):
        if expected.get(i) == "same":
            suggested, _ = suggest_canonical([pair.asset_a_id, pair.asset_b_id])
            keep = pair.asset_b_id if i == 1 else suggested
            assert live[pair.pk].canonical_id == keep
            gone = pair.asset_a_id if keep == pair.asset_b_id else pair.asset_b_id
            assert Asset.objects.get(pk=gone).state == "quarantined"
    assert Asset.objects.filter(pk__in=[pairs[4].asset_a_id, pairs[4].asset_b_id], state="active").count() == 2


def test_flicker_slider_and_difference(site, page):
    at_the_desk(site, page)

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    screenshot(page, "review-help")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.keyboard.press("f")
    over = page.locator("#overlay .over")
    assert page.locator("#overlay").is_visible()
    seen = {page.evaluate("document.querySelector('#overlay .over').style.visibility")}
    page.wait_for_function(
        "(first) => document.querySelector('#overlay .over').style.visibility !== first",
        arg=next(iter(seen)),
        timeout=3000,
    )
    page.keyboard.press("f")
    assert not page.locator("#overlay").is_visible()

    page.keyboard.press("o")
    page.locator("#slider").fill("20")
    assert "inset(0px 0px 0px 20%)" in over.evaluate("el => getComputedStyle(el).clipPath")
    screenshot(page, "review-slider")
    page.keyboard.press("Escape")
    page.locator("body").focus()
    page.keyboard.press("x")
    page.wait_for_function("() => document.querySelector('#overlay .difference').naturalWidth > 0")
    assert page.locator("#overlay .difference").is_visible()
    assert not page.locator("#overlay .slider").is_visible()
    assert not page.locator("#overlay .over").is_visible()
    screenshot(page, "review-difference")


def boxes(page) -> dict:
    """Where each image and its frame are on screen, and the sidebar's left edge."""
    return page.evaluate("""() => ({
        frames: [...document.querySelectorAll('#stage .pane .viewport')].map(v => v.getBoundingClientRect().toJSON()),
        images: [...document.querySelectorAll('#stage .pane img')].map(i => i.getBoundingClientRect().toJSON()),
        sidebar: document.querySelector('aside.recent').getBoundingClientRect().left })""")


def test_zoom_goes_by_steps_at_the_pointer_both_images_together_inside_their_frames(site, page):
    pairs = at_the_desk(site, page)
    fitted = boxes(page)
    frame = fitted["frames"][0]
    # the pointer a quarter of the way into the left image: that point of the picture stays under it
    page.mouse.move(frame["x"] + frame["width"] / 4, frame["y"] + frame["height"] / 4)

    page.keyboard.press("z")

    page.wait_for_function("() => document.querySelector('.pane img').src.endsWith('/original/')")
    page.wait_for_function("() => [...document.querySelectorAll('.pane img')].every(i => i.naturalWidth > 0)")
    assert (
        page.locator('.pane[data-side="1"] img')
        .get_attribute("src")
        .endswith(f"/assets/{pairs[0].asset_a_id}/original/")
    )
    twice = boxes(page)
    for image, before, box in zip(twice["images"], fitted["images"], twice["frames"], strict=True):
        assert image["width"] == pytest.approx(2 * before["width"], abs=1)  # twice the fitted view, however small
        assert image["x"] == pytest.approx(box["x"] - box["width"] / 4, abs=1)  # the pointed-at point held
        assert image["y"] == pytest.approx(box["y"] - box["height"] / 4, abs=1)
        assert box["x"] + box["width"] <= twice["sidebar"]  # the frames stay where they were
    assert twice["frames"] == fitted["frames"]
    assert page.locator("#zoom-level").inner_text() == "2×"
    screenshot(page, "review-zoom-2x")

    page.keyboard.press("z")
    assert boxes(page)["images"][1]["width"] == pytest.approx(4 * fitted["images"][1]["width"], abs=1)
    # dragging one image pans both
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2, steps=4)
    page.mouse.up()
    dragged = boxes(page)
    for image, box in zip(dragged["images"], dragged["frames"], strict=True):
        assert image["x"] - box["x"] == pytest.approx(dragged["images"][0]["x"] - dragged["frames"][0]["x"], abs=1)
        assert image["x"] <= box["x"] and image["x"] + image["width"] >= box["x"] + box["width"]  # never a gap

    page.keyboard.press("Shift+Z")
    assert boxes(page)["images"][0]["width"] == pytest.approx(2 * fitted["images"][0]["width"], abs=1)
    page.keyboard.press("0")
    assert boxes(page)["images"] == fitted["images"]
    assert "zoomed" not in page.locator("#stage").get_attribute("class")


def test_a_partial_copys_region_is_outlined_zooms_with_its_picture_and_the_overlay_is_aligned(site, page):
    from tests.review.test_desk import partial_pair

    pair = partial_pair()  # image b is the middle of image a (640 x 480): corners 160,120 to 480,360
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    page.goto(f"{site.url}/candidates/{pair.pk}/")
    on_desk(page, pair)
    outline = """() => {
        const frame = document.querySelector('.pane[data-side="1"] .viewport').getBoundingClientRect();
        const shape = document.querySelector('svg.region polygon').getBoundingClientRect();
        const scale = Math.min(frame.width / 640, frame.height / 480);  // the picture as fitted
        return {width: shape.width, expected: 320 * scale,
                centre: [shape.x + shape.width / 2 - frame.x - frame.width / 2,
                         shape.y + shape.height / 2 - frame.y - frame.height / 2]};
    }"""

    fitted = page.evaluate(outline)
    assert fitted["width"] == pytest.approx(fitted["expected"], abs=2)  # the middle half, at the picture's scale
    assert fitted["centre"] == [pytest.approx(0, abs=2), pytest.approx(0, abs=2)]
    screenshot(page, "review-partial")
    page.keyboard.press("z")
    assert page.evaluate(outline)["width"] == pytest.approx(2 * fitted["expected"], abs=3)  # zoomed with it
    page.keyboard.press("0")
    page.keyboard.press("f")
    assert page.locator("#overlay .over").get_attribute("src") == f"/candidates/{pair.pk}/aligned.png"
    page.wait_for_function("() => document.querySelector('#overlay .over').naturalWidth > 0")
    page.keyboard.press("f")
    page.keyboard.press("x")
    page.wait_for_function("() => document.querySelector('#overlay .difference').naturalWidth > 0")
    screenshot(page, "review-partial-difference")


def test_a_caseworker_cannot_reach_an_unassigned_source_by_guessing_urls(site, page):
    hidden = twelve_pairs()[0]
    cases, _ = archive_rows("cases")
    user = user_with_role("cai", "caseworker", sources=(cases,))
    assert user.source_assignments.count() == 1
    sign_in_by_keyboard(page, site, "cai")
    record = hidden.asset_a.attachments.get().record

    for url in (
        f"/candidates/{hidden.pk}/",
        f"/candidates/{hidden.pk}/difference.png",
        f"/assets/{hidden.asset_a_id}/",
        f"/assets/{hidden.asset_a_id}/thumbnail/",
        f"/assets/{hidden.asset_a_id}/original/",
        f"/records/{record.pk}/",
        "/sources/permits/",
    ):
        assert page.goto(f"{site.url}{url}").status == 404, url
    page.goto(f"{site.url}/queue/")
    assert "Nothing to review" in page.content()


def test_a_group_is_decided_by_keyboard(site, page):
    from dedupe.candidates import groups_rebuild

    _, made = archive_rows("trio", records=3)
    a, b, c = (asset for _, asset in made)
    for x, y in ((a, b), (a, c), (b, c)):
        Candidate.objects.create(asset_a=x, asset_b=y, kind="near", score=0.9)
    groups_rebuild()
    group = Candidate.objects.get(asset_a=a, asset_b=b).group
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    page.goto(f"{site.url}/groups/{group.pk}/")
    page.locator(f'body[data-ready="group-{group.pk}"]').wait_for()
    screenshot(page, "review-group")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.keyboard.press("Escape")  # threw on this page (it has no key list)
    assert page.title().startswith(f"Group {group.pk}") and "</div>" not in page.title()

    page.keyboard.press("2")
    page.keyboard.press("m")
    page.wait_for_url(f"{site.url}/queue/")

    assert [Asset.objects.get(pk=x.pk).state for x in (a, b, c)] == ["quarantined", "active", "quarantined"]
    assert errors == []


def test_a_group_compares_the_kept_copy_with_another_using_the_pair_pages_tools(site, page):
    from dedupe.candidates import groups_rebuild

    _, made = archive_rows("trio", records=3)
    a, b, c = (asset for _, asset in made)
    store_bytes(a, b, c)
    for x, y in ((a, b), (a, c)):
        Candidate.objects.create(asset_a=x, asset_b=y, kind="near", score=0.9)
    groups_rebuild()
    group = Candidate.objects.get(asset_a=a, asset_b=b).group
    keep, _ = suggest_canonical([a.pk, b.pk, c.pk])
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    page.goto(f"{site.url}/groups/{group.pk}/")
    page.locator(f'body[data-ready="group-{group.pk}"]').wait_for()
    kept_pane = page.locator('#compare .pane[data-side="1"] img')
    assert kept_pane.get_attribute("src") == f"/assets/{keep}/thumbnail/"
    # the facts table: one column per copy, the kept one first
    headers = page.locator("#compare table.compare thead th").all_inner_texts()[1:]
    assert headers[0] == f"Image {keep} (kept)" and len(headers) == 3

    page.keyboard.press("3")  # keep the third copy: the comparison follows
    page.wait_for_function(
        f"() => document.querySelector('#compare .pane img').src.endsWith('/assets/{c.pk}/thumbnail/')"
    )
    page.locator('#compare select[name="with"]').select_option(str(b.pk))
    page.wait_for_function(
        f"() => document.querySelector('#compare .pane[data-side=\"2\"] img').src.endsWith('/assets/{b.pk}/thumbnail/')"
    )
    assert page.locator("#compare table.compare thead th").nth(1).inner_text() == f"Image {c.pk} (kept)"

    page.locator("body:not([data-comparing])").wait_for()  # the tools act on the comparison once it is in
    page.locator("h1").focus()  # out of the select, whose keys are its own
    page.keyboard.press("x")
    page.wait_for_function("() => document.querySelector('#overlay .difference').naturalWidth > 0")
    assert page.locator("#overlay .difference").get_attribute("src") == (
        f"/groups/{group.pk}/difference/{c.pk}-{b.pk}.png"
    )
    page.keyboard.press("x")
    page.keyboard.press("f")
    assert page.locator("#overlay").is_visible()
    page.keyboard.press("f")
    page.keyboard.press("z")
    assert page.locator("#stage").get_attribute("data-zoom") == "2"
    screenshot(page, "group-compare")
    page.keyboard.press("0")
    page.keyboard.press("m")
    page.wait_for_url(f"{site.url}/queue/")
    assert [Asset.objects.get(pk=x.pk).state for x in (a, b, c)] == ["quarantined", "quarantined", "active"]


def test_the_key_list_is_modal_keys_do_nothing_behind_it(site, page):
    pairs = at_the_desk(site, page)

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("m")  # behind the open key list: nothing happens
    page.keyboard.press("Escape")

    assert not page.locator("#help").is_visible()
    assert not Decision.objects.exists() and page.url.endswith(f"/candidates/{pairs[0].pk}/")
    page.keyboard.press("m")  # and with it closed, the key acts again
    on_desk(page, pairs[1])


def test_a_verdict_waits_until_both_images_are_in_view(site, page):
    """With slow thumbnails, `m` pressed before the pictures appear merges nothing; once they show, it does."""
    pairs = twelve_pairs()
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    held, released = [], []

    def slow_server(route):  # holds every image until the test lets them go
        route.continue_() if released else held.append(route)

    page.route("**/thumbnail/", slow_server)
    page.goto(f"{site.url}/candidates/{pairs[0].pk}/", wait_until="domcontentloaded")
    page.locator(f'#desk[data-candidate="{pairs[0].pk}"]').wait_for()
    page.keyboard.press("m")
    page.locator("#images-pending").wait_for(state="visible")
    screenshot(page, "verdict-waits-for-images")
    assert not Decision.objects.filter(candidate=pairs[0]).exists()

    released.append(True)
    for route in held:
        route.continue_()
    for _ in range(200):  # polled from here: the page's CSP refuses the eval wait_for_function needs
        if page.evaluate("Array.from(document.querySelectorAll('.pane img')).every(i => i.complete)"):
            break
        page.wait_for_timeout(50)
    page.keyboard.press("m")
    on_desk(page, pairs[1])
    assert Decision.objects.get(candidate=pairs[0]).verdict == "same"


def test_an_image_that_fails_to_load_says_so_and_the_pair_can_be_decided(site, page):
    pairs = twelve_pairs()
    user_with_role("ana", "archivist")
    sign_in_by_keyboard(page, site, "ana")
    page.route(f"**/assets/{pairs[0].asset_b_id}/thumbnail/", lambda route: route.abort())
    page.goto(f"{site.url}/candidates/{pairs[0].pk}/")
    page.locator('.pane[data-failed="1"]').wait_for()
    assert "did not load" in page.evaluate(
        "getComputedStyle(document.querySelector('.pane[data-failed] .viewport'), '::after').content"
    )
    page.keyboard.press("d")
    on_desk(page, pairs[1])
    assert Decision.objects.get(candidate=pairs[0]).verdict == "different"


def test_a_decision_on_its_way_is_shown_and_keys_wait_for_it(site, page):
    """Item 7: nothing showed that a decision was on its way; now the desk says so until the next pair is in."""
    pairs = at_the_desk(site, page)
    held, released = [], []
    page.route("**/decide/", lambda route: route.continue_() if released else held.append(route))  # held back
    assert not page.locator(".in-flight").is_visible()

    page.keyboard.press("m")
    page.wait_for_function("document.body.dataset.busy === '1'")

    assert page.locator(".in-flight").is_visible(), "the desk says a decision is on its way"
    page.keyboard.press("d")  # dropped while the first is on its way: never applied to the next pair
    page.wait_for_timeout(200)
    assert len(held) == 1
    released.append(True)
    held[0].continue_()
    on_desk(page, pairs[1])
    assert not page.locator(".in-flight").is_visible()
    assert [d.verdict for d in Decision.objects.all()] == ["same"]


def test_back_shows_the_pair_just_decided_as_decided_with_no_live_form(site, page):
    pairs = at_the_desk(site, page)
    page.keyboard.press("m")
    on_desk(page, pairs[1])

    page.go_back()

    page.wait_for_url(f"{site.url}/candidates/{pairs[0].pk}/")
    page.locator(f'#desk[data-candidate="{pairs[0].pk}"]').wait_for()
    assert "This pair is decided" in page.locator("#desk").inner_text()
    assert page.locator("#decide-form").count() == 0, "no form to decide it again"


def test_u_walks_back_through_the_last_decisions_and_n_swaps_the_next_pair_in(site, page):
    pairs = at_the_desk(site, page)
    page.evaluate("window.loadedOnce = true")  # gone if any step reloads the whole page
    for i in range(3):
        page.keyboard.press("m")
        on_desk(page, pairs[i + 1])

    for i in (2, 1, 0):  # each u undoes the newest decision still standing and shows its pair
        page.keyboard.press("u")
        on_desk(page, pairs[i])

    assert sorted(d.status for d in Decision.objects.all()) == ["reversed"] * 3
    page.keyboard.press("n")
    on_desk(page, pairs[1])
    assert page.evaluate("window.loadedOnce") is True, "n swaps the next pair in, as a decision does"
    assert page.url == f"{site.url}/candidates/{pairs[1].pk}/"
