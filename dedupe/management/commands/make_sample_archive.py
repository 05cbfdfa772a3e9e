from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dedupe.sample import build_sample_archive


class Command(BaseCommand):
    help = "Write a sample archive (drawn street photographs with known duplicates) with its answer key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path)
        parser.add_argument("--originals", type=int, default=24, help="distinct photographs (default 24)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--megapixels", type=float, default=0.3)
        parser.add_argument("--no-bad", action="store_true", help="leave out the malformed files")

    def handle(self, *args: Any, **options: Any) -> None:
        archive = build_sample_archive(
            options["out"],
            originals=options["originals"],
            seed=options["seed"],
            bad=not options["no_bad"],
            megapixels=options["megapixels"],
        )
        self.stdout.write(
            f"{archive.files} files, {archive.duplicate_pairs} duplicate pairs, "
            f"{archive.lookalike_pairs} look-alike pairs -> {archive.root}"
        )
