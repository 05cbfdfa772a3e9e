"""Every endpoint, every role: CSRF on every POST, and no page, image or export to anyone not allowed."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from dedupe.candidates import groups_rebuild
from dedupe.models import Asset, Candidate
from tests.factories import archive_rows, store_bytes, user_with_role

pytestmark = pytest.mark.django_db
ROLES = ("administrator", "archivist", "auditor", "caseworker", "nobody")


def patterns(resolver: URLResolver = None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if not route.startswith("admin/"):
                found += patterns(entry, route)
        else:
            found.append((route, entry))
    return found


def concrete(route: str) -> str:
    """A real path for a route: 1 for every number, a slug for every slug."""
    for converter, value in (
        ("<int:pk>", "1"),
        ("<slug:slug>", "cases"),
        ("<int:actor_id>", "1"),
        ("<int:a>", "1"),
        ("<int:b>", "2"),
    ):
        route = route.replace(converter, value)
    return "/" + route.replace("^", "").replace("$", "")


def test_every_post_without_the_csrf_token_is_refused(db):
    user = user_with_role("admin", "administrator")
    archive_rows("cases")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    routes = [route for route, _ in patterns()]
    assert "candidates/<int:pk>/decide/" in routes and "scans/" in routes  # the walk reaches the app

    # The API (review.api) takes no cookie, so it needs no CSRF token: a session POSTing there is
    # refused because it carries no bearer token (401), or the call is not a POST (405), or none (404);
    # its schema and docs pages (GET only) keep Django's CSRF check (403).
    refused = {route: {401, 403, 404, 405} if route.startswith("api/") else {403} for route in routes}
    accepted = [route for route in routes if client.post(concrete(route), {}).status_code not in refused[route]]

    assert accepted == []


@pytest.fixture
def world(db):
    """Two sources, one assigned to the caseworker, each with a record, images, a candidate and its
    group; and a mixed pair (and group) with one image in each: the caseworker may see one half only."""
    objects, third = {}, {}
    for slug in ("cases", "permits"):
        source, made = archive_rows(slug, records=3)
        (record, a), (_, b), (_, third[slug]) = made
        store_bytes(a)
        candidate = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
        objects[slug] = {"source": source, "record": record, "asset": a, "candidate": candidate}
    mixed = Candidate.objects.create(asset_a=third["cases"], asset_b=third["permits"], kind="near", score=0.95)
    groups_rebuild()
    for o in objects.values():
        o["candidate"].refresh_from_db()
    mixed.refresh_from_db()
    objects["mixed"] = {"candidate": mixed, "asset": third["cases"]}
    users = {role: user_with_role(role, role) for role in ROLES[:-1]}
    users["nobody"] = user_with_role("nobody", "no-such-role")
    users["caseworker"].source_assignments.create(source=objects["cases"]["source"])
    return objects, users


def endpoints(o: dict) -> dict[str, str]:
    """Every page that shows a record, candidate, group, image, thumbnail, history or export of one object."""
    pair = {
        "candidate": f"/candidates/{o['candidate'].pk}/",
        "difference": f"/candidates/{o['candidate'].pk}/difference.png",
        "group": f"/groups/{o['candidate'].group_id}/",
        "group-difference": f"/groups/{o['candidate'].group_id}/difference/"
        f"{o['candidate'].asset_a_id}-{o['candidate'].asset_b_id}.png",
    }
    if "source" not in o:  # the mixed pair: only its own pages
        return pair
    slug = o["source"].slug
    return {
        **pair,
        "source": f"/sources/{slug}/",
        "record": f"/records/{o['record'].pk}/",
        "asset": f"/assets/{o['asset'].pk}/",
        "thumbnail": f"/assets/{o['asset'].pk}/thumbnail/",
        "original": f"/assets/{o['asset'].pk}/original/",
        "merge-map": f"/merge-map/?format=csv&source={slug}",
        "history": f"/audit/timeline/record/{o['record'].pk}/",
        "log-export": f"/audit/export.csv?record={o['record'].pk}",
    }


def allowed(role: str, assigned: bool, endpoint: str) -> bool:
    if endpoint == "merge-map":
        return role in ("administrator", "archivist")
    if endpoint in ("history", "log-export"):
        return role in ("administrator", "auditor")
    if role == "caseworker":
        return assigned
    return role in ("administrator", "archivist", "auditor")


def test_the_access_matrix_has_no_unauthorised_200(client, world):
    objects, users = world
    unauthorised, refused_rightful = [], []
    checked = 0
    for role, user in users.items():
        client.force_login(user)
        for slug, o in objects.items():
            assigned = slug == "cases"
            for endpoint, url in endpoints(o).items():
                status = client.get(url).status_code
                checked += 1
                if status == 200 and not allowed(role, assigned, endpoint):
                    unauthorised.append((role, slug, endpoint))
                if status != 200 and allowed(role, assigned, endpoint):
                    refused_rightful.append((role, slug, endpoint, status))

    assert checked == len(ROLES) * (2 * 12 + 4)
    assert unauthorised == []
    assert refused_rightful == []  # the matrix is not passing by refusing everything


def test_a_group_difference_names_only_members_of_that_group(client, world):
    objects, users = world
    client.force_login(users["archivist"])
    cases, permits = objects["cases"]["candidate"], objects["permits"]["candidate"]
    url = f"/groups/{cases.group_id}/difference/{{}}-{{}}.png"

    assert client.get(url.format(cases.asset_a_id, cases.asset_b_id)).status_code == 200
    # an image the archivist may see, but of another group: not reachable through this one
    assert client.get(url.format(cases.asset_a_id, permits.asset_a_id)).status_code == 404
    assert client.get(url.format(permits.asset_b_id, cases.asset_b_id)).status_code == 404


def test_lists_never_show_an_unassigned_sources_objects(client, world):
    objects, users = world
    client.force_login(users["caseworker"])
    hidden = objects["permits"]

    pages = [client.get(url).content.decode() for url in ("/", "/queue/", "/records/?q=PERM", "/storage/")]

    assert all(hidden["source"].name not in page for page in pages)
    assert f"Pair {hidden['candidate'].pk}<" not in pages[1]
    assert hidden["record"].external_id not in pages[2]
    # the positive control: the same pages do show the caseworker's own source's objects
    shown = objects["cases"]
    assert all(shown["source"].name in page for page in pages[:2] + pages[3:])
    assert f"Pair {shown['candidate'].pk}<" in pages[1]
    assert shown["record"].external_id in client.get("/records/?q=CASE").content.decode()


def mentions(page: str, pair: Candidate) -> bool:
    """A link to the pair, or its name as a list shows it ("Pair 3", "pair 3:")."""
    return f"/candidates/{pair.pk}/" in page or re.search(rf"\b[Pp]air {pair.pk}\b", page) is not None


def test_a_pair_across_an_assigned_and_an_unassigned_source_is_nowhere_for_the_caseworker(client, world):
    """Queue, desk, record and image pages of the assigned half, group, home and storage figures."""
    objects, users = world
    mixed, own = objects["mixed"]["candidate"], objects["mixed"]["asset"]
    client.force_login(users["caseworker"])
    record = own.attachments.get().record_id

    pages = {url: client.get(url) for url in ("/queue/", "/queue/?source=cases", f"/records/{record}/",
                                              f"/assets/{own.pk}/", "/", "/storage/")}  # fmt: skip

    assert all(response.status_code == 200 for response in pages.values())
    assert [url for url, r in pages.items() if mentions(r.content.decode(), mixed)] == []
    assert [url for url, r in pages.items() if f"/groups/{mixed.group_id}/" in r.content.decode()] == []
    storage = pages["/storage/"].content.decode()
    assert "near" in storage.lower()
    assert pages["/storage/"].context["figures"].open_candidates["near"] == 1  # cases' own pair only
    # the positive control: an archivist finds the mixed pair in the queue and on the image page
    client.force_login(users["archivist"])
    assert mentions(client.get("/queue/").content.decode(), mixed)
    assert mentions(client.get(f"/assets/{own.pk}/").content.decode(), mixed)
    assert mentions(client.get(f"/records/{record}/").content.decode(), mixed)


def test_a_mixed_pair_whose_first_image_is_the_unassigned_one_is_nowhere_for_the_caseworker(client, world):
    """Pairs are stored lower id first: the unassigned half may be either side, and both are checked."""
    objects, users = world
    unassigned = objects["permits"]["asset"]
    late = Asset.objects.get(pk=objects["cases"]["asset"].pk)
    late.pk, late.origin_path, late.sha256 = None, "cases/late.jpg", "f" * 64
    late.save()  # a cases image with a higher id than the permits one
    pair = Candidate.objects.create(asset_a=unassigned, asset_b=late, kind="near", score=0.97)
    assert pair.asset_a.source.slug == "permits" and pair.asset_b.source.slug == "cases"
    client.force_login(users["caseworker"])

    desk = client.get(f"/candidates/{pair.pk}/")
    queue = client.get("/queue/").content.decode()

    assert desk.status_code == 404 and not mentions(queue, pair)
    client.force_login(users["archivist"])  # the positive control
    assert client.get(f"/candidates/{pair.pk}/").status_code == 200
    assert mentions(client.get("/queue/").content.decode(), pair)


def test_a_group_with_nothing_left_open_is_not_found(client, world):
    objects, users = world
    pair = objects["cases"]["candidate"]
    client.force_login(users["archivist"])
    assert client.get(f"/groups/{pair.group_id}/").status_code == 200  # the positive control

    Candidate.objects.filter(pk=pair.pk).update(status="different")

    assert client.get(f"/groups/{pair.group_id}/").status_code == 404
