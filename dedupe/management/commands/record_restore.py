import getpass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.audit import CheckpointKeyMissing
from dedupe.restore import restore_record


class Command(BaseCommand):
    help = (
        "Record that the database was just restored from a backup: a signed restore note (needs "
        "DEDUPE_AUDIT_CHECKPOINT_KEY) and an audit.restore event, so that verify_audit --against a checkpoint "
        "taken after the backup verifies against the restore point instead of reporting tampering."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--label", required=True, help="which backup was restored, e.g. its file name and date")
        parser.add_argument("--folder", type=Path, help="where to write the note (default: DEDUPE_CHECKPOINT_DIR)")

    def handle(self, *args: Any, **options: Any) -> None:
        folder = options["folder"] or settings.DEDUPE_CHECKPOINT_DIR
        try:
            note = restore_record(label=options["label"], folder=folder, actor_name=f"system:restore ({_user()})")
        except CheckpointKeyMissing as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(f"Restore to audit seq {note.head.seq} recorded: {note.path}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
