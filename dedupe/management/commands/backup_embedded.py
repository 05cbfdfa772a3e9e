from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.restore import backup_embedded


class Command(BaseCommand):
    help = (
        "Back up the embedded default (SQLite and the media folder) into a new folder: the database through "
        "SQLite's online backup, then the media. For PostgreSQL and object storage, see README (Backup and restore)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", type=Path, help="a folder that does not exist yet")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            target = backup_embedded(options["target"])
        except (ValueError, FileExistsError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backed up to {target} (db.sqlite3, media/).")
