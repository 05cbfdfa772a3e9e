"""Signed checkpoints: whoever rewrites the chain cannot rewrite a checkpoint to match it."""

import io
import json
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import CommandError, call_command

from dedupe.audit import CheckpointKeyMissing, audit_checkpoint_write
from dedupe.models import AuditEvent
from tests.dedupe.test_audit_chain import append, rewrite_forward, tampering, verify

pytestmark = pytest.mark.django_db


def take_checkpoint(path: Path) -> dict:
    call_command("audit_checkpoint", "--output", str(path), stdout=io.StringIO())
    return json.loads(path.read_text())


def verify_against(path: Path) -> CommandError:
    with pytest.raises(CommandError) as failed:
        verify("--against", str(path))
    return failed.value


def test_a_checkpoint_carries_a_signature_that_verify_accepts(tmp_path):
    append(3)
    saved = take_checkpoint(tmp_path / "checkpoint.json")

    assert saved["signature"].startswith("hmac-sha256:") and len(saved["signature"]) == 12 + 64
    assert "extends checkpoint seq 3" in verify("--against", str(tmp_path / "checkpoint.json"))


def test_a_checkpoint_rewritten_to_match_a_rewritten_chain_is_caught(tmp_path):
    """The forger edits event 2, re-hashes forward, and puts the new head hash into the checkpoint."""
    append(5)
    checkpoint = tmp_path / "checkpoint.json"
    saved = take_checkpoint(checkpoint)
    with tampering() as cursor:
        cursor.execute("UPDATE dedupe_auditevent SET reason = 'rewritten' WHERE seq = 2")
        rewrite_forward(cursor, 2)
    checkpoint.write_text(json.dumps(saved | {"hash": AuditEvent.objects.get(seq=5).hash}))

    failed = verify_against(checkpoint)

    assert "FORGED CHECKPOINT" in str(failed) and "the content was altered" in str(failed)
    assert failed.returncode == 1


def test_a_checkpoint_with_its_signature_removed_is_refused_as_unsigned(tmp_path):
    append(2)
    checkpoint = tmp_path / "checkpoint.json"
    saved = take_checkpoint(checkpoint)
    checkpoint.write_text(json.dumps({k: v for k, v in saved.items() if k not in ("signature", "key_id")}))

    failed = verify_against(checkpoint)

    assert "UNSIGNED CHECKPOINT" in str(failed) and failed.returncode == 1


def test_a_checkpoint_signed_with_another_key_is_refused_and_says_so(settings, tmp_path):
    append(2)
    checkpoint = tmp_path / "checkpoint.json"
    settings.DEDUPE_AUDIT_CHECKPOINT_KEY = "another-key-that-is-long-enough-to-be-used"
    take_checkpoint(checkpoint)
    settings.DEDUPE_AUDIT_CHECKPOINT_KEY = "the-real-key-that-is-also-long-enough-to-use"

    failed = verify_against(checkpoint)

    assert "FORGED CHECKPOINT" in str(failed) and "it names key" in str(failed)


def test_the_signature_covers_every_field(tmp_path):
    append(2)
    checkpoint = tmp_path / "checkpoint.json"
    saved = take_checkpoint(checkpoint)
    checkpoint.write_text(json.dumps(saved | {"taken_at": "2020-01-01T00:00:00.000000Z"}))

    assert "FORGED CHECKPOINT" in str(verify_against(checkpoint))


def test_without_a_key_no_checkpoint_is_written_and_none_is_checked(settings, tmp_path):
    append(1)
    checkpoint = tmp_path / "checkpoint.json"
    take_checkpoint(checkpoint)
    settings.DEDUPE_AUDIT_CHECKPOINT_KEY = None

    with pytest.raises(CheckpointKeyMissing, match="DEDUPE_AUDIT_CHECKPOINT_KEY is not set"):
        audit_checkpoint_write(tmp_path / "second.json")
    assert not (tmp_path / "second.json").exists()
    failed = verify_against(checkpoint)
    assert "DEDUPE_AUDIT_CHECKPOINT_KEY is not set" in str(failed) and failed.returncode == 2


def test_check_deploy_warns_when_the_key_is_missing(settings):
    settings.DEDUPE_AUDIT_CHECKPOINT_KEY = None
    warned = [m.id for m in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])]

    settings.DEDUPE_AUDIT_CHECKPOINT_KEY = "tests-only-checkpoint-key-not-for-production"
    quiet = [m.id for m in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])]

    assert "dedupe.W001" in warned and "dedupe.W001" not in quiet
