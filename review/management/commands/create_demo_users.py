import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser

from dedupe.models import Source
from dedupe.roles import Role
from review.models import SourceAssignment

DEMO_USERS = (
    ("admin", Role.ADMINISTRATOR),
    ("archivist", Role.ARCHIVIST),
    ("caseworker", Role.CASEWORKER),
    ("auditor", Role.AUDITOR),
)
CASEWORKER_SOURCES = ("housing-cases", "encampment-outreach")


class Command(BaseCommand):
    help = "Create (or reset) one demo login per role and print them. For demos only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="one password for every demo login (default: a random one each)")

    def handle(self, *args, **options) -> None:
        rows = []
        for username, role in DEMO_USERS:
            user, _ = get_user_model().objects.get_or_create(username=username)
            password = options["password"] or secrets.token_urlsafe(9)
            user.set_password(password)
            user.is_staff = user.is_superuser = role == Role.ADMINISTRATOR
            user.save()
            user.groups.set([Group.objects.get_or_create(name=role.value)[0]])
            rows.append((username, role.value, password))
        caseworker = get_user_model().objects.get(username="caseworker")
        for source in Source.objects.filter(slug__in=CASEWORKER_SOURCES):
            SourceAssignment.objects.get_or_create(user=caseworker, source=source)
        self.stdout.write(f"{'login':<12} {'role':<14} password")
        for username, role, password in rows:
            self.stdout.write(f"{username:<12} {role:<14} {password}")
