"""The auditor's workspace: the log filtered and paged, an event with its evidence, timelines,
figures and exports; readable by auditors and administrators only, and unable to change anything.

Events come from the actions that cause them (merges, unmerges, strips through the services),
except in the 100,000-event export, which bulk-creates rows to measure memory.
"""

import csv
import io
import json
import re
import tracemalloc
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from dedupe.models import Asset, Attachment, AuditEvent, AuditSubject, Candidate
from review.models import Decision, Merge
from review.selectors import audit as audit_reads
from review.services.merges import unmerge
from tests.factories import archive_rows, merged, strip

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(permits, cases, archivist, administrator):
    """PERM-1's image merged onto PERM-0's by the archivist and undone; CASE-1's merged onto
    CASE-0's by the administrator; CASE-0's placeholder later stripped by a cleanup."""
    _, [(perm0, perm_keep), (perm1, perm_dup)] = permits
    _, [(case0, case_keep), (case1, case_dup)] = cases
    first = merged(perm_keep, perm_dup, archivist, note="Same house, taken twice")
    unmerge(merge_id=first.pk, actor=archivist, reason="not the same house after all")
    second = merged(case_keep, case_dup, administrator, note="field tablet re-upload")
    strip(Attachment.objects.get(record=case0))
    return {
        "perm0": perm0, "perm1": perm1, "perm_keep": perm_keep, "perm_dup": perm_dup, "first": first,
        "case0": case0, "case1": case1, "case_keep": case_keep, "case_dup": case_dup, "second": second,
    }  # fmt: skip


def shown(client, url: str = "/audit/", **params) -> list[int]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return [event.pk for event in response.context["events"]]


def concerning(kind: str, *object_ids) -> set[int]:
    """The oracle: events naming any of these objects, read straight from the subjects table."""
    wanted = [str(o) for o in object_ids]
    return set(AuditSubject.objects.filter(kind=kind, object_id__in=wanted).values_list("event_id", flat=True))


def about_cases(history) -> set[int]:
    """The oracle for source=cases: events naming the source, one of its records or images."""
    source = history["case0"].source
    return (
        concerning("source", source.slug, source.pk)
        | concerning("asset", history["case_keep"].pk, history["case_dup"].pk)
        | concerning("record", history["case0"].pk, history["case1"].pk)
    )


def test_caseworkers_and_archivists_cannot_find_it(client, caseworker, archivist, history):
    event = AuditEvent.objects.first()
    for person in (caseworker, archivist):
        client.force_login(person)
        for url in ("/audit/", f"/audit/events/{event.pk}/", "/audit/export.csv", "/audit/export.json",
                    "/audit/figures/", f"/audit/timeline/user/{person.pk}/",
                    f"/audit/timeline/record/{history['perm0'].pk}/"):  # fmt: skip
            assert client.get(url).status_code == 404, (person, url)
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_it_requires_sign_in(client):
    response = client.get("/audit/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_auditors_and_administrators_read_the_whole_log_newest_first(client, auditor, administrator, history):
    for person in (auditor, administrator):
        client.force_login(person)  # itself an event (auth.login)
        everything = list(AuditEvent.objects.order_by("-pk").values_list("pk", flat=True))
        assert shown(client) == everything
        assert 'href="/audit/"' in client.get("/").content.decode()  # the nav link


def test_the_nav_link_is_hidden_from_other_roles(client, archivist):
    client.force_login(archivist)

    assert 'href="/audit/"' not in client.get("/").content.decode()


def test_it_filters_by_actor_name(client, auditor, history):
    client.force_login(auditor)

    ids = shown(client, actor="archivist")

    assert ids and set(ids) == set(AuditEvent.objects.filter(actor_name="archivist").values_list("pk", flat=True))
    assert {"decision.apply", "asset.merge", "asset.unmerge"} <= set(
        AuditEvent.objects.filter(pk__in=ids).values_list("action", flat=True)
    )


def test_it_filters_by_exact_action_or_prefix(client, auditor, history):
    client.force_login(auditor)

    exact = shown(client, action="asset.merge")
    prefix = shown(client, action="asset.")
    star = shown(client, action="decision*")

    assert len(exact) == 2 and set(AuditEvent.objects.filter(pk__in=exact).values_list("action", flat=True)) == {
        "asset.merge"
    }
    assert set(AuditEvent.objects.filter(pk__in=prefix).values_list("action", flat=True)) == {
        "asset.merge", "asset.unmerge"
    }  # fmt: skip
    assert len(star) == 2 and all(
        a.startswith("decision.") for a in AuditEvent.objects.filter(pk__in=star).values_list("action", flat=True)
    )
    assert shown(client, action="asset") == []  # no prefix without the dot: exact only


def test_it_filters_by_source(client, auditor, history):
    client.force_login(auditor)
    cases_objects = about_cases(history)

    ids = shown(client, source="cases")

    assert ids and set(ids) == cases_objects
    assert not set(ids) & concerning("asset", history["perm_dup"].pk)
    assert shown(client, source="no-such-source") == []


def test_it_filters_by_record_external_id_or_number(client, auditor, history):
    client.force_login(auditor)
    perm1 = history["perm1"]
    expected = concerning("record", perm1.pk) | concerning(
        "attachment", *perm1.attachments.values_list("pk", flat=True)
    )

    by_external_id = shown(client, record="PERM-1")
    by_number = shown(client, record=str(perm1.pk))

    assert by_external_id and set(by_external_id) == set(by_number) == expected
    actions = set(AuditEvent.objects.filter(pk__in=by_external_id).values_list("action", flat=True))
    assert actions == {"asset.merge", "asset.unmerge"}


def test_it_filters_by_asset(client, auditor, history):
    client.force_login(auditor)
    asset = history["case_dup"]

    ids = shown(client, asset=asset.pk)

    assert ids and set(ids) == concerning("asset", asset.pk)
    assert not set(ids) & concerning("asset", history["perm_dup"].pk)


def test_it_filters_by_date_range(client, auditor, history):
    client.force_login(auditor)
    today = timezone.localdate()

    assert len(shown(client, **{"from": today.isoformat(), "to": today.isoformat()})) == AuditEvent.objects.count()
    assert shown(client, **{"from": (today + timedelta(days=1)).isoformat()}) == []
    assert shown(client, to=(today - timedelta(days=1)).isoformat()) == []


def test_it_filters_by_text_in_the_reason(client, auditor, history):
    client.force_login(auditor)

    ids = shown(client, q="SAME HOUSE")

    assert ids and all(
        "same house" in r.lower() for r in AuditEvent.objects.filter(pk__in=ids).values_list("reason", flat=True)
    )
    assert len(ids) == AuditEvent.objects.filter(reason__icontains="same house").count() == 3  # apply, merge, unmerge


def test_filters_combine(client, auditor, history):
    client.force_login(auditor)

    ids = shown(client, actor="administrator", source="cases", action="asset.merge")

    assert ids == [AuditEvent.objects.get(action="asset.merge", actor_name="administrator").pk]


def test_an_unreadable_filter_is_shown_not_ignored(client, auditor, history):
    client.force_login(auditor)

    response = client.get("/audit/", {"from": "last tuesday"})

    assert response.status_code == 400
    assert "must be a date" in response.content.decode() and response.context["events"] == []


def test_keyset_pages_return_every_event_exactly_once(client, auditor, history, monkeypatch):
    monkeypatch.setattr(audit_reads, "PAGE_SIZE", 2)
    client.force_login(auditor)
    seen, before, pages = [], None, 0
    with CaptureQueriesContext(connection) as queries:
        while True:
            response = client.get("/audit/", {"before": before} if before else {})
            seen += [event.pk for event in response.context["events"]]
            pages, before = pages + 1, response.context["next_before"]
            if before is None:
                break
            assert f"before={before}" in response.content.decode()

    assert seen == list(AuditEvent.objects.order_by("-pk").values_list("pk", flat=True))
    assert pages == -(-len(seen) // 2) and pages >= 3  # a full last page is not followed by an empty one
    assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)


def test_keyset_pages_keep_their_filters(client, auditor, history, monkeypatch):
    monkeypatch.setattr(audit_reads, "PAGE_SIZE", 2)
    client.force_login(auditor)
    first = client.get("/audit/", {"source": "cases"})
    nxt = first.context["next_before"]

    assert f"source=cases&amp;before={nxt}" in first.content.decode()
    rest = shown(client, source="cases", before=nxt)
    cases_objects = about_cases(history)
    assert [e.pk for e in first.context["events"]] + rest == sorted(cases_objects, reverse=True)


def test_the_event_page_shows_before_after_origin_and_links(client, auditor, history):
    client.force_login(auditor)
    event = AuditEvent.objects.get(action="asset.merge", actor_name="archivist")
    perm1 = history["perm1"]

    page = client.get(f"/audit/events/{event.pk}/").content.decode()

    assert f'href="/records/{perm1.pk}/"' in page and f'href="/assets/{history["perm_dup"].pk}/"' in page
    assert f'href="/audit/timeline/record/{perm1.pk}/"' in page
    assert "archivist" in page and "Role then" in page
    assert "&quot;quarantined&quot;" in page  # the after JSON, pretty and escaped
    assert "Request" in page and "Task" in page


def test_the_event_page_shows_the_evidence_as_the_reviewer_saw_it(client, auditor, history):
    client.force_login(auditor)
    event = AuditEvent.objects.get(action="decision.apply", actor_name="archivist")
    keep, dup = history["perm_keep"], history["perm_dup"]

    page = client.get(f"/audit/events/{event.pk}/").content.decode()

    assert f'src="/assets/{keep.pk}/thumbnail/"' in page and f'src="/assets/{dup.pk}/thumbnail/"' in page
    assert "Same bytes, score 1.000" in page  # the candidate's kind and score
    assert "Recorded with this event at decision time" in page
    assert "Same house, taken twice" in page  # the decision's note


def test_the_event_page_escapes_untrusted_text(client, auditor, permits, archivist):
    _, [(_, keep), (_, dup)] = permits
    merged(keep, dup, archivist, note='<script>alert("x")</script>')
    client.force_login(auditor)
    event = AuditEvent.objects.get(action="asset.merge")

    page = client.get(f"/audit/events/{event.pk}/").content.decode()

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script>alert" not in client.get("/audit/").content.decode()


def test_an_unknown_event_is_404(client, auditor):
    client.force_login(auditor)

    assert client.get("/audit/events/999999/").status_code == 404


def test_the_record_timeline_holds_what_happened_to_it(client, auditor, history):
    client.force_login(auditor)
    case0 = history["case0"]

    ids = shown(client, f"/audit/timeline/record/{case0.pk}/")

    actions = list(AuditEvent.objects.filter(pk__in=ids).order_by("-pk").values_list("action", flat=True))
    assert actions == ["attachment.strip"]
    case1 = history["case1"]
    assert set(AuditEvent.objects.filter(pk__in=shown(client, f"/audit/timeline/record/{case1.pk}/")).values_list(
        "action", flat=True)) == {"asset.merge"}  # fmt: skip


def test_the_asset_timeline_holds_every_event_naming_it(client, auditor, history):
    client.force_login(auditor)
    asset = history["perm_dup"]

    ids = shown(client, f"/audit/timeline/asset/{asset.pk}/")

    assert set(ids) == concerning("asset", asset.pk)
    assert list(AuditEvent.objects.filter(pk__in=ids).order_by("pk").values_list("action", flat=True)) == [
        "decision.apply", "asset.merge", "asset.unmerge"
    ]  # fmt: skip


def test_the_user_timeline_shows_a_week_with_time_spent_per_decision(client, auditor, archivist, history):
    _, [(_, keep), (_, dup)] = archive_rows("field-tablets")
    merged(keep, dup, archivist, note="second look")  # a decision seconds after the archivist's unmerge
    client.force_login(auditor)

    response = client.get(f"/audit/timeline/user/{archivist.pk}/")

    events = response.context["events"]
    assert {e.actor_id for e in events} == {archivist.pk}
    assert len(events) == AuditEvent.objects.filter(actor_id=archivist.pk).count()
    decisions = [e for e in events if e.action == "decision.apply"]
    assert [bool(e.time_spent_text) for e in decisions] == [
        True,
        False,
    ]  # newest first; the first had no previous event
    assert "Time spent" in response.content.decode() and decisions[0].time_spent_text in response.content.decode()
    today = timezone.localdate()
    assert response.context["filters"].since == today - timedelta(days=6)
    assert (
        shown(client, f"/audit/timeline/user/{archivist.pk}/", **{"from": (today + timedelta(days=1)).isoformat()})
        == []
    )


def test_export_csv_streams_the_filtered_view_and_is_itself_audited(client, auditor, history):
    client.force_login(auditor)
    expected = sorted(shown(client, source="cases"))

    response = client.get("/audit/export.csv", {"source": "cases"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(row["id"]) for row in rows] == expected
    merge_row = next(row for row in rows if row["action"] == "asset.merge")
    assert f"asset:{history['case_dup'].pk}" in merge_row["subjects"].split(";")
    assert json.loads(merge_row["after"])["state"] == "quarantined"
    export = AuditEvent.objects.get(action="audit.export")
    assert (export.actor_name, export.actor_role, export.reason) == ("auditor", "auditor", "source=cases")
    assert export.after == {"format": "csv", "filters": {"source": "cases"}}
    assert export.pk > max(expected)


def test_export_json_holds_the_same_events(client, auditor, history):
    client.force_login(auditor)

    response = client.get("/audit/export.json", {"action": "asset."})

    data = json.loads(b"".join(response.streaming_content))
    assert [row["id"] for row in data] == sorted(shown(client, action="asset."))
    assert all(set(row) >= {"at", "actor_name", "actor_role", "before", "after", "reason", "subjects"} for row in data)
    assert AuditEvent.objects.filter(action="audit.export").count() == 1


def test_an_export_with_an_unreadable_filter_writes_nothing(client, auditor, history):
    client.force_login(auditor)

    response = client.get("/audit/export.csv", {"asset": "twelve"})

    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.export").exists()


EVENTS_FOR_MEMORY = 100_000
MEMORY_LIMIT = 50 * 1024 * 1024


def test_an_export_of_100000_events_runs_in_bounded_memory(client, auditor):
    """Rows bulk-created here (the one place events are not written by their action): measure
    the peak Python memory while the response streams; a buffered export would hold ~100 MB."""
    now, chained = timezone.now(), {f.name for f in AuditEvent._meta.fields} >= {"seq", "prev_hash", "hash"}
    start = (AuditEvent.objects.order_by("-pk").values_list("seq", flat=True).first() or 0) if chained else 0

    def event(n: int) -> AuditEvent:
        chain = {"seq": start + n + 1, "prev_hash": "0" * 64, "hash": f"{n:064x}"} if chained else {}
        return AuditEvent(at=now, actor_id=7, actor_name="bulk", actor_role="archivist", action="decision.apply",
                          before={"candidate": "open"}, after={"verdict": "same", "n": n},
                          reason=f"note {n} " + "x" * 60, request_id=f"{n:032x}", **chain)  # fmt: skip

    made = AuditEvent.objects.bulk_create((event(n) for n in range(EVENTS_FOR_MEMORY)), batch_size=5000)
    ids = (
        [e.pk for e in made]
        if made[0].pk
        else list(AuditEvent.objects.filter(actor_name="bulk").values_list("pk", flat=True))
    )
    AuditSubject.objects.bulk_create((AuditSubject(event_id=pk, kind="asset", object_id=str(pk % 977)) for pk in ids),
                                     batch_size=5000)  # fmt: skip
    client.force_login(auditor)

    response = client.get("/audit/export.csv", {"actor": "bulk"})
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        lines = size = 0
        for part in response.streaming_content:
            lines, size = lines + part.count(b"\n"), size + len(part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    grown = peak - base
    print(
        f"\nexport of {EVENTS_FOR_MEMORY} events: {size / 1e6:.1f} MB streamed, "
        f"peak Python memory growth {grown / 1e6:.1f} MB"
    )
    assert lines == EVENTS_FOR_MEMORY + 1
    assert grown < MEMORY_LIMIT
    assert grown < size / 2  # well below what holding the whole file would take


def test_figures_count_decisions_per_day_and_reversals_per_person(client, auditor, history):
    client.force_login(auditor)

    response = client.get("/audit/figures/")

    assert response.status_code == 200
    [today] = response.context["days"]
    assert today["day"] == timezone.localdate() and today["total"] == 2
    assert response.context["actions"] == ["decision.apply"]
    assert [(p["actor_name"], p["unmerges"]) for p in response.context["reversals"]] == [("archivist", 1)]
    assert "<svg" in response.content.decode()


def _routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    """Every route of the project as a path template, the admin left out (Django's own)."""
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith("admin/"):
            continue
        if isinstance(entry, URLResolver):
            found += _routes(entry, route)
        elif isinstance(entry, URLPattern):
            found.append(route)
    return found


# Signing in and out changes only the session, not the archive: they answer POSTs by design.
SESSION_ROUTES = {"login/", "logout/"}


def test_an_auditor_cannot_change_anything_through_any_view(client, auditor, history):
    """POST to every route, with each int parameter set to 1 and to the ids of real objects."""
    ids = {1, history["perm0"].pk, history["perm_dup"].pk, history["first"].pk, history["second"].pk,
           history["first"].decision_id, history["first"].decision.candidate_id,
           *Attachment.objects.values_list("pk", flat=True), AuditEvent.objects.last().pk}  # fmt: skip
    routes = [r for r in _routes(get_resolver()) if r not in SESSION_ROUTES]
    assert {"audit/", "audit/export.csv", "audit/events/<int:pk>/", "records/<int:pk>/"} <= set(routes)
    last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    counts = lambda: {m.__name__: m.objects.count() for m in (Attachment, Asset, Decision, Merge)}  # noqa: E731
    states = lambda: (list(Attachment.objects.order_by("pk").values_list("asset_id", "state")),  # noqa: E731
                      list(Asset.objects.order_by("pk").values_list("state", flat=True)))  # fmt: skip
    before_counts, before_states = counts(), states()
    client.force_login(auditor)
    tried = 0
    for route in routes:
        for n in sorted(ids):
            url = "/" + re.sub(r"<slug:\w+>", "permits", re.sub(r"<(?:int:)?\w+>", str(n), route))
            body = {"verdict": "same", "canonical": n, "asset": n, "seen": 0, "reason": "x", "note": "x", "plan": ""}
            response = client.post(url, body)
            assert response.status_code in (403, 404, 405), (url, response.status_code)
            tried += 1
            if "<" not in route:
                break
    assert tried > len(routes)
    assert counts() == before_counts and states() == before_states
    changes = Q(action__startswith="decision.") | Q(action__startswith="asset.") | Q(action__startswith="attachment.")
    assert not AuditEvent.objects.filter(changes, pk__gt=last_event).exists()
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_who_merged_a_pair_and_why_is_one_filter_away(client, auditor, history):
    """Issue 13: "who merged pair 71, and why": a pair filter, a group filter, a person chosen from a list."""
    pair = history["first"].decision.candidate
    other = history["second"].decision.candidate
    client.force_login(auditor)

    events = shown(client, pair=pair.pk)

    assert set(events) == concerning("candidate", pair.pk) and events, "the pair's decision and merges"
    assert not set(events) & concerning("candidate", other.pk)
    from dedupe.candidates import groups_rebuild

    Candidate.objects.filter(pk__in=[pair.pk, other.pk]).update(status="open")
    groups_rebuild()
    group = Candidate.objects.get(pk=pair.pk).group_id
    assert set(shown(client, group=group)) == concerning("candidate", pair.pk)
    page = client.get("/audit/").content.decode()
    assert '<select id="f-actor" name="actor">' in page and "<option>archivist</option>" in page
    assert shown(client, actor="archivist") and all(
        AuditEvent.objects.get(pk=pk).actor_name == "archivist" for pk in shown(client, actor="archivist")
    )
    assert client.get("/audit/", {"pair": "seventy-one"}).status_code == 400, "a filter that cannot apply says so"


def test_the_pair_and_image_pages_link_an_auditor_to_their_events(client, auditor, history):
    pair = history["first"].decision.candidate
    client.force_login(auditor)

    assert f'/audit/?pair={pair.pk}"' in client.get(f"/candidates/{pair.pk}/").content.decode()
    asset = history["perm_keep"]
    assert f"/audit/timeline/asset/{asset.pk}/" in client.get(f"/assets/{asset.pk}/").content.decode()


def test_an_events_header_gives_the_decisions_reason_code_when_it_has_no_note(client, auditor, archivist, permits):
    from review.services.decisions import decide_candidate

    _, [(_, a), (_, b)] = permits
    pair = Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.8)
    decide_candidate(candidate_id=pair.pk, verdict="different", reason="neighbouring_property", actor=archivist, seen=0)
    event = AuditEvent.objects.filter(action="decision.apply").latest("pk")
    client.force_login(auditor)

    page = client.get(f"/audit/events/{event.pk}/").content.decode()

    assert "Neighbouring property (decision" in page and "none given" not in page
