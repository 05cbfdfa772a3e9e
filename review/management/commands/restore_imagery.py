from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.models import Source
from review.services.placeholders import restore_bulk

ACTOR_NAME = "system:restore_imagery"


class Command(BaseCommand):
    help = "Restore every stripped placeholder that has exactly one suggestion; list the rest with check_imagery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", metavar="SLUG", help="only this source's records")
        parser.add_argument("--dry-run", action="store_true", help="count what would be restored, change nothing")

    def handle(self, *args, **options) -> None:
        source = options["source"]
        if source is not None and not Source.objects.filter(slug=source).exists():
            raise CommandError(f"no source {source!r}")
        counts = restore_bulk(actor=None, actor_name=ACTOR_NAME, source=source, dry_run=options["dry_run"])
        verb = "would restore" if options["dry_run"] else "restored"
        self.stdout.write(
            f"{verb} {counts['restored']}; left for a person: {counts['ambiguous']} with several suggestions, "
            f"{counts['no_suggestion']} with none; {counts['refused']} refused (changed while running)"
        )
