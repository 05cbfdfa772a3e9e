"""The storage page: bytes per source and state, reclamation over time, what is pending."""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dedupe.roles import Capability, can

from ..selectors.storage import storage_figures
from ..selectors.visibility import (
    visible_sources,
)
from .shared import AuthenticatedHttpRequest, require


@require_GET
@login_required
def storage(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Bytes active, quarantined and reclaimed per source, reclamation over time, and what is pending."""
    require(request.user, Capability.SEE_STORAGE)
    within = (
        None
        if can(request.user, Capability.SEE_ALL_SOURCES)
        else set(visible_sources(request.user).values_list("pk", flat=True))
    )
    figures = storage_figures(within=within)
    return render(request, "review/storage.html", {"figures": figures, "chart": _chart(figures.reclaimed_by_day)})


def _chart(per_day: list[tuple[date, int]]) -> dict:
    """Bars for the reclaimed-bytes chart, drawn as SVG on the server (no chart script to ship)."""
    cumulative, total = [], 0
    for day, size in per_day:
        total += size
        cumulative.append((day, size, total))
    top = max((t for _, _, t in cumulative), default=0) or 1
    width = 24
    bars = [
        {
            "x": i * width,
            "y": 160 - round(150 * t / top),
            "height": round(150 * t / top),
            "day": day,
            "bytes": size,
            "total": t,
        }
        for i, (day, size, t) in enumerate(cumulative[-60:])
    ]
    return {"bars": bars, "width": max(len(bars) * width, width)}
