from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.ingest import ManifestError, count_manifest_rows, manifest_rows
from dedupe.management.importing import add_common_arguments, import_root, print_summary, run_import


class Command(BaseCommand):
    help = "Import files listed in a manifest CSV (path,source,record_id,slot,address,captured_at)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("manifest", type=Path)
        parser.add_argument(
            "--root",
            help="folder the manifest's paths are relative to (default: its own), or s3://bucket/prefix "
            "for objects in an S3-compatible bucket (settings: DEDUPE_S3_*)",
        )
        add_common_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        manifest: Path = options["manifest"]
        if not manifest.is_file():
            raise CommandError(f"{manifest}: no such manifest file")
        root = import_root(options["root"] or str(manifest.parent))
        try:
            summary = run_import(
                self,
                kind="archive",
                location=str(manifest),
                root=root,
                rows=manifest_rows(manifest),
                total=count_manifest_rows(manifest),
                options=options,
            )
        except (ManifestError, UnicodeDecodeError) as exc:
            raise CommandError(f"{manifest}: {exc}") from None
        print_summary(self, summary, as_json=options["json"])
