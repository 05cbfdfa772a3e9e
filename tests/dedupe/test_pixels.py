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


def crop_of(size=(320, 240), box=(80, 60, 240, 180), shrink=0.5):
    """An outer picture, a crop of it scaled down (the inner), and the matrix inner -> outer (full size)."""
    outer = photo(7, size)
    inner = outer.crop(box).resize((round((box[2] - box[0]) * shrink), round((box[3] - box[1]) * shrink)))
    matrix = [[1 / shrink, 0, box[0]], [0, 1 / shrink, box[1]], [0, 0, 1]]
    return outer, inner, matrix


def test_a_crop_is_laid_over_its_region_of_the_original_and_agrees_there():
    from dedupe.pixels import aligned_pngs

    outer, inner, matrix = crop_of()
    # thumbnails of other sizes than the full pictures: the alignment scales through both
    outer_thumb, inner_thumb = outer.resize((160, 120)), inner.resize((40, 30))

    laid, difference = (Image.open(io.BytesIO(png)) for png in
                        aligned_pngs(io.BytesIO(png_bytes(inner_thumb)), io.BytesIO(png_bytes(outer_thumb)),
                                     matrix, inner.size, outer.size))  # fmt: skip

    assert laid.size == difference.size == (160, 120)
    left, top, right, bottom = laid.getchannel("A").getbbox()
    assert abs(left - 40) <= 1 and abs(top - 30) <= 1 and abs(right - 120) <= 1 and abs(bottom - 90) <= 1
    inside = (44, 34, 116, 86)
    shown = laid.convert("RGB").crop(inside).tobytes()
    original = outer_thumb.convert("RGB").crop(inside).tobytes()
    agree = sum(abs(x - y) for x, y in zip(shown, original, strict=True)) / len(shown)
    assert agree < 12  # the crop's pixels where the original has them (bilinear, scaled twice)
    assert difference.crop((0, 0, 160, 28)).getbbox() is None  # black outside the region

    shifted = [row[:] for row in matrix]
    shifted[0][2] += 60  # laid 60 px to the right: the pixels no longer agree
    laid_wrong = Image.open(io.BytesIO(aligned_pngs(io.BytesIO(png_bytes(inner_thumb)),
                                                    io.BytesIO(png_bytes(outer_thumb)), shifted, inner.size,
                                                    outer.size)[0]))  # fmt: skip
    wrong = laid_wrong.convert("RGB").crop((60, 34, 130, 86)).tobytes()
    under = outer_thumb.convert("RGB").crop((60, 34, 130, 86)).tobytes()
    assert sum(abs(x - y) for x, y in zip(wrong, under, strict=True)) / len(wrong) > 2 * agree


def test_evidence_that_cannot_align_is_refused_not_drawn():
    import pytest

    from dedupe.pixels import aligned_pngs

    outer, inner, _ = crop_of()
    for matrix in ([[0, 0, 0], [0, 0, 0], [0, 0, 1]], [[1, 0], [0, 1]], [[float("nan"), 0, 0], [0, 1, 0], [0, 0, 1]]):
        with pytest.raises(ValueError):
            aligned_pngs(io.BytesIO(png_bytes(inner)), io.BytesIO(png_bytes(outer)), matrix, inner.size, outer.size)
