import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.audit import CheckpointKeyMissing, CheckpointUntrusted, audit_verify, checkpoint_read
from dedupe.restore import restore_covering


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain: OK with the count and head hash (exit 0), or the first event "
        "altered, removed or reordered (exit 1). --against CHECKPOINT also proves the log still extends "
        "a head recorded earlier by audit_checkpoint, whose signature (DEDUPE_AUDIT_CHECKPOINT_KEY) must hold: "
        "an unsigned or forged checkpoint fails (exit 1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--against", type=Path, metavar="CHECKPOINT", help="a file written by audit_checkpoint")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        against = None
        if options["against"]:
            try:
                against = checkpoint_read(options["against"])
            except CheckpointUntrusted as exc:  # evidence of tampering, like a broken chain
                raise CommandError(str(exc), returncode=1) from None
            except (ValueError, CheckpointKeyMissing) as exc:
                raise CommandError(str(exc), returncode=2) from None
        report = audit_verify(against=against)
        restored = ""
        if against is not None and report.problem is not None and report.problem.kind == "checkpoint":
            # A restore recorded with record_restore explains a log that went back: verify against its point.
            note = restore_covering(against, [options["against"].parent, settings.DEDUPE_CHECKPOINT_DIR])
            if note is not None:
                report = audit_verify(against=note.head)
                restored = (
                    f"; checkpoint seq {against.seq} predates the restore recorded at {note.recorded_at} "
                    f"({note.label or 'no label'}) to seq {note.head.seq}; "
                    f"verified against that point ({note.path.name})"
                )
        if options["json"]:
            self.stdout.write(
                json.dumps({**report.as_dict(), "checkpoint": options["against"] and str(options["against"])})
            )
        if not report.ok:
            # The JSON, if asked for, is on stdout already; the reason goes to stderr either way.
            raise CommandError(f"{report.problem} (after {report.events} good events)", returncode=1)
        if not options["json"]:
            head = report.head
            line = f"OK: {report.events} events, head seq {head.seq} hash {head.hash}"
            if restored:
                line += restored
            elif against is not None:
                line += f"; extends checkpoint seq {against.seq} ({options['against']})"
            self.stdout.write(line)
