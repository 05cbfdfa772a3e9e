from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.identity import process_actor
from review.models import ApiToken
from review.services.api_tokens import api_token_revoke


class Command(BaseCommand):
    help = "Revoke an API token by its name; requests carrying it are refused from now on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args, **options) -> None:
        token = ApiToken.objects.filter(name=options["name"]).first()
        if token is None:
            raise CommandError(f"no token named {options['name']!r}")
        done = api_token_revoke(token, actor_name=process_actor())
        self.stdout.write(f"token {token.name} {'revoked' if done else 'was revoked already'}")
