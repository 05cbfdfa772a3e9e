"""Imaging: the fast reduced decode agrees with a full decode; orientation and bars are handled."""

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from dedupe import imaging
from dedupe.sample import build_sample_archive
from tests.factories import exif_rotated_jpeg, jpeg_bytes, letterboxed, photo

HASHES = ("phash", "dhash", "phash_zoom")


def full_decode_prints(data: bytes) -> imaging.Prints:
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    return imaging.fingerprint(im, thumbnail_side=512)


def fast_prints(data: bytes) -> imaging.Prints:
    probe = imaging.probe(io.BytesIO(data), max_pixels=10**9)
    im = imaging.decode_upright(data, min_side=256, orientation=probe.orientation)
    return imaging.fingerprint(im, thumbnail_side=512)


def bits(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[bytes]:
    """Phone-sized JPEGs (the fast path scales them 1/8) and the sample archive's drawn photos."""
    archive = build_sample_archive(tmp_path_factory.mktemp("sample"), originals=12, seed=3, bad=False, megapixels=2)
    drawn = [p.read_bytes() for p in sorted((archive.root / "images").rglob("*.jpg"))]
    big = [jpeg_bytes(photo(n, (3000, 2250)), 92) for n in range(4)]
    return big + drawn


def test_the_fast_path_hashes_agree_with_a_full_decode(photos, record_property):
    distances = {name: [] for name in HASHES}
    for data in photos:
        fast, full = fast_prints(data), full_decode_prints(data)
        for name in HASHES:
            distances[name].append(bits(getattr(fast, name), getattr(full, name)))

    for name, values in distances.items():
        record_property(f"{name}_mean_bits", float(np.mean(values)))
        record_property(f"{name}_worst_bits", max(values))
        print(f"{name}: mean {np.mean(values):.2f} bits, worst {max(values)} bits over {len(values)} photos")
        assert np.mean(values) <= 1.5, name
        assert max(values) <= 6, name


def test_sizes_are_reported_as_shown_after_exif_rotation():
    data = exif_rotated_jpeg(photo(1, (640, 480)))

    probe = imaging.probe(io.BytesIO(data), max_pixels=10**9)

    assert (probe.width, probe.height, probe.orientation) == (640, 480, 6)


def test_an_exif_rotated_copy_hashes_like_its_original():
    original = photo(2, (640, 480))
    plain, rotated = fast_prints(jpeg_bytes(original)), fast_prints(exif_rotated_jpeg(original))

    assert bits(plain.phash, rotated.phash) <= 4


def test_letterbox_bars_are_trimmed_but_a_plain_sky_is_not():
    picture = photo(3, (640, 480))
    boxed = letterboxed(picture)

    assert imaging.content_box(boxed) == pytest.approx((80, 0, 720, 480), abs=3)
    sky = Image.new("RGB", (640, 480), (120, 170, 230))
    sky.paste(picture.crop((0, 0, 640, 300)), (0, 180))  # plain band along the top only
    assert imaging.content_box(sky) == (0, 0, 640, 480)


def test_a_copy_padded_with_bars_has_more_pixels_but_no_more_picture():
    picture = photo(3, (640, 480))
    data = {"plain": jpeg_bytes(picture), "boxed": jpeg_bytes(letterboxed(picture))}

    measured = {}
    for name, blob in data.items():
        probe = imaging.probe(io.BytesIO(blob), max_pixels=10**9)
        prints = fast_prints(blob)
        measured[name] = round(probe.width * prints.content_width) * round(probe.height * prints.content_height)

    assert measured["plain"] == 640 * 480
    assert measured["boxed"] == pytest.approx(640 * 480, rel=0.02), "the bars are not picture"


def test_the_header_gives_a_jpeg_quality_estimate_and_other_formats_none():
    picture = photo(4, (320, 240))
    estimates = [imaging.probe(io.BytesIO(jpeg_bytes(picture, q)), max_pixels=10**9).jpeg_quality for q in (60, 92)]
    png = io.BytesIO()
    picture.save(png, "PNG")

    assert estimates[0] == pytest.approx(60, abs=1) and estimates[1] == pytest.approx(92, abs=1)
    assert imaging.probe(io.BytesIO(png.getvalue()), max_pixels=10**9).jpeg_quality is None


def test_a_corrupt_jpeg_is_unreadable_with_a_reason():
    good = jpeg_bytes(photo(4))
    broken = good[: len(good) // 2] + bytes(range(256)) * 8 + good[len(good) // 2 + 2048 :]

    with pytest.raises(imaging.UnreadableImage, match="corrupt"):
        imaging.decode_upright(broken, min_side=256, orientation=None)


def test_a_transparent_png_is_flattened_onto_white():
    im = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")

    decoded = imaging.decode_upright(buf.getvalue(), min_side=256, orientation=None)

    assert decoded.mode == "RGB" and decoded.getpixel((10, 10)) == (255, 255, 255)
