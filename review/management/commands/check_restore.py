import json
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Sum

from dedupe.audit import audit_verify
from dedupe.models import Asset, Attachment, AuditEvent, Record, Source
from review.invariants import check_invariants
from review.models import Decision, Merge


class Command(BaseCommand):
    help = (
        "Check a restored copy before it serves: check_invariants (rows and bytes both ways), verify_audit, "
        "and the row and byte counts to compare with the source's. Exit 1 if anything is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = check_invariants()
        chain = audit_verify()
        stored = Asset.objects.exclude(state=Asset.State.PURGED)
        missing = sum(1 for name in stored.values_list("storage_name", flat=True) if not default_storage.exists(name))
        figures = {
            "sources": Source.objects.count(),
            "records": Record.objects.count(),
            "attachments": Attachment.objects.count(),
            "assets": stored.count(),
            "asset_bytes": stored.aggregate(n=Sum("byte_size"))["n"] or 0,
            "assets_without_bytes": missing,
            "decisions": Decision.objects.count(),
            "merges": Merge.objects.count(),
            "audit_events": AuditEvent.objects.count(),
            "audit_head": {"seq": chain.head.seq, "hash": chain.head.hash},
            "audit_ok": chain.ok,
            "problems": problems,
        }
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            for name, value in figures.items():
                if name != "problems":
                    self.stdout.write(f"{name}: {value}")
            for problem in problems:
                self.stdout.write(problem)
        if problems or not chain.ok or missing:
            why = chain.problem if not chain.ok else f"{len(problems) + missing} problem(s)"
            raise CommandError(f"the restored copy is not sound: {why}", returncode=1)
        if not options["json"]:
            self.stdout.write("OK")
