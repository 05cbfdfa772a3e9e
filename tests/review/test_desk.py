"""The review desk on the server: queue order and paging, the review page, decisions through htmx,
stale forms, skip and undo, the images it serves, and untrusted text kept as text."""

import io
import re

import pytest
from PIL import Image

from dedupe.models import Asset, AuditEvent, Candidate, Record, Source
from review.models import Decision, ReviewAssignment
from tests.factories import archive_rows, store_bytes, user_with_role

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def pairs(slug: str, n: int, kind: str = "near", score: float = 0.9, **flags) -> list[Candidate]:
    """n pairs, each of two copies in one source."""
    _, made = archive_rows(slug, records=2 * n)
    assets = [a for _, a in made]
    return [
        Candidate.objects.create(asset_a=assets[2 * i], asset_b=assets[2 * i + 1], kind=kind, score=score, **flags)
        for i in range(n)
    ]


def desk_seen(page: str) -> str:
    return page.split('name="seen" value="')[1].split('"')[0]


def test_the_queue_puts_exact_copies_then_address_conflicts_then_score_first(client, archivist):
    near_low = pairs("low", 1, score=0.5)[0]
    near_high = pairs("high", 1, score=0.95)[0]
    conflict = pairs("conflict", 1, score=0.6, address_conflict=True)[0]
    exact = pairs("exact", 1, kind="exact", score=1.0)[0]
    client.force_login(archivist)

    page = client.get("/queue/").content.decode()

    order = [page.index(f"Pair {c.pk}<") for c in (exact, conflict, near_high, near_low)]
    assert order == sorted(order)


def test_keyset_pages_show_every_open_pair_once(client, archivist, settings, monkeypatch):
    monkeypatch.setattr("review.views.desk.PAGE_SIZE", 4)
    made = pairs("many", 5, score=0.9) + pairs("more", 5, score=0.7)
    client.force_login(archivist)
    seen, url = [], "/queue/"
    while url:
        page = client.get(url).content.decode()
        seen += [c.pk for c in made if f"Pair {c.pk}<" in page]
        url = "/queue/?" + page.split('href="?')[1].split('"')[0].replace("&amp;", "&") if "Next pairs" in page else ""
    assert sorted(seen) == sorted(c.pk for c in made)


def test_a_caseworker_sees_only_pairs_of_assigned_sources(client, caseworker, permits):
    assigned = Candidate.objects.create(
        asset_a=caseworker_asset(0), asset_b=caseworker_asset(1), kind="near", score=0.9
    )
    hidden = pairs("permits2", 1)[0]
    client.force_login(caseworker)

    page = client.get("/queue/").content.decode()

    assert f"Pair {assigned.pk}<" in page and f"Pair {hidden.pk}<" not in page
    assert client.get(f"/candidates/{hidden.pk}/").status_code == 404
    assert client.get(f"/candidates/{hidden.pk}/difference.png").status_code == 404
    assert client.post(f"/candidates/{hidden.pk}/decide/", {"verdict": "different"}).status_code == 404


def caseworker_asset(n: int) -> Asset:
    return Asset.objects.get(source__slug="cases", origin_path=f"cases/{n}.jpg")


def test_the_review_page_preselects_the_suggestion_and_puts_differences_first(client, archivist):
    c = pairs("pages", 1)[0]
    Record.objects.filter(attachments__asset=c.asset_b).update(address="9 Other Road")
    Asset.objects.filter(pk=c.asset_b_id).update(width=1280, height=960)
    client.force_login(archivist)

    page = client.get(f"/candidates/{c.pk}/").content.decode()

    assert f'value="{c.asset_b_id}" form="decide-form" checked' in page  # most pixels is kept
    assert "Suggested because" in page
    table = page.split('<table class="compare">')[1]
    assert table.index("Address") < table.index("Source")  # differing rows first, equal ones after
    assert '<tr class="differs conflict"><th scope="row">Address</th>' in page


def test_a_decision_through_htmx_brings_the_next_pair(client, archivist):
    first, second = pairs("flow", 2, score=0.9)
    Candidate.objects.filter(pk=second.pk).update(score=0.8)
    client.force_login(archivist)
    seen = desk_seen(client.get(f"/candidates/{first.pk}/").content.decode())

    response = client.post(
        f"/candidates/{first.pk}/decide/",
        {"verdict": "same", "canonical": first.asset_a_id, "seen": seen},
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"/candidates/{second.pk}/"
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="desk"') and "<html" not in body
    assert Asset.objects.get(pk=first.asset_b_id).state == "quarantined"
    assert Decision.objects.get(candidate=first).decided_by == archivist


def test_a_stale_form_is_refused_with_who_decided(client, archivist):
    c = pairs("stale", 1)[0]
    other = user_with_role("bea", "archivist")
    client.force_login(archivist)
    seen = desk_seen(client.get(f"/candidates/{c.pk}/").content.decode())
    client.force_login(other)
    client.post(f"/candidates/{c.pk}/decide/", {"verdict": "different", "reason": "other", "seen": seen})
    client.force_login(archivist)

    response = client.post(
        f"/candidates/{c.pk}/decide/", {"verdict": "same", "canonical": c.asset_a_id, "seen": seen}, **HTMX
    )

    assert response.status_code == 409
    assert "already decided by bea at" in response.content.decode()
    assert Decision.objects.filter(candidate=c).count() == 1
    assert not Asset.objects.filter(state="quarantined").exists()


def test_skip_moves_on_and_keeps_the_pair_open(client, archivist):
    first, second = pairs("skip", 2)
    client.force_login(archivist)

    response = client.post(f"/candidates/{first.pk}/decide/", {"verdict": "skip"})

    assert response["Location"] == f"/candidates/{second.pk}/"
    assert Candidate.objects.get(pk=first.pk).status == "open"
    assert not Decision.objects.exists()


def test_undo_reverses_the_merge_and_reopens_the_pair(client, archivist):
    c = pairs("undo", 1)[0]
    client.force_login(archivist)
    seen = desk_seen(client.get(f"/candidates/{c.pk}/").content.decode())
    client.post(f"/candidates/{c.pk}/decide/", {"verdict": "same", "canonical": c.asset_a_id, "seen": seen})
    decision = Decision.objects.get(candidate=c)

    page = client.get(f"/candidates/{c.pk}/").content.decode()
    response = client.post(f"/decisions/{decision.pk}/undo/")

    assert f'action="/decisions/{decision.pk}/undo/"' in page and 'data-key="u"' in page
    assert response.status_code == 302
    assert Candidate.objects.get(pk=c.pk).status == "open"
    assert Asset.objects.get(pk=c.asset_b_id).state == "active"
    assert AuditEvent.objects.filter(action="asset.unmerge").count() == 1


def test_someone_elses_decision_cannot_be_undone_here(client, archivist):
    c = pairs("theirs", 1)[0]
    other = user_with_role("bea", "archivist")
    client.force_login(other)
    client.post(f"/candidates/{c.pk}/decide/", {"verdict": "different", "reason": "other", "seen": 0})
    client.force_login(archivist)

    assert client.post(f"/decisions/{Decision.objects.get().pk}/undo/").status_code == 404


def test_the_difference_view_and_the_original_are_private(client, archivist):
    c = pairs("images", 1)[0]
    store_bytes(c.asset_a)
    client.force_login(archivist)

    difference = client.get(f"/candidates/{c.pk}/difference.png")
    original = client.get(f"/assets/{c.asset_a_id}/original/")

    for response in (difference, original):
        assert response.status_code == 200
        assert response["Cache-Control"].startswith("private")
        assert response["X-Content-Type-Options"] == "nosniff"
    assert difference.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"".join(original.streaming_content)[:2] == b"\xff\xd8"
    assert original["Content-Type"] == "image/jpeg"


def test_every_look_at_a_sensitive_image_is_on_the_record(client, caseworker, cases):
    Source.objects.filter(slug="cases").update(sensitivity="sensitive")
    asset = cases[1][0][1]
    store_bytes(asset)
    client.force_login(caseworker)

    client.get(f"/assets/{asset.pk}/thumbnail/")
    client.get(f"/assets/{asset.pk}/original/")

    events = AuditEvent.objects.filter(actor_id=caseworker.pk, action__startswith="image.view.")
    assert sorted(events.values_list("action", flat=True)) == ["image.view.original", "image.view.thumbnail"]


def test_untrusted_metadata_renders_as_text_under_a_strict_policy(client, archivist):
    c = pairs("xss", 1)[0]
    payload = '<script>alert(1)</script><b hx-get="/admin/" hx-on:click="alert(2)">x</b>'
    Record.objects.filter(attachments__asset=c.asset_a).update(address=payload)
    client.force_login(archivist)

    response = client.get(f"/candidates/{c.pk}/")
    page = response.content.decode()

    assert "<script>alert(1)" not in page and 'hx-on:click="alert(2)"' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_an_auditor_sees_a_pair_but_cannot_decide(client, auditor):
    c = pairs("audit", 1)[0]
    client.force_login(auditor)

    page = client.get(f"/candidates/{c.pk}/").content.decode()
    response = client.post(f"/candidates/{c.pk}/decide/", {"verdict": "different", "reason": "other", "seen": 0})

    assert "decide-form" not in page.split('<div class="view-tools"')[1]
    assert response.status_code == 403  # auditors are refused every POST
    assert not Decision.objects.exists()


def test_an_empty_queue_says_so(client, archivist):
    client.force_login(archivist)

    assert "Nothing to review" in client.get("/queue/").content.decode()


def three_copies(slug: str = "trio") -> list[Asset]:
    from dedupe.candidates import groups_rebuild

    _, made = archive_rows(slug, records=3)
    assets = [a for _, a in made]
    for i, a in enumerate(assets):
        for b in assets[i + 1 :]:
            Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
    groups_rebuild()
    return assets


def test_a_group_is_decided_at_once_with_a_member_split_off(client, archivist):
    a, b, c = three_copies()
    group = Candidate.objects.filter(asset_a=a).first().group
    client.force_login(archivist)

    page = client.get(f"/groups/{group.pk}/").content.decode()
    seen = page.split('name="seen" value="')[1].split('"')[0]
    response = client.post(f"/groups/{group.pk}/decide/", {"seen": seen, "canonical": a.pk, "exclude": [c.pk]})

    assert response.status_code == 302
    assert Asset.objects.get(pk=b.pk).state == "quarantined"
    assert Asset.objects.get(pk=c.pk).state == "active"
    # c against the kept copy, still to review; c against the merged-away b moved there
    assert [(x.asset_a_id, x.asset_b_id) for x in Candidate.objects.filter(status="open")] == [(a.pk, c.pk)]


def test_a_groups_comparison_follows_the_chosen_copies_and_names_no_image_outside_it(client, archivist):
    a, b, c = three_copies()
    outsider = three_copies("other")[0]  # an image the archivist may see, of another group
    group = Candidate.objects.filter(asset_a=a).first().group
    client.force_login(archivist)

    def compared(query: str) -> list[str]:
        response = client.get(f"/groups/{group.pk}/{query}", **HTMX)
        assert response.status_code == 200
        page = response.content.decode()
        assert "<html" not in page and 'id="compare"' in page  # the comparison alone
        return re.findall(
            r'<figure class="pane" data-side="\d"[^>]*>\s*<div class="viewport">\s*<img src="/assets/(\d+)/', page
        )

    assert compared(f"?canonical={c.pk}&with={a.pk}") == [str(c.pk), str(a.pk)]
    suggested = compared("")[0]
    for hostile in (f"?canonical={outsider.pk}&with={outsider.pk}", "?canonical=x&with=%D9%A3", "?with=-1"):
        kept, other = compared(hostile)
        assert kept == suggested and other != kept and int(other) in (a.pk, b.pk, c.pk)


def test_a_group_that_changed_since_it_was_shown_is_refused(client, archivist):
    a, b, c = three_copies()
    group = Candidate.objects.filter(asset_a=a).first().group
    client.force_login(archivist)

    response = client.post(f"/groups/{group.pk}/decide/", {"seen": f"{a.pk},{b.pk}", "canonical": a.pk}, follow=True)

    assert "Not decided: this group changed since you loaded it" in response.content.decode()
    assert not Asset.objects.filter(state="quarantined").exists()


def test_a_caseworkers_proposal_is_approved_by_an_archivist(client, archivist, caseworker, cases):
    Source.objects.filter(slug="cases").update(sensitivity="sensitive")
    (_, a), (_, b) = cases[1]
    c = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
    client.force_login(caseworker)
    client.post(f"/candidates/{c.pk}/decide/", {"verdict": "same", "canonical": a.pk, "seen": 0})
    assert Asset.objects.get(pk=b.pk).state == "active"  # only proposed
    assert client.get("/proposals/").status_code == 404
    client.force_login(archivist)

    page = client.get("/proposals/").content.decode()
    client.post(f"/proposals/{Decision.objects.get().pk}/", {"answer": "approve"})

    assert f"Pair {c.pk}" in page
    assert Asset.objects.get(pk=b.pk).state == "quarantined"
    assert list(
        AuditEvent.objects.filter(action__in=["decision.propose", "decision.approve"])
        .values_list("actor_name", flat=True)
        .order_by("id")
    ) == ["caseworker", "archivist"]


def test_home_says_what_is_waiting_for_each_role(client, archivist, caseworker, auditor):
    pairs("waiting", 3)
    Candidate.objects.create(asset_a=caseworker_asset(0), asset_b=caseworker_asset(1), kind="near", score=0.9)

    client.force_login(archivist)
    assert '<span class="number">4</span><span>pairs waiting for review' in client.get("/").content.decode()
    client.force_login(caseworker)
    page = client.get("/").content.decode()
    assert '<span class="number">1</span><span>pairs waiting for review' in page and "proposals to approve" not in page
    client.force_login(auditor)
    assert "pairs waiting for review" not in client.get("/").content.decode()


def test_an_archivist_hands_pairs_to_a_reviewer_who_filters_for_them(client, archivist, caseworker, cases):
    mine = Candidate.objects.create(asset_a=caseworker_asset(0), asset_b=caseworker_asset(1), kind="near", score=0.9)
    elsewhere = pairs("permits2", 1)[0]  # the caseworker may not see this source
    client.force_login(archivist)

    response = client.post(
        "/queue/assign/",
        {"candidate": [mine.pk, elsewhere.pk], "reviewer": "caseworker", "next": "/queue/"},
        follow=True,
    )

    page = response.content.decode()
    assert "1 pair(s) assigned to caseworker." in page and "1 pair(s) not assigned" in page
    assert ReviewAssignment.objects.get().candidate == mine
    [event] = AuditEvent.objects.filter(action="queue.assign")
    assert event.after == {"reviewer": "caseworker", "pairs": [mine.pk]}
    unassigned = client.get("/queue/", {"assigned": "none"}).content.decode()
    assert f"Pair {elsewhere.pk}<" in unassigned and f"Pair {mine.pk}<" not in unassigned
    client.force_login(caseworker)
    assert f"Pair {mine.pk}<" in client.get("/queue/", {"assigned": "me"}).content.decode()
    assert client.post("/queue/assign/", {"candidate": [mine.pk], "reviewer": "caseworker"}).status_code == 404


def test_the_keeper_counts_picture_not_bars_and_shows_the_fact_beside_each_image(client, archivist):
    """A copy padded with black bars has more pixels than the clean original, and no more picture."""
    _, made = archive_rows("permits", records=2)
    clean, padded = (a for _, a in made)
    Asset.objects.filter(pk=clean.pk).update(width=640, height=480, content_pixels=640 * 480, jpeg_quality=88)
    Asset.objects.filter(pk=padded.pk).update(width=800, height=480, content_pixels=638 * 480, jpeg_quality=88)
    pair = Candidate.objects.create(asset_a=clean, asset_b=padded, kind="near", score=0.9)
    client.force_login(archivist)

    page = client.get(f"/candidates/{pair.pk}/").content.decode()

    # 800 x 480 against 640 x 480, but the picture within 1 %: no reason; 88 against 88: none either
    assert "Suggested because it was imported first." in page
    assert "imported " in page.split('class="fact"')[1][:80], "the fact the reason rests on, beside the image"
    Asset.objects.filter(pk=padded.pk).update(content_pixels=480 * 360)  # the padded one is a smaller picture

    page = client.get(f"/candidates/{pair.pk}/").content.decode()

    assert f'value="{clean.pk}" form="decide-form" checked' in page
    assert "Suggested because it has the most picture (bars trimmed)." in page
    assert '<span class="fact">307,200 picture pixels</span>' in page
    assert '<span class="fact">172,800 picture pixels</span>' in page


def test_what_differs_is_beside_the_pair_with_the_address_conflict_in_words(client, archivist):
    _, made = archive_rows("permits", records=2)
    (first, a), (second, b) = made
    Record.objects.filter(pk=first.pk).update(address="755 S Figueroa St")
    Record.objects.filter(pk=second.pk).update(address="757 SOUTH FIGUEROA STREET, LOS ANGELES, CA")
    pair = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
    client.force_login(archivist)

    page = client.get(f"/candidates/{pair.pk}/").content.decode()
    beside = page.split('aria-label="What differs"')[1].split("</section>")[0]

    assert "<dt>Address</dt>" in beside and "755 vs 757" in beside
    assert f'id="w-target">{second.external_id} slot 1 (image {b.pk})' in beside
    assert "<dt>Source</dt>" not in beside, "only what differs"


def test_a_group_merge_across_differing_addresses_is_confirmed_first_then_goes_on_to_the_next_group(client, archivist):
    a, b, c = three_copies()
    Record.objects.filter(attachments__asset=c).update(address="99 Olympic Blvd")  # another property
    group = Candidate.objects.filter(asset_a=a).first().group
    later = three_copies("later")  # the next group in the queue
    client.force_login(archivist)
    page = client.get(f"/groups/{group.pk}/").content.decode()
    seen = page.split('name="seen" value="')[1].split('"')[0]
    assert f"image {c.pk}: " in page and 'name="addresses_checked"' in page

    refused = client.post(f"/groups/{group.pk}/decide/", {"seen": seen, "canonical": a.pk}, follow=True)

    assert "addresses differ (image " in refused.content.decode()
    assert not Asset.objects.filter(state="quarantined").exists()
    done = client.post(f"/groups/{group.pk}/decide/", {"seen": seen, "canonical": a.pk, "addresses_checked": "1"})

    assert set(Asset.objects.filter(state="quarantined").values_list("pk", flat=True)) == {b.pk, c.pk}
    following = Candidate.objects.filter(asset_a=later[0]).first().group_id
    assert done.status_code == 302 and done["Location"] == f"/groups/{following}/", "on to the next group"


def partial_pair(**evidence) -> Candidate:
    """Image b a crop of image a (thumbnails made so), with the scan's evidence unless told otherwise."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from tests.factories import photo

    _, made = archive_rows("crops", records=2)
    (_, a), (_, b) = made
    crop = photo(0, (64, 48)).crop((16, 12, 48, 36))  # the middle of image a's thumbnail (archive_rows: photo(0))
    buf = io.BytesIO()
    crop.save(buf, "WEBP")
    Asset.objects.filter(pk=b.pk).update(
        thumbnail_name=default_storage.save("thumbnails/crop.webp", ContentFile(buf.getvalue())), width=320, height=240
    )
    facts = {"relation": "crop", "inner": b.pk, "outer": a.pk, "inliers": 87, "model": "homography",
             "matrix": [[1, 0, 160], [0, 1, 120], [0, 0, 1]],
             "region": [[160, 120], [480, 120], [480, 360], [160, 360]]}  # fmt: skip
    return Candidate.objects.create(asset_a=a, asset_b=b, kind="partial", score=0.8, evidence=facts | evidence)


def test_a_partial_copy_is_outlined_on_the_other_picture_and_its_views_are_aligned(client, archivist):
    pair = partial_pair()
    client.force_login(archivist)

    page = client.get(f"/candidates/{pair.pk}/").content.decode()
    aligned = client.get(f"/candidates/{pair.pk}/aligned.png")
    difference = client.get(f"/candidates/{pair.pk}/difference.png")

    assert '<polygon points="160,120 480,120 480,360 160,360"/>' in page
    assert 'viewBox="0 0 640 480"' in page and f"where image {pair.asset_b_id} lies in this one" in page
    assert f'class="over" src="/candidates/{pair.pk}/aligned.png"' in page
    assert aligned.status_code == 200 and aligned["Cache-Control"] == "private, no-store"
    laid = Image.open(io.BytesIO(aligned.content))
    assert laid.size == (64, 48) and laid.getchannel("A").getbbox() == (16, 12, 48, 36)
    assert Image.open(io.BytesIO(difference.content)).crop((0, 0, 64, 10)).getbbox() is None  # only the region


@pytest.mark.parametrize(
    "hostile",
    [{"matrix": [["1", 0, 0], [0, 1, 0], [0, 0, 1]]}, {"matrix": [[0, 0, 0], [0, 0, 0], [0, 0, 0]]},
     {"inner": 999999}, {"region": [[1, 2], ["<script>", 3]], "matrix": "x"}, {"region": "0,0 <svg onload=x>"}],
)  # fmt: skip
def test_evidence_that_does_not_hold_together_draws_nothing_and_breaks_nothing(client, archivist, hostile):
    pair = partial_pair(**hostile)
    client.force_login(archivist)

    page = client.get(f"/candidates/{pair.pk}/")
    aligned = client.get(f"/candidates/{pair.pk}/aligned.png")

    shown = page.content.decode()
    assert page.status_code == 200 and "<script>" not in shown and "<svg onload" not in shown
    if "region" in hostile and "matrix" not in hostile:  # a bad outline alone: aligned, but not outlined
        assert "<polygon" not in page.content.decode() and aligned.status_code == 200
    else:
        assert "<polygon" not in page.content.decode() and aligned.status_code == 404
