from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.invariants import check_invariants


class Command(BaseCommand):
    help = "Check that no record lost its picture and every merge and purge is whole; exit status 1 if not."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-bytes", action="store_true", help="do not ask storage whether each shown image's bytes exist"
        )

    def handle(self, *args, **options) -> None:
        problems = check_invariants(check_bytes=not options["skip_bytes"])
        if not problems:
            self.stdout.write("OK")
            return
        for problem in problems:
            self.stdout.write(problem)
        raise CommandError(f"{len(problems)} problem(s) found", returncode=1)
