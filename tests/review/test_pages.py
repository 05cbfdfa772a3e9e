"""The archive pages: who sees what, what they show, and that untrusted text stays text."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from dedupe.models import ImportRun, Record
from review.models import SourceAssignment

pytestmark = pytest.mark.django_db


def test_every_page_requires_sign_in(client, permits):
    _, [(record, asset), _] = permits
    for url in ("/", "/sources/permits/", f"/records/{record.pk}/", f"/assets/{asset.pk}/thumbnail/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_the_caseworker_sees_only_assigned_sources_on_home(client, caseworker, permits):
    client.force_login(caseworker)

    page = client.get("/").content.decode()

    assert "Cases" in page and "Permits" not in page


def test_it_hides_records_of_unassigned_sources(client, caseworker, permits):
    client.force_login(caseworker)
    _, [(record, asset), _] = permits

    assert client.get("/sources/permits/").status_code == 404
    assert client.get(f"/records/{record.pk}/").status_code == 404
    assert client.get(f"/assets/{asset.pk}/thumbnail/").status_code == 404


def test_the_archivist_sees_every_source(client, archivist, permits, cases):
    client.force_login(archivist)
    _, [(record, _), _] = permits

    page = client.get("/").content.decode()
    assert "Cases" in page and "Permits" in page
    assert client.get("/sources/permits/").status_code == 200
    assert client.get(f"/records/{record.pk}/").status_code == 200


def test_thumbnails_are_private_and_not_sniffed(client, caseworker, cases):
    client.force_login(caseworker)
    _, [(_, asset), _] = cases

    response = client.get(f"/assets/{asset.pk}/thumbnail/")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content)[:4] == b"RIFF"


def test_an_address_full_of_markup_renders_as_text(client, archivist, permits):
    client.force_login(archivist)
    _, [(record, _), _] = permits
    Record.objects.filter(pk=record.pk).update(address='<script>alert(1)</script><a hx-get="/x" hx-on:click="evil()">')

    page = client.get(f"/records/{record.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in page and 'hx-get="/x"' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_records_are_paged_by_keyset_without_repeats(client, archivist, permits):
    client.force_login(archivist)
    source, _ = permits
    for n in range(120):
        Record.objects.create(source=source, external_id=f"EXTRA-{n:03d}")

    seen, url = [], reverse("review:source-detail", args=["permits"])
    while url:
        response = client.get(url)
        seen += [r.external_id for r in response.context["records"]]
        after = response.context["next_after"]
        url = f"{reverse('review:source-detail', args=['permits'])}?after={after}" if after else None

    assert len(seen) == len(set(seen)) == 122


def test_the_record_page_shows_each_image_and_its_history(client, archivist, tmp_path):
    from tests.factories import small_archive

    call_command("import_archive", str(small_archive(tmp_path)), "--sync", stdout=io.StringIO())
    client.force_login(archivist)
    record = Record.objects.get(external_id="BAD-truncated.jpg")

    page = client.get(f"/records/{record.pk}/").content.decode()

    assert "Stripped" in page and "image file is truncated" in page
    assert "attached → <strong>stripped</strong>" in page


def test_import_problems_are_shown_to_archivists_only(client, archivist, caseworker, auditor, tmp_path):
    from tests.factories import small_archive

    call_command("import_archive", str(small_archive(tmp_path)), "--sync", stdout=io.StringIO())
    run = ImportRun.objects.get()

    client.force_login(archivist)
    assert "decompression bomb refused" in client.get(f"/imports/{run.pk}/").content.decode()
    for person in (caseworker, auditor):
        client.force_login(person)
        assert client.get(f"/imports/{run.pk}/").status_code == 404


def test_sign_out_is_a_post(client, archivist):
    client.force_login(archivist)

    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_demo_users_are_created_once_and_the_caseworker_is_assigned(cases):
    from dedupe.models import Source

    Source.objects.create(slug="housing-cases", name="Housing cases")
    call_command("create_demo_users", "--password", "demo-pass-123", stdout=io.StringIO())
    call_command("create_demo_users", "--password", "demo-pass-456", stdout=io.StringIO())

    from django.contrib.auth import authenticate, get_user_model

    assert get_user_model().objects.count() == 4
    assert authenticate(username="auditor", password="demo-pass-456") is not None
    assert list(SourceAssignment.objects.values_list("user__username", "source__slug")) == [
        ("caseworker", "housing-cases")
    ]
