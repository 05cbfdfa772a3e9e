from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.ingest import folder_rows
from dedupe.management.importing import add_common_arguments, print_summary, run_import


class Command(BaseCommand):
    help = "Import every file under a folder into one source: one record per file, or per sub-folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--source", required=True, help="slug of the source the files belong to")
        parser.add_argument(
            "--record-per",
            choices=["file", "folder"],
            default="file",
            help="file: each file is a record; folder: each sub-folder is a record, its files the slots",
        )
        add_common_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder}: not a folder")
        rows = folder_rows(folder, source=options["source"], record_per=options["record_per"])
        total = sum(1 for _ in folder_rows(folder, source=options["source"], record_per=options["record_per"]))
        summary = run_import(
            self, kind="folder", location=str(folder), root=folder, rows=rows, total=total, options=options
        )
        print_summary(self, summary, as_json=options["json"])
