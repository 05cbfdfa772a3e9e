from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from dedupe.audit import audit_checkpoint_write


class Command(BaseCommand):
    help = (
        "Write the audit log's head (seq, hash, time) as JSON outside the database, for "
        "`verify_audit --against` to prove later that the log still extends it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            metavar="PATH",
            help="a file to create, or a folder for a new file named by seq and time (default: DEDUPE_CHECKPOINT_DIR)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path, head = audit_checkpoint_write(options["output"] or settings.DEDUPE_CHECKPOINT_DIR)
        self.stdout.write(f"Checkpoint of seq {head.seq} hash {head.hash} written to {path}")
