"""The desk's POSTs go through forms: bad input is refused with a message and changes nothing."""

import pytest

from dedupe.models import Attachment, AuditEvent, Candidate
from review.models import Decision, ReviewAssignment
from tests.factories import archive_rows, store_bytes, strip, user_with_role
from tests.review.test_desk import pairs, three_copies

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"verdict": "same"}, "This form is incomplete"),
        ({"verdict": "same", "seen": "x"}, "This form is incomplete"),
        ({"verdict": "same", "seen": 0, "canonical": "one"}, "Not decided: canonical:"),
        ({"verdict": "different", "seen": 0, "reason": "other", "note": "n" * 2001}, "Not decided: note:"),
    ],
)
def test_a_decision_with_bad_input_is_refused_and_changes_nothing(client, archivist, body, message):
    c = pairs("badform", 1)[0]
    client.force_login(archivist)
    events = AuditEvent.objects.count()

    response = client.post(f"/candidates/{c.pk}/decide/", body, **HTMX)

    assert response.status_code == 409 and message in response.content.decode()
    assert not Decision.objects.exists() and AuditEvent.objects.count() == events


def test_a_note_at_the_pages_limit_is_kept_whole(client, archivist):
    c = pairs("longnote", 1)[0]
    client.force_login(archivist)

    client.post(
        f"/candidates/{c.pk}/decide/", {"verdict": "different", "seen": 0, "reason": "other", "note": "n" * 2000}
    )

    assert Decision.objects.get(candidate=c).note == "n" * 2000


@pytest.mark.parametrize(
    "body", [{"seen": "1,x", "canonical": 1}, {"seen": "1,2"}, {"seen": "1,2", "canonical": 1, "exclude": "z"}]
)
def test_a_group_decision_with_bad_input_is_refused(client, archivist, body):
    a, _, _ = three_copies("badgroup")
    group = Candidate.objects.filter(asset_a=a).first().group
    client.force_login(archivist)

    response = client.post(f"/groups/{group.pk}/decide/", body, follow=True)

    assert "This form is incomplete; the group is shown again" in response.content.decode()
    assert not Decision.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Choose the image to restore."),
        ({"asset": "x"}, "Choose the image to restore."),
        ({"asset": 1, "note": "n" * 501}, "note:"),
    ],
)
def test_a_restore_with_bad_input_is_refused(client, archivist, body, message):
    _, [(record, asset), _] = archive_rows("badrestore")
    store_bytes(asset)
    attachment = strip(Attachment.objects.get(record=record))
    client.force_login(archivist)

    response = client.post(f"/attachments/{attachment.pk}/restore/", body, follow=True)

    assert message in response.content.decode()
    assert Attachment.objects.get(pk=attachment.pk).state == "stripped"


def test_an_assignment_with_bad_ids_assigns_nothing(client, archivist):
    c = pairs("badassign", 1)[0]
    user_with_role("cleo", "caseworker")
    client.force_login(archivist)

    response = client.post("/queue/assign/", {"candidate": [str(c.pk), "x"], "reviewer": "cleo"}, follow=True)

    assert "Nothing assigned: candidate:" in response.content.decode()
    assert not ReviewAssignment.objects.exists()


def test_the_next_pairs_link_keeps_a_reviewer_name_with_a_plus(client, archivist, monkeypatch):
    monkeypatch.setattr("review.views.desk.PAGE_SIZE", 1)
    reviewer = user_with_role("ana+bo", "archivist")
    made = pairs("plus", 3)
    for c in made:
        ReviewAssignment.objects.create(candidate=c, reviewer=reviewer, assigned_by=archivist)
    client.force_login(archivist)

    page = client.get("/queue/", {"assigned": "ana+bo"}).content.decode()
    link = page.split('href="?')[1].split('"')[0].replace("&amp;", "&")
    second = client.get("/queue/?" + link).content.decode()

    assert "assigned=ana%2Bbo" in link
    assert sum(f"Pair {c.pk}<" in second for c in made) == 1
