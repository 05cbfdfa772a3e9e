"""Hostile files: only photo formats are opened, and only inside a capped child process.

Each test here is an attack that worked once: an EPS file ran Ghostscript in the worker and drew
the worker's files into its thumbnail; a small PNG took 1 GiB to decode; an uploaded ".html" was
stored as ".html".
"""

import io
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from dedupe import imaging, sandbox
from dedupe.models import Asset, Attachment
from dedupe.originals import original_open
from tests.dedupe.test_import import run_import
from tests.factories import jpeg_bytes, photo, write_manifest

pytestmark = pytest.mark.django_db(transaction=True)
imaging.load_decoders()  # HEIF, for writing the fixtures

# If Ghostscript ever runs this, it writes a file beside itself; the fake `gs` below does too.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n(pwned) (w) file closefile\nshowpage\n%%EOF\n"
LIMITS = sandbox.Limits(max_pixels=50_000_000, max_decoded_bytes=256 * 2**20)


def encoded(im: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt)
    return buffer.getvalue()


def decoder(**limits) -> sandbox.Sandbox:
    return sandbox.Sandbox(**({"memory_bytes": 768 * 2**20, "cpu_seconds": 20} | limits))


def test_postscript_never_reaches_ghostscript(tmp_path, monkeypatch):
    """A fake `gs` first on PATH records any call; the import must not make one."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "ghostscript-ran"
    (bin_dir / "gs").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (bin_dir / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    root = tmp_path / "archive"
    root.mkdir()
    (root / "drawing.eps").write_bytes(EPS)
    (root / "good.jpg").write_bytes(jpeg_bytes(photo(1)))

    summary = run_import(
        write_manifest(root, [["drawing.eps", "s", "R1", 1, "", ""], ["good.jpg", "s", "R2", 1, "", ""]])
    )

    assert not marker.exists()
    assert summary["imported"] == 1
    assert "not a supported image" in summary["failed"][0]["reason"]
    eps = Asset.objects.get(origin_path="drawing.eps")
    assert eps.inspection == Asset.Inspection.UNREADABLE and not eps.thumbnail_name
    with original_open(eps) as f:  # stored, or at its source: either way, the bytes imported
        assert f.read() == EPS  # nothing is lost: the bytes are kept
    assert Attachment.objects.get(record__external_id="R1").state == Attachment.State.STRIPPED


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (EPS, "PostScript/EPS"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "SVG"),
        (encoded(Image.new("RGB", (8, 8)), "PCX"), "not a supported image"),
        (encoded(Image.new("RGB", (8, 8)), "TGA"), "not a supported image"),
    ],
)
def test_formats_outside_the_allow_list_are_never_opened(data, reason):
    with pytest.raises(Image.UnidentifiedImageError):
        imaging.open_image(io.BytesIO(data))
    with pytest.raises(imaging.UnreadableImage, match=reason):
        imaging.probe(io.BytesIO(data), max_pixels=10**6)
    with pytest.raises(imaging.UnreadableImage, match=reason):
        imaging.decode_upright(data, min_side=16, orientation=None)


@pytest.mark.parametrize("fmt", imaging.ALLOWED_FORMATS)
def test_every_allowed_format_is_fingerprinted_in_the_sandbox(fmt):
    """HEIF included: tablets upload it. The same picture gets near-identical hashes in each."""
    picture = photo(3)
    answers = decoder().inspect(
        [(1, encoded(picture, fmt)), (2, encoded(picture, "PNG"))], limits=LIMITS, min_side=256, thumbnail_side=640
    )
    assert answers[1].probe.format == ("HEIF" if fmt == "HEIF" else fmt)
    assert (answers[1].probe.width, answers[1].probe.height) == picture.size
    assert bin(answers[1].prints.phash ^ answers[2].prints.phash).count("1") <= (12 if fmt == "GIF" else 6)


def test_an_uploaded_page_is_kept_under_a_neutral_name(tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    (root / "photo.html").write_bytes(b"<html><script>alert(document.cookie)</script></html>")
    (root / "photo.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")

    run_import(write_manifest(root, [["photo.html", "s", "R1", 1, "", ""], ["photo.svg", "s", "R2", 1, "", ""]]))

    for asset in Asset.objects.all():
        assert Path(asset.storage_name).suffix == "", asset.storage_name
        assert asset.inspection == Asset.Inspection.UNREADABLE


def test_the_decoding_child_can_open_no_file_and_write_none(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the worker's secret key")
    code = (
        "import sys; from dedupe.sandbox import enter_sandbox\n"
        "enter_sandbox(memory_bytes=256 * 2**20, cpu_seconds=5)\n"
        "for attempt in (lambda: open(sys.argv[1]).read(), lambda: open('/tmp/planted', 'w'),"
        " lambda: __import__('socket').socket()):\n"
        "    try: attempt(); print('allowed')\n"
        "    except OSError as e: print('refused', e.errno)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(secret)], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    assert done.stdout.split("\n")[:3] == ["refused 24", "refused 24", "refused 24"]  # EMFILE, every time


def test_the_decoding_child_is_stopped_after_its_cpu_time():
    code = (
        "from dedupe.sandbox import enter_sandbox\n"
        "enter_sandbox(memory_bytes=256 * 2**20, cpu_seconds=1)\n"
        "while True: pass\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGXCPU
    assert time.monotonic() - started < 30


@pytest.mark.backend_blind  # the sandbox alone decides
def test_the_decoder_runs_without_the_workers_environment(monkeypatch):
    """No secret key or database address in the child's environment, nor the worker's folder."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret-from-the-environment")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:password@db/archive")
    box = decoder()
    box.inspect([(1, jpeg_bytes(photo(1)))], limits=LIMITS, min_side=64, thumbnail_side=64)
    environ = Path(f"/proc/{box._process.pid}/environ").read_bytes().split(b"\0")
    assert not [v for v in environ if b"s3cret" in v or b"password" in v]
    assert Path(f"/proc/{box._process.pid}/cwd").resolve() != Path.cwd().resolve()
    box.close()


@pytest.mark.backend_blind  # the sandbox alone decides
def test_a_file_needing_more_memory_than_allowed_is_unreadable_and_the_rest_go_on():
    big = encoded(Image.new("RGBA", (6000, 6000), (10, 20, 30, 40)), "PNG")  # 137 MiB decoded
    box = decoder(memory_bytes=96 * 2**20)
    answers = box.inspect(
        [(1, jpeg_bytes(photo(1))), (2, big), (3, jpeg_bytes(photo(2)))],
        limits=LIMITS,
        min_side=256,
        thumbnail_side=640,
    )
    assert isinstance(answers[2], sandbox.Failure) and "memory" in answers[2].reason
    assert isinstance(answers[1], sandbox.Inspection) and isinstance(answers[3], sandbox.Inspection)
    box.close()


@pytest.mark.backend_blind  # the sandbox alone decides
@pytest.mark.parametrize(("sent", "reason"), [(signal.SIGKILL, "crashed"), (signal.SIGXCPU, "took more than 20 s")])
def test_a_decoder_that_dies_costs_only_the_file_it_was_reading(sent, reason):
    """Kill the grandchild mid-request: one file is reported, the others are decoded again."""
    slow = encoded(photo(4, (5000, 4000)), "TIFF")  # uncompressed: ~80 MB to decode, long enough to be caught
    items = [(1, jpeg_bytes(photo(1))), (2, slow), (3, slow), (4, jpeg_bytes(photo(2)))]
    box = decoder()
    box.inspect(items[:1], limits=LIMITS, min_side=256, thumbnail_side=640)  # started and warm
    answers: dict = {}
    worker = threading.Thread(
        target=lambda: answers.update(box.inspect(items, limits=LIMITS, min_side=256, thumbnail_side=640))
    )
    worker.start()
    children = Path(f"/proc/{box._process.pid}/task/{box._process.pid}/children")
    deadline = time.monotonic() + 30
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(int(children.read_text().split()[0]), sent)
    worker.join(60)

    failed = {k: v for k, v in answers.items() if isinstance(v, sandbox.Failure)}
    assert len(failed) == 1 and reason in next(iter(failed.values())).reason
    assert all(isinstance(v, sandbox.Inspection) for k, v in answers.items() if k not in failed)
    assert len(answers) == 4
    box.close()


def test_an_answer_out_of_turn_is_not_believed():
    """A subverted child could answer anything; the parent checks every field before using it."""
    with pytest.raises(ValueError, match="expected"):
        sandbox._checked("inspect", 7, {"id": 8, "problem": "x"})
    with pytest.raises(ValueError, match="64-bit"):
        sandbox._int(2**70)
    with pytest.raises(ValueError, match="not text"):
        sandbox._checked("pixels", 7, {"id": 7, "ok": {"sha256": 5}})
    with pytest.raises(ValueError):
        sandbox._checked("pixels", 7, {"id": 7, "ok": {"sha256": "not hex"}})
    with pytest.raises(ValueError, match="expected"):  # hashes sent ahead, for another file
        sandbox._checked_early(7, {"id": 8, "early": {"prints": {}}})
    with pytest.raises(KeyError):  # hashes nobody asked for are no answer
        sandbox._checked("inspect", 7, {"id": 7, "early": {"prints": {}}})


@pytest.mark.backend_blind  # the sandbox alone decides
def test_hashes_sent_ahead_are_the_answers_own():
    """The gate looks an upload's hashes up while the sandbox makes its thumbnail and features."""
    box, heard = decoder(), []
    answers = box.inspect([(1, jpeg_bytes(photo(1))), (2, jpeg_bytes(photo(2)))], limits=LIMITS, min_side=256,
                          thumbnail_side=640, hashed=lambda item, prints: heard.append((item, prints)))  # fmt: skip

    assert [item for item, _ in heard] == [1, 2]
    for item, prints in heard:
        assert prints.thumbnail == b"" and answers[item].prints.thumbnail  # the thumbnail comes with the answer
        assert prints == replace(answers[item].prints, thumbnail=b"")
    box.close()


@pytest.mark.backend_blind  # the sandbox alone decides
def test_a_lookup_that_fails_reaches_the_caller_and_the_next_file_is_decoded():
    box = decoder()

    def database_down(item: int, prints: object) -> None:
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError, match="went away"):
        box.inspect([(1, jpeg_bytes(photo(1)))], limits=LIMITS, min_side=256, thumbnail_side=640, hashed=database_down)
    answers = box.inspect([(2, jpeg_bytes(photo(2)))], limits=LIMITS, min_side=256, thumbnail_side=640)
    assert isinstance(answers[2], sandbox.Inspection)
    box.close()


WORST_MODE = {"JPEG": "RGB", "PNG": "RGBA", "WEBP": "RGBA", "TIFF": "RGBA", "GIF": "P", "BMP": "RGB", "HEIF": "RGBA"}


@pytest.mark.backend_blind  # the sandbox alone decides
@pytest.mark.parametrize("fmt", imaging.ALLOWED_FORMATS)
def test_decode_memory_is_bounded_by_decoded_bytes_in_every_format(fmt):
    """The largest picture each format may claim under the limit decodes within twice the limit;
    one a little larger is refused from its header. Pixels alone would let a small RGBA PNG or a
    WebP through at several times the memory of a grey image of the same size."""
    limit = 32 * 2**20
    limits = sandbox.Limits(max_pixels=10**9, max_decoded_bytes=limit)
    noise = Image.effect_noise((64, 64), 60).convert("RGBA")

    def worst(scale: float) -> bytes:
        header = Image.new(WORST_MODE[fmt], (64, 64))
        header.format = fmt
        side = int((limit / imaging.decoded_bytes(header) * 64 * 64) ** 0.5 * scale)
        im = noise.resize((side, side)).convert(WORST_MODE[fmt])
        return encoded(im, fmt)

    box = decoder(memory_bytes=2 * limit)
    answers = box.inspect([(1, worst(0.99)), (2, worst(1.05))], limits=limits, min_side=256, thumbnail_side=640)
    assert isinstance(answers[1], sandbox.Inspection), answers[1]
    assert isinstance(answers[2], sandbox.Failure) and "MiB to decode" in answers[2].reason
    box.close()


@pytest.mark.parametrize("fmt", sandbox.EXIF_FORMATS)
def test_a_photo_with_exif_dates_and_orientation_is_read_in_the_sandbox(fmt):
    """EXIF parsing loads code lazily; the capped child could not, and called such photos corrupt."""
    exif = Image.Exif()
    exif[imaging.TAG_ORIENTATION], exif[imaging.TAG_DATETIME] = 6, "2024:05:06 07:08:09"
    exif.get_ifd(imaging.IFD_EXIF)[imaging.TAG_DATETIME_ORIGINAL] = "2023:01:02 03:04:05"
    buffer = io.BytesIO()
    photo(5, (320, 240)).save(buffer, fmt, exif=exif.tobytes())

    answer = decoder().inspect([(1, buffer.getvalue())], limits=LIMITS, min_side=64, thumbnail_side=128)[1]

    assert isinstance(answer, sandbox.Inspection), answer
    assert (answer.probe.width, answer.probe.height) == (240, 320)  # as shown: upright
    assert answer.probe.orientation == (1 if fmt == "HEIF" else 6)  # libheif turns HEIF upright itself
    assert answer.probe.captured_at == datetime(2023, 1, 2, 3, 4, 5)
