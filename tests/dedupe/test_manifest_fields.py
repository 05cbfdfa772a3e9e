"""Every manifest field is checked at import: a bad row fails alone, and nothing it holds breaks a page.

Each case is one that once broke something: a source named "Building Permits" made the home page
and record pages answer 500; a NUL byte aborted the whole batch on PostgreSQL.
"""

import pytest

from dedupe.manifest import Row, RowRefused, printable, validated
from dedupe.models import Asset, ImportProblem, Record, Source
from tests.dedupe.test_import import run_import
from tests.factories import jpeg_bytes, photo, user_with_role, write_manifest

pytestmark = pytest.mark.django_db(transaction=True)


def archive(tmp_path, bad_row: list) -> dict:
    """One good row before and after `bad_row` (which names good.jpg unless it says otherwise)."""
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes(photo(1)))
    (tmp_path / "other.jpg").write_bytes(jpeg_bytes(photo(2)))
    rows = [["good.jpg", "permits", "P-1", 1, "1 Main St", ""], bad_row, ["other.jpg", "permits", "P-2", 1, "", ""]]
    return run_import(write_manifest(tmp_path, rows))


def test_a_source_name_that_is_not_a_slug_becomes_one_and_every_page_still_opens(tmp_path, client):
    summary = archive(tmp_path, ["good.jpg", "Building Permits", "B-7", 1, "2 Elm St", ""])

    source = Source.objects.get(slug="building-permits")
    assert source.name == "Building Permits"
    assert summary["failed"] == [] and summary["imported"] == 3
    record = Record.objects.get(source=source)
    for role in ("administrator", "archivist", "auditor"):
        client.force_login(user_with_role(f"someone-{role}", role))
        for url in ("/", f"/records/{record.pk}/", f"/sources/{source.slug}/", "/records/?q=B-7"):
            assert client.get(url).status_code == 200, (role, url)


@pytest.mark.parametrize(
    ("bad_row", "field", "why"),
    [
        (["good.jpg", "permits", "P-\x009", 1, "", ""], "record_id", "control character ('\\x00')"),
        (["good.jpg", "permits", "P-9", 1, "1 Main St\x1b[31m", ""], "address", "control character"),
        (["good.jpg", "permits", "P-9", 1, "Invoice \u202egpj.exe", ""], "address", "reorders text"),
        (["good.jpg", "permits", "P-9", "slot\u2066", "", ""], "slot", "reorders text"),
        (["good.jpg", "permits", "P" * 201, 1, "", ""], "record_id", "over the limit of 200"),
        (["good.jpg", "permits", "P-9", 1, "x" * 501, ""], "address", "over the limit of 500"),
        (["good.jpg", "!!!", "P-9", 1, "", ""], "source", "no letters or digits"),
        (["good.jpg", "s" * 65, "P-9", 1, "", ""], "source", "over the limit of 64"),
        (["good\x00.jpg", "permits", "P-9", 1, "", ""], "path", "control character"),
    ],
)
def test_a_bad_field_fails_its_row_only_with_the_reason(tmp_path, bad_row, field, why):
    summary = archive(tmp_path, bad_row)

    assert summary["imported"] == 2
    [failure] = summary["failed"]
    assert failure["row"] == 2 and failure["reason"].startswith(field) and why in failure["reason"]
    assert not Record.objects.filter(external_id__startswith="P-9").exists()
    problem = ImportProblem.objects.get()
    assert "\x00" not in problem.path and "\u202e" not in problem.reason and "\x1b" not in problem.reason


def test_a_byte_that_is_not_utf8_fails_its_row_only(tmp_path):
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes(photo(1)))
    manifest = write_manifest(tmp_path, [["good.jpg", "permits", "P-1", 1, "", ""]])
    with open(manifest, "ab") as f:
        f.write(b"good.jpg,permits,P-\xff\xfe,1,,\n")

    summary = run_import(manifest)

    assert summary["imported"] == 1
    assert "not valid UTF-8" in summary["failed"][0]["reason"]
    assert Asset.objects.count() == 1


def test_printable_spells_out_what_would_hide_or_reorder_text():
    assert printable("a\x00b\u202ec\td") == "a\\x00b\\u202ec\\td"
    assert printable("Ærø Street 5") == "Ærø Street 5"  # letters outside ASCII are not suspect
    with pytest.raises(RowRefused, match="address holds a control character"):
        validated(Row(number=1, path="a", source="s", record_id="r", slot="1", address="\x7f"))
