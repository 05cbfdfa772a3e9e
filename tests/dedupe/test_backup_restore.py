"""Backup and restore of the embedded default, as an administrator would do it, each step its own process."""

import json
import os
import shutil
import uuid
from pathlib import Path

from tests.conftest import manage
from tests.factories import small_archive


def embedded(tmp_path) -> dict:
    """A deployment of its own (not the test database): SQLite file, media and checkpoints under tmp_path."""
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DEDUPE_VAR_DIR": str(tmp_path / "var"),
        "DEDUPE_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "CELERY_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
    }


def ok(*args: str, env: dict) -> str:
    done = manage(*args, env=env)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_a_restored_backup_checks_out_and_its_recorded_restore_reconciles_a_later_checkpoint(tmp_path):
    env = embedded(tmp_path)
    ok("migrate", "--noinput", env=env)
    ok("import_archive", str(small_archive(tmp_path / "first", photos=3)), "--sync", env=env)
    ok("backup_embedded", str(tmp_path / "backup"), env=env)
    backed_up = json.loads(ok("check_restore", "--json", env=env))
    ok("import_archive", str(small_archive(tmp_path / "second", photos=2)), "--sync", env=env)
    checkpoint = ok("audit_checkpoint", env=env).rsplit(" written to ", 1)[1].strip()

    # The disaster: everything is put back as the backup had it.
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"live.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup" / "db.sqlite3", tmp_path / "live.sqlite3")
    shutil.rmtree(tmp_path / "media")
    shutil.copytree(tmp_path / "backup" / "media", tmp_path / "media")

    restored = json.loads(ok("check_restore", "--json", env=env))
    assert restored == backed_up
    assert restored["assets"] > 0 and restored["assets_without_bytes"] == 0 and restored["problems"] == []
    before_record = manage("verify_audit", "--against", checkpoint, env=env)
    assert before_record.returncode == 1 and "no longer extends the checkpoint" in before_record.stderr

    ok("record_restore", "--label", "backup of the first import", env=env)
    verified = ok("verify_audit", "--against", checkpoint, env=env)

    assert verified.startswith("OK: ")
    assert f"checkpoint seq {json.loads(Path(checkpoint).read_text())['seq']} predates the restore" in verified
    assert f"to seq {backed_up['audit_head']['seq']}" in verified


def test_a_restore_note_not_signed_with_the_key_reconciles_nothing(tmp_path):
    env = embedded(tmp_path)
    ok("migrate", "--noinput", env=env)
    ok("import_archive", str(small_archive(tmp_path / "first", photos=2, bad=False)), "--sync", env=env)
    ok("backup_embedded", str(tmp_path / "backup"), env=env)
    ok("import_archive", str(small_archive(tmp_path / "second", photos=2, bad=False)), "--sync", env=env)
    checkpoint = ok("audit_checkpoint", env=env).rsplit(" written to ", 1)[1].strip()
    (tmp_path / "live.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"live.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup" / "db.sqlite3", tmp_path / "live.sqlite3")

    ok("record_restore", "--label", "made with another key", env=env | {"DEDUPE_AUDIT_CHECKPOINT_KEY": "x" * 40})

    refused = manage("verify_audit", "--against", checkpoint, env=env)
    assert refused.returncode == 1 and "no longer extends the checkpoint" in refused.stderr
