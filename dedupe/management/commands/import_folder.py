from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.buckets import BucketPlace, ObjectUnavailable, bucket_rows
from dedupe.ingest import folder_rows
from dedupe.management.importing import add_common_arguments, import_root, print_summary, run_import


class Command(BaseCommand):
    help = (
        "Import every file under a folder (or every object under s3://bucket/prefix) into one source: "
        "one record per file, or per sub-folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", help="a folder, or s3://bucket/prefix (settings: DEDUPE_S3_*)")
        parser.add_argument("--source", required=True, help="slug of the source the files belong to")
        parser.add_argument(
            "--record-per",
            choices=["file", "folder"],
            default="file",
            help="file: each file is a record; folder: each sub-folder is a record, its files the slots",
        )
        add_common_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        root = import_root(options["folder"])
        if isinstance(root, Path) and not root.is_dir():
            raise CommandError(f"{root}: not a folder")

        def rows() -> Any:
            if isinstance(root, BucketPlace):
                return bucket_rows(root, source=options["source"], record_per=options["record_per"])
            return folder_rows(root, source=options["source"], record_per=options["record_per"])

        try:
            total = sum(1 for _ in rows())
        except ObjectUnavailable as exc:
            raise CommandError(str(exc)) from None
        summary = run_import(
            self, kind="folder", location=str(root), root=root, rows=rows(), total=total, options=options
        )
        print_summary(self, summary, as_json=options["json"])
