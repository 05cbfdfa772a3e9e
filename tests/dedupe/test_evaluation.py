"""`evaluate --wrong-attachments`: the address flag's precision and recall over the true pairs found."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from PIL import Image

from dedupe.evaluation import address_flag_score
from dedupe.scanning import scan_run_here, scan_start
from tests.factories import jpeg_bytes, photo, write_manifest

# One property per photograph, spelled as each record system spells it (as make_corpus.py does).
SITES = [
    ["755 S Figueroa St", "755 SOUTH FIGUEROA STREET, LOS ANGELES, CA 90017", "755 s figueroa st."],
    ["15595 Cesar E Chavez Ave, Los Angeles, CA", "15595 CESAR E CHAVEZ AVE", "15595 Cesar E Chavez Avenue"],
    ["12 Riverside Dr", "12 Riverside Drive, Los Angeles, CA 90026", "12 RIVERSIDE DR"],
]
ELSEWHERE = "1200 Temple St, Los Angeles, CA"  # the record a wrong attachment was filed under


def corpus(root):
    """Three photographs, each with a re-encoded and a resized copy; the resized copy of the first is
    attached to another property's record. Writes manifest, truth and wrong_attachments as make_corpus.py."""
    (root / "images").mkdir()
    rows, truth, wrong = [], [], []
    for i, spellings in enumerate(SITES):
        im = photo(300 + i)
        copies = {
            "original": jpeg_bytes(im),
            "re-encode": jpeg_bytes(im, 70),
            "resize": jpeg_bytes(im.resize((480, 360), Image.Resampling.BILINEAR), 85),
        }
        for n, (transform, blob) in enumerate(copies.items()):
            path = f"images/g{i}-{transform}.jpg"
            (root / path).write_bytes(blob)
            misplaced = i == 0 and transform == "resize"
            address = ELSEWHERE if misplaced else spellings[n]
            rows.append([path, ["permits", "cases", "parcels"][n], f"R-{i}-{n}", 1, address, ""])
            truth.append([path, f"g{i}", transform])
            if misplaced:
                wrong.append([path])
    for name, header, body in (("truth.csv", ["path", "group", "transform"], truth), ("wrong.csv", ["path"], wrong)):
        with open(root / name, "w", newline="") as f:
            csv.writer(f).writerows([header, *body])
    return write_manifest(root, rows)


def scanned(tmp_path) -> None:
    """The small corpus imported and scanned, here and now."""
    call_command("import_archive", str(corpus(tmp_path)), "--sync", "--json", stdout=io.StringIO())
    scan, _ = scan_start(started_by="test")
    scan_run_here(scan)


@pytest.mark.django_db
def test_it_scores_the_address_flag_on_a_scanned_corpus(tmp_path):
    scanned(tmp_path)
    out = io.StringIO()

    call_command(
        "evaluate", str(tmp_path / "truth.csv"), "--wrong-attachments", str(tmp_path / "wrong.csv"), "--json",
        stdout=out,
    )  # fmt: skip

    result = json.loads(out.getvalue())
    assert result["recall"] == 1.0, "every true pair is found, so each can be scored"
    # 9 true pairs; the misplaced copy is in 2 of them, and only those are flagged: spelling is not a conflict.
    assert result["address_flag"] == {"precision": 1.0, "recall": 1.0, "pairs": 9, "flagged": 2, "should_flag": 2}

    text = io.StringIO()
    call_command(
        "evaluate", str(tmp_path / "truth.csv"), "--wrong-attachments", str(tmp_path / "wrong.csv"), stdout=text
    )
    assert "address flag over the 9 true pairs found: precision 1.0000  recall 1.0000" in text.getvalue()


def test_precision_and_recall_count_only_true_pairs_found():
    truth = {(1, 2): "resize", (1, 3): "crop", (2, 3): "between-variants", (4, 5): "resize", (6, 7): "resize"}
    found = [(1, 2), (1, 3), (2, 3), (4, 5), (8, 9)]  # (6, 7) missed; (8, 9) is not a true pair
    wrong = {3, 5, 9}
    flagged = {(1, 3), (1, 2), (8, 9)}  # right, a false alarm, and a pair outside the truth

    score = address_flag_score(found, truth, wrong, flagged)

    # Should be flagged: (1, 3), (2, 3), (4, 5); flagged among the true pairs found: (1, 3), (1, 2).
    assert score == {"precision": 0.5, "recall": 0.3333, "pairs": 4, "flagged": 2, "should_flag": 3}


def test_nothing_to_flag_and_nothing_flagged_is_perfect():
    assert address_flag_score([(1, 2)], {(1, 2): "resize"}, set(), set())["precision"] == 1.0
    assert address_flag_score([(1, 2)], {(1, 2): "resize"}, set(), set())["recall"] == 1.0


@pytest.mark.django_db
def test_it_lists_the_false_and_the_missed_pairs_with_what_the_answer_key_says_of_each_file(tmp_path):
    from dedupe.models import Asset, Candidate

    scanned(tmp_path)
    by_path = dict(Asset.objects.values_list("origin_path", "pk"))
    first, second = sorted((by_path["images/g0-original.jpg"], by_path["images/g1-resize.jpg"]))
    Candidate.objects.create(
        asset_a_id=first, asset_b_id=second, kind="partial", score=0.6, evidence={"relation": "whole"}
    )
    missed = sorted((by_path["images/g2-original.jpg"], by_path["images/g2-resize.jpg"]))
    Candidate.objects.filter(asset_a_id=missed[0], asset_b_id=missed[1]).delete()
    out = io.StringIO()

    call_command("evaluate", str(tmp_path / "truth.csv"), "--json", "--false-pairs", "--missed-pairs", stdout=out)

    result = json.loads(out.getvalue())
    [false] = result["false_pairs"]
    assert {false["path_a"], false["path_b"]} == {"images/g0-original.jpg", "images/g1-resize.jpg"}
    assert {false["group_a"], false["group_b"]} == {"g0", "g1"} and false["transform_a"] in {"original", "resize"}
    assert false["kind"] == "partial" and false["evidence"] == {"relation": "whole"}
    [lost] = result["missed_pairs"]
    assert (lost["a"], lost["b"]) == tuple(missed) and "kind" not in lost
    text = io.StringIO()
    call_command("evaluate", str(tmp_path / "truth.csv"), "--false-pairs", stdout=text)
    assert "false pair: images/g0-original.jpg (g0, original) | images/g1-resize.jpg (g1, resize)" in text.getvalue()
