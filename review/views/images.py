"""The image bytes a page shows: thumbnails, originals on zoom, and the difference view.

Never a public media URL: each response is checked against the person's sources, cached only by
their browser, and a view of a sensitive source's image is an audit event.
"""

from typing import BinaryIO, cast

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.views.decorators.http import require_GET
from PIL import Image

from dedupe import pixels
from dedupe.models import Asset
from dedupe.originals import original_open

from ..selectors.facts import Alignment, alignment_of
from ..selectors.visibility import (
    asset_for,
    candidate_for,
    group_for,
)
from ..services.images import image_view_record
from .shared import AuthenticatedHttpRequest, private_image


@require_GET
@login_required
def asset_thumbnail(request: AuthenticatedHttpRequest, pk: int) -> FileResponse:
    asset = asset_for(request.user, pk)
    if not asset.thumbnail_name:
        raise Http404("No thumbnail yet.")
    image_view_record(actor=request.user, asset=asset, what="thumbnail")
    return private_image(FileResponse(default_storage.open(asset.thumbnail_name, "rb"), content_type="image/webp"))


@require_GET
@login_required
def asset_original(request: AuthenticatedHttpRequest, pk: int) -> FileResponse:
    """The original file, only when someone zooms in; never a public media URL."""
    asset = asset_for(request.user, pk)
    if asset.state == Asset.State.PURGED:
        raise Http404("The original's bytes are not stored.")
    try:
        original = original_open(asset)  # ours, or at the source while it is still the file imported
    except OSError as error:
        raise Http404("The original cannot be read as it was imported.") from error
    image_view_record(actor=request.user, asset=asset, what="original")
    content_type = Image.MIME.get((asset.format or "").upper(), "application/octet-stream")
    return private_image(FileResponse(original, content_type=content_type))


@require_GET
@login_required
def candidate_difference(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Where the two images differ, amplified, from their thumbnails scaled to one size; for a
    partial copy, inside its region of the other picture, aligned through the scan's transform."""
    candidate = candidate_for(request.user, pk)
    alignment = alignment_of(candidate)
    if alignment is not None:
        return _aligned(request, alignment, which=1)
    return _difference(request, candidate.asset_a, candidate.asset_b)


@require_GET
@login_required
def candidate_aligned(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A partial copy laid over its region of the other picture (flicker and slider use it)."""
    alignment = alignment_of(candidate_for(request.user, pk))
    if alignment is None:
        raise Http404("Not a partial copy with an alignment.")
    return _aligned(request, alignment, which=0)


def _aligned(request: AuthenticatedHttpRequest, alignment: Alignment, which: int) -> HttpResponse:
    inner, outer = alignment.inner, alignment.outer
    _compared(request, inner, outer)
    with (
        default_storage.open(inner.thumbnail_name, "rb") as a,
        default_storage.open(outer.thumbnail_name, "rb") as b,
    ):
        try:
            pngs = pixels.aligned_pngs(
                cast(BinaryIO, a), cast(BinaryIO, b), alignment.matrix,
                (inner.width or 0, inner.height or 0), (outer.width or 0, outer.height or 0),
            )  # fmt: skip
        except ValueError as error:  # evidence that cannot align anything
            raise Http404("This pair's alignment cannot be drawn.") from error
    return private_image(HttpResponse(pngs[which], content_type="image/png"))


@require_GET
@login_required
def group_difference(request: AuthenticatedHttpRequest, pk: int, a: int, b: int) -> HttpResponse:
    """The difference of two members of a group the person may see (no other image can be named)."""
    _, members = group_for(request.user, pk)
    by_pk = {asset.pk: asset for asset in members}
    if a not in by_pk or b not in by_pk:
        raise Http404("Not members of this group.")
    return _difference(request, by_pk[a], by_pk[b])


def _compared(request: AuthenticatedHttpRequest, *assets: Asset) -> None:
    """Both thumbnails exist, and the look at each is on the record (sensitive sources)."""
    for asset in assets:
        if not asset.thumbnail_name:
            raise Http404("No thumbnail to compare.")
        image_view_record(actor=request.user, asset=asset, what="difference")


def _difference(request: AuthenticatedHttpRequest, first: Asset, second: Asset) -> HttpResponse:
    _compared(request, first, second)
    with (
        default_storage.open(first.thumbnail_name, "rb") as a,
        default_storage.open(second.thumbnail_name, "rb") as b,
    ):
        png = pixels.difference_png(cast(BinaryIO, a), cast(BinaryIO, b))  # a File proxies its binary file
    return private_image(HttpResponse(png, content_type="image/png"))
