from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.identity import process_actor
from review.services.api_tokens import TokenRefused, api_token_create


class Command(BaseCommand):
    help = "Create an API token for a source system; the token is printed once, on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the source system the token is for, e.g. permit-tablets")
        parser.add_argument(
            "--source", metavar="SLUG", action="append", default=[], help="a source it may read and write (repeat)"
        )
        parser.add_argument(
            "--read", metavar="SLUG", action="append", default=[], help="a source it may only read (repeat)"
        )
        parser.add_argument("--requests-per-minute", type=int, help="rate limit (default 120)")
        parser.add_argument("--max-upload-bytes", type=int, help="largest upload accepted (default 50 MiB)")

    def handle(self, *args, **options) -> None:
        if not options["source"] and not options["read"]:
            raise CommandError("name at least one source: --source SLUG (read and write) or --read SLUG")
        try:
            token, secret = api_token_create(
                name=options["name"],
                sources=options["source"],
                read_only=options["read"],
                actor_name=process_actor(),
                requests_per_minute=options["requests_per_minute"],
                max_upload_bytes=options["max_upload_bytes"],
            )
        except TokenRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"token {token.name} ({token.prefix}…) created; it is shown once, keep it now:")
        self.stdout.write(secret)
