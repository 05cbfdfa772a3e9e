"""A record's and an image's story, as their pages show it: placeholders and their history, the
pairs and decisions touching them, merges in and out, a purge.

Pairs and decisions are capped at the newest or best `LIMIT`: a "no photo available" image can
sit in thousands of pairs, and the audit timeline has the whole story.
"""

from typing import Any, TypedDict

from django.db.models import Q, QuerySet

from dedupe.models import Asset, Attachment, Candidate, Record

from ..models import Decision, Merge, Purge
from .records import record_story
from .visibility import visible_candidates, visible_sources

LIMIT = 50


class RecordHistory(TypedDict):
    attachments: list[Attachment]
    candidates: QuerySet[Candidate]
    decisions: QuerySet[Decision]


class AssetHistory(TypedDict):
    merged_in: QuerySet[Merge]
    merged_out: QuerySet[Merge]
    shown_by: QuerySet[Attachment]
    candidates: QuerySet[Candidate]
    decisions: QuerySet[Decision]
    purge: Purge | None


def record_history(user: Any, record: Record) -> RecordHistory:
    """Its placeholders with each step of their history, and the pairs and decisions about what they show.

    Only what the person may see: another source's file names and facts stay out of the story
    (`record_story`), and a verdict on a pair they may not open is not theirs to read.
    """
    attachments = record_story(user, record)
    shown = [a.asset_id for a in attachments if a.asset_id]
    pairs = visible_candidates(user)
    candidates = pairs.filter(Q(asset_a__in=shown) | Q(asset_b__in=shown)).order_by("-score", "pk")[:LIMIT]
    decisions = (
        Decision.objects.filter(candidate__in=pairs)
        .filter(Q(candidate__asset_a__in=shown) | Q(candidate__asset_b__in=shown) | Q(wrong_attachment__record=record))
        .select_related("decided_by")
        .distinct()
        .order_by("-decided_at")[:LIMIT]
    )
    return {"attachments": attachments, "candidates": candidates, "decisions": decisions}


def asset_history(user: Any, asset: Asset) -> AssetHistory:
    """Merges onto it (from sources the person sees) and from it, the placeholders showing it, its
    pairs and their decisions, and its purge if its bytes are gone."""
    visible = visible_sources(user)
    candidates = visible_candidates(user).filter(Q(asset_a=asset) | Q(asset_b=asset)).order_by("-score", "pk")[:LIMIT]
    return {
        "merged_in": Merge.objects.filter(canonical=asset, duplicate__source__in=visible)
        .select_related("duplicate__source", "decision__decided_by")
        .order_by("-at"),
        "merged_out": Merge.objects.filter(duplicate=asset, canonical__source__in=visible)
        .select_related("canonical", "decision__decided_by")
        .order_by("-at"),
        "shown_by": Attachment.objects.filter(asset=asset, record__source__in=visible)
        .select_related("record__source")
        .order_by("pk"),
        "candidates": candidates,
        "decisions": Decision.objects.filter(candidate__in=candidates)
        .select_related("decided_by")
        .order_by("-decided_at"),
        "purge": Purge.objects.filter(asset=asset).first(),
    }
