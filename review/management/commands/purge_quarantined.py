import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from review.services.storage import PurgeSummary, purge_quarantined

ACTOR_NAME = "system:purge_quarantined"


class Command(BaseCommand):
    help = (
        "Delete the bytes of quarantined duplicates past retention that nothing needs any more. Dry run unless --apply."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="purge for real (default: only show the plan)")
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    def handle(self, *args, **options) -> None:
        summary = purge_quarantined(dry_run=not options["apply"], actor_name=ACTOR_NAME)
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_json()))
        else:
            self._print(summary)

    def _print(self, summary: PurgeSummary) -> None:
        verb = "would purge" if summary.dry_run else "purged"
        for item in summary.purged:
            self.stdout.write(f"{verb} image {item.asset_id} ({item.source}, {item.byte_size:,} bytes)")
        waiting = [item for item in summary.refused if item.only_waiting]
        for item in summary.refused:
            if item not in waiting:
                self.stdout.write(f"kept image {item.asset_id} ({item.source}): " + "; ".join(item.reasons))
        if waiting:
            self.stdout.write(f"{len(waiting)} quarantined image(s) still within {settings.DEDUPE_RETENTION_DAYS} days")
        for error in summary.errors:
            self.stderr.write(error)
        by_source = ", ".join(f"{slug} {size:,}" for slug, size in sorted(summary.bytes_by_source.items()))
        self.stdout.write(
            f"{verb} {summary.purged_count} image(s), {summary.bytes_reclaimed:,} bytes"
            + (f" ({by_source})" if by_source else "")
            + ("; dry run: nothing deleted, use --apply" if summary.dry_run else "")
        )
