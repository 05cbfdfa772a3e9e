import getpass
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dedupe.orphans import orphans, orphans_reclaim


class Command(BaseCommand):
    help = (
        "List bytes in storage that no row references (left by interrupted imports); --delete reclaims them. "
        "A dry run by default. Files younger than --grace-minutes are left alone: their batch may not have committed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="delete what is found (default: only list it)")
        parser.add_argument("--grace-minutes", type=int, default=60, help="ignore files younger than this")

    def handle(self, *args: Any, **options: Any) -> None:
        found = list(orphans(grace=timedelta(minutes=options["grace_minutes"])))
        for name, size in found:
            self.stdout.write(f"{name}\t{size}")
        total = sum(size for _, size in found)
        if not options["delete"]:
            self.stdout.write(f"{len(found)} orphan file(s), {total:,} bytes; run again with --delete to reclaim them.")
            return
        reclaimed = orphans_reclaim(found, actor_name=f"system:sweep_orphans ({_user()})")
        self.stdout.write(f"Reclaimed {reclaimed:,} bytes.")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
