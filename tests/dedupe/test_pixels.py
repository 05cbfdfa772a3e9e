"""The desk's pixel work, without a database: quality estimates and difference images."""

import io

from PIL import Image

from dedupe.pixels import difference_png, jpeg_quality, quality_from_table
from tests.factories import jpeg_bytes, photo, png_bytes


def test_it_estimates_a_jpegs_quality_from_its_tables_lower_for_a_resaved_copy():
    qualities = (30, 40, 60, 75, 88, 95)
    estimates = [jpeg_quality(io.BytesIO(jpeg_bytes(photo(1), quality=q))) for q in qualities]
    # Within a point of what the encoder was told (the tables are compared in Pillow's order).
    assert all(abs(got - q) <= 1 for got, q in zip(estimates, qualities, strict=True)), estimates


def test_the_standard_table_is_quality_fifty():
    from dedupe.pixels import _STD_LUMA

    assert quality_from_table(_STD_LUMA) == 50


def test_a_png_or_garbage_has_no_jpeg_quality():
    assert jpeg_quality(io.BytesIO(png_bytes(photo(2)))) is None
    assert jpeg_quality(io.BytesIO(b"not an image at all")) is None


def test_a_format_off_the_allow_list_is_not_opened():
    ico = io.BytesIO()
    photo(3, (32, 32)).save(ico, "ICO")
    assert jpeg_quality(io.BytesIO(ico.getvalue())) is None


def test_the_difference_of_an_image_with_itself_is_black_and_with_another_is_not():
    a = png_bytes(photo(4, (64, 48)))
    b = png_bytes(photo(5, (128, 96)))

    same = Image.open(io.BytesIO(difference_png(io.BytesIO(a), io.BytesIO(a))))
    other = Image.open(io.BytesIO(difference_png(io.BytesIO(a), io.BytesIO(b))))

    assert same.size == other.size == (64, 48)
    assert same.getextrema() == (0, 0)
    assert other.getextrema()[1] > 0
