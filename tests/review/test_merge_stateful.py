"""Random sequences of decisions, merges, reversals, detaches, restores and purges keep every promise.

Hypothesis drives the services over a small archive (five copies of a photograph, all pairs
candidates) and the invariants are checked after every step. Each example gets its own source,
so examples never see each other's rows.
"""

import itertools
from datetime import timedelta

import pytest
from django.conf import settings as settings_
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from dedupe.models import Asset, Attachment, AuditSubject, Candidate
from review.invariants import check_invariants
from review.models import Decision, Merge
from review.selectors.imagery import records_missing_imagery
from review.services.decisions import DecisionRefused, decide_candidate, decision_reverse, last_decision_id
from review.services.placeholders import attachment_restore
from review.services.storage import purge_quarantined
from tests.factories import archive_rows, store_bytes, strip, user_with_role

pytestmark = pytest.mark.django_db(transaction=True)
COPIES = 5
examples = itertools.count()


class Archive(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        example = next(examples)
        self.source, made = archive_rows(f"s{example}", records=COPIES)
        self.assets = [a for _, a in made]
        store_bytes(*self.assets)
        for a, b in itertools.combinations(self.assets, 2):
            Candidate.objects.create(asset_a=a, asset_b=b, kind="near", score=0.9)
        self.user = user_with_role(f"ana{example}", "archivist")

    def candidates(self):
        return Candidate.objects.filter(asset_a__source=self.source).order_by("pk")

    def attachments(self):
        return Attachment.objects.filter(record__source=self.source)

    @rule(pick=st.integers(0, 100), keep_first=st.booleans())
    def decide_same(self, pick: int, keep_first: bool) -> None:
        open_ = list(self.candidates().filter(status="open"))
        if not open_:
            return
        c = open_[pick % len(open_)]
        keep = c.asset_a_id if keep_first else c.asset_b_id
        # Keeping a copy that was merged away keeps the end of its chain: never refused here.
        decide_candidate(candidate_id=c.pk, verdict="same", canonical_id=keep, actor=self.user,
                         seen=last_decision_id(c.pk))  # fmt: skip

    @rule(pick=st.integers(0, 100))
    def decide_different(self, pick: int) -> None:
        open_ = list(self.candidates().filter(status="open"))
        if open_:
            c = open_[pick % len(open_)]
            decide_candidate(candidate_id=c.pk, verdict="different", reason="other", actor=self.user,
                             seen=last_decision_id(c.pk))  # fmt: skip

    @rule(pick=st.integers(0, 100), side=st.booleans())
    def detach_wrong_attachment(self, pick: int, side: bool) -> None:
        open_ = list(self.candidates().filter(status="open"))
        if not open_:
            return
        c = open_[pick % len(open_)]
        shown = Attachment.objects.filter(asset_id=c.asset_a_id if side else c.asset_b_id, state="attached").first()
        if shown:
            decide_candidate(candidate_id=c.pk, verdict="wrong_attachment", wrong_attachment_id=shown.pk,
                             actor=self.user, seen=last_decision_id(c.pk))  # fmt: skip

    @rule(pick=st.integers(0, 100))
    def reverse(self, pick: int) -> None:
        applied = list(Decision.objects.filter(candidate__in=self.candidates(), status="applied").order_by("pk"))
        if applied:
            try:
                decision_reverse(decision_id=applied[pick % len(applied)].pk, actor=self.user)
            except DecisionRefused as refused:
                assert "purged" in str(refused)  # the only reason a reversal may be refused here

    @rule(pick=st.integers(0, 100))
    def strip_placeholder(self, pick: int) -> None:
        shown = list(self.attachments().filter(state="attached").order_by("pk"))
        if shown:
            strip(shown[pick % len(shown)])

    @rule(pick=st.integers(0, 100), choice=st.integers(0, 100))
    def restore(self, pick: int, choice: int) -> None:
        waiting = [m for m in records_missing_imagery(within={self.source.pk}) if m.suggestions]
        if waiting:
            missing = waiting[pick % len(waiting)]
            offer = missing.suggestions[choice % len(missing.suggestions)]
            # Every suggestion is one a restore accepts: a refusal here fails the example.
            attachment_restore(attachment_id=missing.attachment_id, asset_id=offer.asset_id, actor=self.user,
                               reason=f"{offer.kind} suggestion")  # fmt: skip

    @rule()
    def purge_past_retention(self) -> None:
        purge_quarantined(dry_run=False, now=timezone.now() + timedelta(days=settings_.DEDUPE_RETENTION_DAYS + 1))

    @invariant()
    def shown_attachments_show_a_viewable_image(self) -> None:
        for attachment in self.attachments().filter(state__in=("attached", "restored")).select_related("asset"):
            assert attachment.asset.state in ("active", "quarantined"), attachment
            if attachment.state == "attached":  # a restore may choose the quarantined original, a merge never
                assert not Merge.objects.filter(duplicate=attachment.asset, undone_at__isnull=True).exists()

    @invariant()
    def the_archive_wide_checks_find_nothing(self) -> None:
        assert check_invariants() == []

    @invariant()
    def merged_copies_are_quarantined_and_the_rest_active(self) -> None:
        merged = set(Merge.objects.filter(undone_at__isnull=True, duplicate__source=self.source)
                     .values_list("duplicate", flat=True))  # fmt: skip
        for asset in Asset.objects.filter(source=self.source):
            assert asset.state in (("quarantined", "purged") if asset.pk in merged else ("active",)), asset

    @invariant()
    def chains_end(self) -> None:
        live = dict(Merge.objects.filter(undone_at__isnull=True, duplicate__source=self.source)
                    .values_list("duplicate", "canonical"))  # fmt: skip
        for start in live:
            seen, at = set(), start
            while at in live:
                assert at not in seen and len(seen) < Merge.MAX_CHAIN, f"merge cycle through {at}"
                seen.add(at)
                at = live[at]

    @invariant()
    def every_candidate_has_at_most_one_live_decision_matching_its_status(self) -> None:
        for c in self.candidates():
            live = list(Decision.objects.filter(candidate=c, status__in=("applied", "proposed")))
            assert len(live) <= 1
            assert c.status == (live[0].verdict if live else c.status if c.status == "moved" else "open"), c

    @invariant()
    def no_open_pair_shows_an_image_that_was_merged_away(self) -> None:
        for c in self.candidates().filter(status="open").select_related("asset_a", "asset_b"):
            assert c.asset_a.state == c.asset_b.state == "active", c

    @invariant()
    def every_merge_and_decision_is_on_the_record(self) -> None:
        with transaction.atomic():
            for merge in Merge.objects.filter(duplicate__source=self.source):
                events = AuditSubject.objects.filter(kind="merge", object_id=str(merge.pk))
                assert events.filter(event__action="asset.merge").count() == 1
                assert events.filter(event__action="asset.unmerge").count() == (merge.undone_at is not None)
            for decision in Decision.objects.filter(candidate__in=self.candidates()):
                assert AuditSubject.objects.filter(kind="decision", object_id=str(decision.pk)).exists()


def test_random_sequences_of_decisions_keep_every_invariant():
    run_state_machine_as_test(
        Archive,
        settings=settings(max_examples=25, stateful_step_count=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )  # fmt: skip
