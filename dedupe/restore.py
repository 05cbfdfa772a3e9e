"""Backups of the embedded default, and restores recorded so that older checkpoints are reconciled.

Restoring a backup rolls the audit log back to the backup's head: a checkpoint taken after the
backup then no longer matches, which is exactly what tampering looks like. A legitimate restore
is recorded by whoever holds the checkpoint key: a restore note, signed like checkpoints (but
never mistakable for one), naming the head the log was restored to, plus an `audit.restore`
event in the chain. `verify_audit --against` an older checkpoint then verifies against the
restore point instead, and says so. Without the key nobody can write such a note, so a database
rewritten by hand still fails.
"""

import hashlib
import hmac
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .actions import Action
from .audit import ChainHead, _checkpoint_key, _key_id, audit_head, audit_record
from .auditchain import iso_utc
from .models import AuditEvent

RESTORE_CONTEXT = b"dedupe-desk restore note v1\n"


@dataclass(frozen=True)
class RestoreNote:
    path: Path
    head: ChainHead  # the head the log was restored to
    recorded_at: str
    label: str


def backup_embedded(target: Path) -> Path:
    """Copy the SQLite database (online backup API: consistent while others write), then the media folder.

    Database first: every byte a row in the copy references was stored before that row committed,
    so the media copied afterwards holds them all (extra files are orphans, see sweep_orphans).
    """
    if connection.vendor != "sqlite":
        raise ValueError("backup_embedded is for the embedded SQLite default; see README for PostgreSQL")
    target.mkdir(parents=True, exist_ok=False)
    source = sqlite3.connect(str(connection.settings_dict["NAME"]))
    copy = sqlite3.connect(str(target / "db.sqlite3"))
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    if Path(settings.MEDIA_ROOT).exists():
        shutil.copytree(settings.MEDIA_ROOT, target / "media")
    return target


def _signature(fields: dict[str, Any], key: bytes) -> str:
    signed = {k: v for k, v in fields.items() if k != "signature"}
    content = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return "hmac-sha256:" + hmac.new(key, RESTORE_CONTEXT + content, hashlib.sha256).hexdigest()


def restore_record(*, label: str, folder: Path, actor_name: str) -> RestoreNote:
    """Record that the database was restored to its present head: a signed note in `folder` and an audit event."""
    key = _checkpoint_key()  # refuse before writing anything
    with transaction.atomic():
        head = audit_head()
        now = timezone.now()
        fields: dict[str, Any] = {
            "kind": "restore", "restored_seq": head.seq, "restored_hash": head.hash,
            "recorded_at": iso_utc(now), "label": label, "key_id": _key_id(key),
        }  # fmt: skip
        fields["signature"] = _signature(fields, key)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"audit-restore-{head.seq:012d}-{now:%Y%m%dT%H%M%S%fZ}.json"
        with path.open("x") as out:
            json.dump(fields, out, indent=2)
        audit_record(
            action=Action.AUDIT_RESTORE,
            actor_name=actor_name,
            after={"restored_to": {"seq": head.seq, "hash": head.hash}, "label": label, "note": path.name},
            reason="the database was restored from a backup",
        )
    return RestoreNote(path, head, fields["recorded_at"], label)


def restore_notes(folders: list[Path]) -> list[RestoreNote]:
    """The restore notes in `folders` whose signature holds under this key; others are ignored."""
    key = _checkpoint_key()
    notes = []
    for folder in dict.fromkeys(Path(f) for f in folders):
        for path in sorted(folder.glob("audit-restore-*.json")) if folder.is_dir() else []:
            try:
                data = json.loads(path.read_text())
                good = data.get("kind") == "restore" and hmac.compare_digest(
                    str(data.get("signature", "")), _signature(data, key)
                )
                head = ChainHead(int(data["restored_seq"]), str(data["restored_hash"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if good:
                notes.append(RestoreNote(path, head, str(data["recorded_at"]), str(data.get("label", ""))))
    return notes


def restore_covering(checkpoint: ChainHead, folders: list[Path]) -> RestoreNote | None:
    """A recorded restore that explains why the log no longer extends `checkpoint`, or None.

    It must roll back to before the checkpoint's head, be recorded after that head was written,
    and its restored head must be in today's chain: the log is then verified against it.
    """
    for note in sorted(restore_notes(folders), key=lambda n: n.recorded_at, reverse=True):
        in_chain = AuditEvent.objects.filter(seq=note.head.seq, hash=note.head.hash).exists() or note.head.seq == 0
        after_checkpoint = checkpoint.at is None or note.recorded_at > checkpoint.at
        if note.head.seq < checkpoint.seq and after_checkpoint and in_chain:
            return note
    return None
