from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.models import Source
from review.services.mergemap import merge_map_csv_lines, merge_map_json_chunks


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Export the merge map: each merged duplicate (file, record, slot) and the canonical file it now "
        "points to, with unmerges as reversal rows. Streams; --until is inclusive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", metavar="SLUG", help="only the records of this source")
        parser.add_argument("--since", metavar="DATE", type=_day, help="from this day (YYYY-MM-DD), inclusive")
        parser.add_argument("--until", metavar="DATE", type=_day, help="to this day (YYYY-MM-DD), inclusive")
        parser.add_argument("--format", choices=("csv", "json"), default="csv")
        parser.add_argument("--output", metavar="PATH", help="write to this file (default: standard output)")

    def handle(self, *args, **options) -> None:
        source = options["source"]
        if source is not None and not Source.objects.filter(slug=source).exists():
            raise CommandError(f"no source {source!r}")
        make = merge_map_csv_lines if options["format"] == "csv" else merge_map_json_chunks
        chunks = make(source=source, since=options["since"], until=options["until"])
        if options["output"]:
            with open(options["output"], "w", newline="", encoding="utf-8") as out:
                out.writelines(chunks)
            return
        for chunk in chunks:
            self.stdout.write(chunk, ending="")
