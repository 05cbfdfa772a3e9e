from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dedupe.verify import sources_verify


class Command(BaseCommand):
    help = (
        "Check the files of sources kept in place against what was imported (size and time, SHA-256 where "
        "they differ). A changed or removed file's placeholders are stripped with the reason; exit 1 if any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="only this source (its slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        report = sources_verify(source=options["source"])
        for pk, why in report.drifted:
            self.stdout.write(f"image {pk}: {why}")
        for pk, why in report.unreachable:
            self.stderr.write(f"image {pk} not checked: {why}")
        self.stdout.write(
            f"{report.checked} file(s) checked, {report.touched} touched but unchanged, {len(report.drifted)} drifted"
            + (f", {len(report.unreachable)} not checked (their store did not answer)." if report.unreachable else ".")
        )
        if report.drifted or report.unreachable:
            raise SystemExit(1)
