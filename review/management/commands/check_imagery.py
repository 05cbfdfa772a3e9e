import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.models import Source
from review.selectors.imagery import records_missing_imagery


class Command(BaseCommand):
    help = "List every record missing imagery (stripped placeholders) and what could restore each one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", metavar="SLUG", help="only this source's records")
        parser.add_argument("--json", action="store_true", help="print a JSON list, one object per placeholder")

    def handle(self, *args, **options) -> None:
        source = options["source"]
        if source is not None and not Source.objects.filter(slug=source).exists():
            raise CommandError(f"no source {source!r}")
        missing = records_missing_imagery(source=source)
        if options["json"]:
            self._json(missing)
        else:
            self._table(missing)

    def _json(self, missing) -> None:
        # Streamed object by object: the list can be as long as the archive's stripped placeholders.
        separator = "\n"
        self.stdout.write("[", ending="")
        for item in missing:
            self.stdout.write(separator + json.dumps(item.as_json()), ending="")
            separator = ",\n"
        self.stdout.write("\n]")

    def _table(self, missing) -> None:
        count = 0
        self.stdout.write(f"{'source':<20} {'record':<24} {'slot':<6} why / how to restore")
        for item in missing:
            count += 1
            self.stdout.write(f"{item.source:<20} {item.record:<24} {item.slot:<6} {item.reason}")
            for s in item.suggestions:
                self.stdout.write(f"{'':<52} -> image {s.asset_id} ({s.kind}): {s.reason}")
            if not item.suggestions:
                self.stdout.write(f"{'':<52} -> nothing to restore it from: re-import the file")
        self.stdout.write(f"{count} placeholder(s) missing imagery")
