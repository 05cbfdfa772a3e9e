"""Scans in this process: what they find, that they find it once, and that decisions stick."""

import io

import pytest
from django.core.management import call_command

from dedupe.models import Asset, Candidate, CandidateGroup, ContentVocabulary, Fingerprint, ScanChunk, ScanRun
from dedupe.scanning import chunk_claim, chunk_run, scan_run_here, scan_start
from tests.factories import duplicates_archive, jpeg_bytes, photo, write_manifest

pytestmark = pytest.mark.django_db


def import_and_scan(manifest) -> ScanRun:
    call_command("import_archive", str(manifest), "--sync", "--json", stdout=io.StringIO())
    scan, started = scan_start(started_by="test")
    assert started
    scan_run_here(scan)
    scan.refresh_from_db()
    return scan


def found_by_kind() -> dict[str, set[frozenset[str]]]:
    found: dict[str, set[frozenset[str]]] = {}
    for c in Candidate.objects.select_related("asset_a", "asset_b"):
        found.setdefault(c.kind, set()).add(frozenset({c.asset_a.origin_path, c.asset_b.origin_path}))
    return found


@pytest.mark.parametrize("partial", [False, True], ids=["whole copies", "with partial copies"])
def test_it_finds_each_kind_of_copy_and_nothing_else(tmp_path, partial):
    manifest, expected = duplicates_archive(tmp_path, partial=partial)

    scan = import_and_scan(manifest)

    assert scan.status == ScanRun.Status.FINISHED
    assert found_by_kind() == expected


def test_each_candidate_carries_its_evidence(tmp_path):
    manifest, _ = duplicates_archive(tmp_path)
    import_and_scan(manifest)

    exact = Candidate.objects.get(kind=Candidate.Kind.EXACT)
    assert exact.score == 1.0 and exact.evidence["sha256"] is True
    crop = Candidate.objects.get(asset_b__origin_path__endswith="p4-crop.jpg")
    assert crop.evidence["alignment"] in {"a cropped", "b cropped"}
    assert 0 < crop.score < 1
    assert crop.address_conflict and crop.cross_source
    assert not exact.address_conflict
    pixel = Candidate.objects.get(kind=Candidate.Kind.PIXEL)
    assert pixel.evidence["pixels"] is True and pixel.score == 0.99
    # The desk's queue order is stored with each pair: byte copies, then address conflicts, then the rest.
    assert (exact.priority, crop.priority, pixel.priority) == (0, 1, 1 if pixel.address_conflict else 2)


def test_a_source_with_tighter_radii_gets_only_the_pairs_within_them(tmp_path):
    from dedupe.models import Source

    manifest, expected = duplicates_archive(tmp_path)
    call_command("import_archive", str(manifest), "--sync", "--json", stdout=io.StringIO())
    Source.objects.filter(slug="cases").update(near_radius=0, verify_radius=0)

    scan = import_and_scan(manifest)

    near = Candidate.objects.filter(kind=Candidate.Kind.NEAR, found_by=scan)
    assert near.count() < len(expected["near"]), "the resized copy in cases is beyond a zero radius"
    for c in near.select_related("asset_a__source", "asset_b__source"):
        if "cases" in (c.asset_a.source.slug, c.asset_b.source.slug):
            assert min(c.evidence["phash"], c.evidence["phash_zoom"]) == 0 == c.evidence["phash256"]
    assert found_by_kind()["exact"] == expected["exact"]


def test_three_copies_are_one_group(tmp_path):
    manifest, _ = duplicates_archive(tmp_path)
    import_and_scan(manifest)

    rotated = Candidate.objects.filter(asset_a__origin_path__startswith="images/p2") | Candidate.objects.filter(
        asset_b__origin_path__startswith="images/p2"
    )
    assert rotated.count() == 3
    assert rotated.values("group").distinct().count() == 1
    group = rotated.first().group
    assert group.size == 3
    assert CandidateGroup.objects.filter(size__gt=0).count() == 5


def test_scanning_again_adds_nothing(tmp_path):
    manifest, _ = duplicates_archive(tmp_path)
    import_and_scan(manifest)
    before = sorted(Candidate.objects.values_list("asset_a", "asset_b", "kind"))

    scan, _ = scan_start(started_by="test")
    scan_run_here(scan)

    assert sorted(Candidate.objects.values_list("asset_a", "asset_b", "kind")) == before
    assert ScanRun.objects.get(pk=scan.pk).new_assets == 0


def test_partial_chunks_run_again_or_out_of_order_add_nothing(tmp_path, settings):
    settings.DEDUPE_PARTIAL_CHUNK = 1  # one new asset a chunk
    manifest, expected = duplicates_archive(tmp_path, partial=True)
    scan = import_and_scan(manifest)
    chunks = list(ScanChunk.objects.filter(scan=scan, phase=ScanRun.Phase.PARTIAL).order_by("-number"))
    before = sorted(Candidate.objects.values_list("asset_a", "asset_b", "kind", "evidence"))
    assert len(chunks) > 3 and found_by_kind()["partial"] == expected["partial"]

    # a worker that died after its chunk, another that took the chunks in the opposite order
    Fingerprint.objects.update(searched=False)
    ScanRun.objects.filter(pk=scan.pk).update(status=ScanRun.Status.RUNNING, phase=ScanRun.Phase.PARTIAL)
    ScanChunk.objects.filter(pk__in=[c.pk for c in chunks]).update(status=ScanChunk.Status.PENDING, lease_until=None)
    for chunk in chunks:
        assert chunk_run(chunk.pk)

    assert sorted(Candidate.objects.values_list("asset_a", "asset_b", "kind", "evidence")) == before


def test_a_pair_decided_different_is_never_proposed_again(tmp_path):
    manifest, _ = duplicates_archive(tmp_path)
    import_and_scan(manifest)
    crop = Candidate.objects.get(asset_b__origin_path__endswith="p4-crop.jpg")
    Candidate.objects.filter(pk=crop.pk).update(status=Candidate.Status.DIFFERENT)
    from dedupe.models import Fingerprint

    Fingerprint.objects.update(searched=False)  # as if every asset were new again

    scan, _ = scan_start(started_by="test")
    scan_run_here(scan)

    pair = Candidate.objects.filter(asset_a=crop.asset_a, asset_b=crop.asset_b)
    assert list(pair.values_list("status", flat=True)) == [Candidate.Status.DIFFERENT]
    assert crop.group.pk not in set(Candidate.objects.filter(status="open").values_list("group", flat=True))


def test_a_later_scan_searches_only_the_new_assets_against_everything(tmp_path):
    manifest, _ = duplicates_archive(tmp_path)
    import_and_scan(manifest)
    (tmp_path / "images/p5-copy.jpg").write_bytes(jpeg_bytes(photo(105), 60))
    second = write_manifest(tmp_path, [["images/p5-copy.jpg", "cases", "NEW", 1, "1 Main St", ""]])

    scan = import_and_scan(second)

    assert scan.new_assets == 1
    new = Candidate.objects.get(found_by=scan)
    assert {new.asset_a.origin_path, new.asset_b.origin_path} == {"images/p5.jpg", "images/p5-copy.jpg"}


def test_an_unreadable_asset_is_marked_and_the_scan_goes_on(tmp_path, settings):
    settings.DEDUPE_NEW_SOURCES_KEEP = "copy"  # stored bytes gone bad (in place, that is drift: test_in_place)
    manifest, expected = duplicates_archive(tmp_path)
    call_command("import_archive", str(manifest), "--sync", "--json", stdout=io.StringIO())
    broken = Asset.objects.get(origin_path="images/p5.jpg")
    Asset.objects.filter(pk=broken.pk).update(inspection=Asset.Inspection.PENDING)
    from django.core.files.storage import default_storage

    with default_storage.open(broken.storage_name, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")

    scan, _ = scan_start(started_by="test")
    scan_run_here(scan)

    broken.refresh_from_db()
    assert broken.inspection == Asset.Inspection.UNREADABLE and broken.unreadable_reason
    assert ScanRun.objects.get(pk=scan.pk).status == ScanRun.Status.FINISHED


def test_a_second_scan_joins_the_running_one():
    first, started = scan_start(started_by="a")
    second, started_again = scan_start(started_by="b")

    assert started and not started_again
    assert first.pk == second.pk


def test_a_claimed_chunk_cannot_be_claimed_again_until_its_lease_runs_out(settings):
    scan, _ = scan_start(started_by="test")
    chunk = ScanChunk.objects.create(scan=scan, phase="search", number=99, payload=[0, 0])

    assert chunk_claim(chunk.pk) is not None
    assert chunk_claim(chunk.pk) is None
    ScanChunk.objects.filter(pk=chunk.pk).update(lease_until="2000-01-01T00:00:00Z")
    assert chunk_claim(chunk.pk) is not None


def test_a_chunk_that_kills_its_worker_every_time_is_given_up_not_retried_forever():
    scan, _ = scan_start(started_by="test")
    chunk = ScanChunk.objects.create(scan=scan, phase="inspect", number=99, payload=[], attempts=3)

    assert chunk_run(chunk.pk)

    chunk.refresh_from_db()
    assert chunk.status == ScanChunk.Status.DONE and "given up" in chunk.error
    assert ScanRun.objects.get(pk=scan.pk).errors[0]["chunk"] == 99


def test_partial_copies_on_another_property_or_none_are_found_by_content_and_framings_stay_apart(tmp_path):
    """The crop sits on another property's record, the screenshot on a record with no address: no
    address block holds them with their original, only their content codes bring them to it."""
    manifest, _ = duplicates_archive(tmp_path, partial=True)
    import_and_scan(manifest)

    assert ContentVocabulary.objects.count() == 1
    assert not Fingerprint.objects.filter(content_code=b"").exists()
    partial = {
        frozenset({c.asset_a.origin_path, c.asset_b.origin_path}): c
        for c in Candidate.objects.filter(kind=Candidate.Kind.PARTIAL).select_related("asset_a", "asset_b")
    }
    door = partial[frozenset({"images/p5.jpg", "images/p5-door.jpg"})]
    viewer = partial[frozenset({"images/p5.jpg", "images/p5-viewer.png"})]
    assert door.evidence["relation"] == "crop" and door.address_conflict  # likely a wrong attachment
    assert viewer.evidence["inner"] == viewer.asset_a_id and not viewer.address_conflict  # no address to disagree
    assert not any("p6-" in path for pair in partial for path in pair)  # two framings: two photographs
