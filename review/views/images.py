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
    if asset.state == Asset.State.PURGED or not asset.storage_name or not default_storage.exists(asset.storage_name):
        raise Http404("The original's bytes are not stored.")
    image_view_record(actor=request.user, asset=asset, what="original")
    content_type = Image.MIME.get((asset.format or "").upper(), "application/octet-stream")
    return private_image(FileResponse(default_storage.open(asset.storage_name, "rb"), content_type=content_type))


@require_GET
@login_required
def candidate_difference(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Where the two images differ, amplified, from their thumbnails scaled to one size."""
    candidate = candidate_for(request.user, pk)
    return _difference(request, candidate.asset_a, candidate.asset_b)


@require_GET
@login_required
def group_difference(request: AuthenticatedHttpRequest, pk: int, a: int, b: int) -> HttpResponse:
    """The difference of two members of a group the person may see (no other image can be named)."""
    _, members = group_for(request.user, pk)
    by_pk = {asset.pk: asset for asset in members}
    if a not in by_pk or b not in by_pk:
        raise Http404("Not members of this group.")
    return _difference(request, by_pk[a], by_pk[b])


def _difference(request: AuthenticatedHttpRequest, first: Asset, second: Asset) -> HttpResponse:
    for asset in (first, second):
        if not asset.thumbnail_name:
            raise Http404("No thumbnail to compare.")
        image_view_record(actor=request.user, asset=asset, what="difference")
    with (
        default_storage.open(first.thumbnail_name, "rb") as a,
        default_storage.open(second.thumbnail_name, "rb") as b,
    ):
        png = pixels.difference_png(cast(BinaryIO, a), cast(BinaryIO, b))  # a File proxies its binary file
    return private_image(HttpResponse(png, content_type="image/png"))
