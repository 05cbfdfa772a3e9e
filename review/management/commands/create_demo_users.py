import secrets
from base64 import b32encode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.models import Source
from dedupe.roles import Role
from review.models import SourceAssignment
from review.two_factor import recovery_codes_issue, requires_second_factor

DEMO_USERS = (
    ("admin", Role.ADMINISTRATOR),
    ("archivist", Role.ARCHIVIST),
    ("caseworker", Role.CASEWORKER),
    ("auditor", Role.AUDITOR),
)
CASEWORKER_SOURCES = ("housing-cases", "encampment-outreach")


class Command(BaseCommand):
    help = (
        "Create (or reset) one demo login per role and print them, with the authenticator secret and "
        "recovery codes of the logins that need a second step. For demos only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="one password for every demo login (default: a random one each)")
        parser.add_argument(
            "--i-mean-demo",
            action="store_true",
            help="run although DEBUG is off: this database is a demo's (scripts/demo passes it)",
        )

    def handle(self, *args, **options) -> None:
        # Run by mistake against a production database it would hand out an administrator login
        # (and reset the passwords of accounts that happen to be called admin or archivist).
        if not (settings.DEBUG or options["i_mean_demo"]):
            raise CommandError(
                "create_demo_users makes known logins, an administrator among them: it runs only with "
                "DEBUG=1 or with --i-mean-demo on a database that is a demo's."
            )
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
        for username, role_name, password in rows:
            self.stdout.write(f"{username:<12} {role_name:<14} {password}")
        self.second_steps([get_user_model().objects.get(username=username) for username, _, _ in rows])

    def second_steps(self, users: list) -> None:
        """Enrol an authenticator for each login that needs one, and print what signing in takes."""
        from django_otp.plugins.otp_totp.models import TOTPDevice

        needing = [user for user in users if requires_second_factor(user)]
        if not needing:
            self.stdout.write("Second step: off (DEDUPE_REQUIRE_2FA=0): the passwords above are enough.")
            return
        self.stdout.write(
            "Second step for " + ", ".join(u.get_username() for u in needing) + ": after the password, type the "
            "code an authenticator app shows for the secret below (or `oathtool --totp -b SECRET`), "
            "or one of the recovery codes (each works once)."
        )
        for user in needing:
            TOTPDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name="demo authenticator", confirmed=True)
            codes = recovery_codes_issue(user)
            self.stdout.write(f"  {user.get_username():<10} secret {b32encode(device.bin_key).decode()}")
            self.stdout.write(f"  {'':<10} {device.config_url}")
            self.stdout.write(f"  {'':<10} recovery codes {' '.join(codes)}")
