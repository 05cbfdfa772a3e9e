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
    assert response["Cache-Control"] == "private, no-store"
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
    call_command("create_demo_users", "--i-mean-demo", "--password", "demo-pass-123", stdout=io.StringIO())
    call_command("create_demo_users", "--i-mean-demo", "--password", "demo-pass-456", stdout=io.StringIO())

    from django.contrib.auth import authenticate, get_user_model
    from django.test import RequestFactory

    assert get_user_model().objects.count() == 4
    # django-axes checks every sign-in against its lockouts, so authenticate() needs the request
    assert authenticate(RequestFactory().post("/login/"), username="auditor", password="demo-pass-456") is not None
    assert list(SourceAssignment.objects.values_list("user__username", "source__slug")) == [
        ("caseworker", "housing-cases")
    ]


def test_an_administrator_starts_a_scan_from_home(client, administrator, permits, django_capture_on_commit_callbacks):
    from dedupe.models import AuditEvent, ScanRun

    client.force_login(administrator)
    assert "Scan for duplicates" in client.get("/").content.decode()

    with django_capture_on_commit_callbacks() as queued:
        response = client.post("/scans/", HTTP_HX_REQUEST="true")

    scan = ScanRun.objects.get()
    assert scan.status == "running" and scan.started_by == "administrator"
    assert queued, "the scan's first chunks are sent to the workers after the commit"
    fragment = response.content.decode()
    assert 'id="scan-progress"' in fragment and 'hx-trigger="every 1s"' in fragment
    assert f'<progress id="scan-bar" value="0" max="{scan.total}">' in fragment and scan.total > 0
    assert "<html" not in fragment, "an htmx request gets the panel, not the page"
    event = AuditEvent.objects.get(action="scan.start")
    assert (event.actor_id, event.actor_role) == (administrator.pk, "administrator")


def test_pressing_scan_while_one_runs_joins_it(client, administrator, permits):
    from dedupe.models import ScanRun

    client.force_login(administrator)
    client.post("/scans/")
    response = client.post("/scans/")

    assert response.status_code == 302 and response["Location"] == "/"
    assert ScanRun.objects.count() == 1


@pytest.mark.parametrize("persona", ["archivist", "caseworker", "auditor"])
def test_only_administrators_may_start_a_scan(client, persona, request, permits):
    from dedupe.models import ScanRun

    client.force_login(request.getfixturevalue(persona))

    assert "Scan for duplicates" not in client.get("/").content.decode()
    assert client.post("/scans/").status_code == (403 if persona == "auditor" else 404)  # auditors: every POST
    assert not ScanRun.objects.exists()


def test_the_scan_button_refuses_get(client, administrator):
    client.force_login(administrator)

    assert client.get("/scans/").status_code == 405


def test_the_progress_panel_polls_while_running_and_stops_when_done(client, archivist, permits):
    from dedupe.models import ScanRun
    from dedupe.scanning import scan_run_here, scan_start

    client.force_login(archivist)
    scan, _ = scan_start(started_by="test")

    running = client.get("/scans/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in running and f"0 of {ScanRun.objects.get().total} steps" in running

    scan_run_here(scan)
    finished = client.get("/scans/progress/").content.decode()
    assert "hx-trigger" not in finished and "Finished" in finished and "<progress" not in finished
