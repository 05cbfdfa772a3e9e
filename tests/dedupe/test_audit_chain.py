"""The audit log as a hash chain: every way of tampering with it is caught, and only appending works.

Tampering goes through raw SQL, as someone with the database owner's rights would do it; on
PostgreSQL the append-only trigger is switched off for that first (only the owner can).
"""

import io
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.http import HttpResponse

from dedupe.audit import audit_record
from dedupe.auditchain import GENESIS_HASH, event_content, event_hash, iso_utc
from dedupe.models import AuditEvent, AuditSubject
from dedupe.origin import RequestContextMiddleware
from dedupe.tasks import audit_checkpoint_task
from tests.conftest import manage

pytestmark = pytest.mark.django_db

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="triggers and roles need PostgreSQL; CI runs this in its PostgreSQL pass"
)
TABLES = (AuditEvent._meta.db_table, AuditSubject._meta.db_table)


def append(count: int) -> list[AuditEvent]:
    """`count` events, as services write them: inside a transaction, each about a few objects."""
    with transaction.atomic():
        return [
            audit_record(
                action="asset.merge",
                actor_name="system:tests",
                subjects=[("asset", n), ("record", 1000 + n)],
                before={"state": "active"},
                after={"state": "quarantined", "step": n},
                reason=f"step {n}",
            )
            for n in range(count)
        ]


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue().strip()


def verify_fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as failed:
        verify(*args)
    assert failed.value.returncode == 1
    return failed.value


def head() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


@contextmanager
def tampering() -> Iterator:
    """A cursor with the append-only trigger off (PostgreSQL; as the table's owner)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while foreign-key checks of this transaction wait for commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                for table in TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def rewrite_forward(cursor, from_seq: int) -> None:
    """What a careful forger does after an edit: recompute every hash from the edited event on."""
    prev = AuditEvent.objects.get(seq=from_seq - 1).hash if from_seq > 1 else GENESIS_HASH
    for event in AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq"):
        digest = event_hash(prev, event_content(event, event.subjects.values_list("kind", "object_id")))
        cursor.execute("UPDATE dedupe_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", [prev, digest, event.pk])
        prev = digest


# --- the chain ---------------------------------------------------------------------------------


def test_each_event_links_to_the_one_before():
    events = append(4)

    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS_HASH
    for before, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == before.hash
    assert len({e.hash for e in events}) == 4


def test_the_hash_read_back_from_the_database_is_the_hash_written(rf):
    """Awkward values survive the round trip: int keys, big and small floats, IPv6, microseconds."""
    awkward = {1: "int key", "f": [1e16, 1e100, 0.1, 1.0, -0.0, 1.5e-10, 2**70], "t": ("a", None, True), "u": "é☃"}

    def view(request):
        with transaction.atomic():
            audit_record(action="source.update", subjects=[("source", 7), ("source", "7")], before=awkward, after=[])
        return HttpResponse("ok")

    RequestContextMiddleware(view)(rf.get("/", REMOTE_ADDR="2001:DB8:0:0:0:0:0:1"))
    written = AuditEvent.objects.get()

    stored = AuditEvent.objects.get(pk=written.pk)
    subjects = list(stored.subjects.values_list("kind", "object_id"))
    assert subjects == [("source", "7")]
    assert stored.ip == "2001:db8::1"
    assert iso_utc(stored.at) == iso_utc(written.at)
    assert event_hash(stored.prev_hash, event_content(stored, subjects)) == written.hash


def test_verify_audit_reports_the_count_and_the_head():
    append(3)

    assert verify() == f"OK: 3 events, head seq 3 hash {head().hash}"
    shown = json.loads(verify("--json"))
    assert shown["ok"] is True and shown["events"] == 3
    assert shown["head"]["seq"] == 3 and shown["head"]["hash"] == head().hash


def test_an_empty_log_verifies():
    assert verify() == f"OK: 0 events, head seq 0 hash {GENESIS_HASH}"


# --- tampering, each kind caught ---------------------------------------------------------------


def test_an_altered_event_is_caught():
    events = append(5)
    with tampering() as cursor:
        cursor.execute("UPDATE dedupe_auditevent SET reason = 'nothing to see' WHERE seq = 3")

    failed = verify_fails()
    assert f"ALTERED: event seq 3 (id {events[2].pk})" in str(failed)
    assert "after 2 good events" in str(failed)


def test_an_altered_subject_is_caught():
    events = append(5)
    with tampering() as cursor:
        cursor.execute(
            "UPDATE dedupe_auditsubject SET object_id = '999' WHERE event_id = %s AND kind = 'asset'", [events[3].pk]
        )

    assert f"ALTERED: event seq 4 (id {events[3].pk})" in str(verify_fails())


def test_a_removed_event_is_caught():
    events = append(5)
    with tampering() as cursor:
        cursor.execute("DELETE FROM dedupe_auditsubject WHERE event_id = %s", [events[2].pk])
        cursor.execute("DELETE FROM dedupe_auditevent WHERE id = %s", [events[2].pk])

    failed = verify_fails()
    assert f"REMOVED: event seq 4 (id {events[3].pk}): seq 3 missing before it" in str(failed)


def test_reordered_events_are_caught():
    events = append(5)
    with tampering() as cursor:
        cursor.execute("UPDATE dedupe_auditevent SET seq = -1 WHERE seq = 2")
        cursor.execute("UPDATE dedupe_auditevent SET seq = 2 WHERE seq = 3")
        cursor.execute("UPDATE dedupe_auditevent SET seq = 3 WHERE seq = -1")

    failed = verify_fails("--json")
    assert f"REORDERED: event seq 2 (id {events[2].pk})" in str(failed)


def test_a_chain_rewritten_from_an_edit_onward_fails_only_against_an_older_checkpoint(tmp_path):
    append(5)
    checkpoint = tmp_path / "checkpoint.json"
    call_command("audit_checkpoint", "--output", str(checkpoint), stdout=io.StringIO())
    append(2)
    assert "extends checkpoint seq 5" in verify("--against", str(checkpoint))

    with tampering() as cursor:
        cursor.execute("UPDATE dedupe_auditevent SET reason = 'rewritten' WHERE seq = 3")
        rewrite_forward(cursor, 3)

    assert verify().startswith("OK: 7 events")  # the walk alone cannot tell
    failed = verify_fails("--against", str(checkpoint))
    assert "CHECKPOINT: event seq 5" in str(failed)
    assert "the log no longer extends the checkpoint" in str(failed)


def test_removing_the_newest_events_fails_against_a_checkpoint(tmp_path):
    events = append(4)
    checkpoint = tmp_path / "checkpoint.json"
    call_command("audit_checkpoint", "--output", str(checkpoint), stdout=io.StringIO())
    with tampering() as cursor:
        cursor.execute("DELETE FROM dedupe_auditsubject WHERE event_id = %s", [events[3].pk])
        cursor.execute("DELETE FROM dedupe_auditevent WHERE id = %s", [events[3].pk])

    assert verify().startswith("OK: 3 events")
    failed = verify_fails("--against", str(checkpoint))
    assert "the log ends at seq 3, the checkpoint is at seq 4" in str(failed)


def test_an_unreadable_checkpoint_is_an_error_of_its_own(tmp_path):
    (tmp_path / "bad.json").write_text('{"seq": 1}')

    with pytest.raises(CommandError, match="not a readable audit checkpoint") as failed:
        verify("--against", str(tmp_path / "bad.json"))
    assert failed.value.returncode == 2


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoints_go_to_the_configured_folder_one_new_file_each_time(settings, tmp_path):
    settings.DEDUPE_CHECKPOINT_DIR = tmp_path / "checkpoints"
    append(2)

    first = Path(audit_checkpoint_task())
    append(1)
    second = Path(audit_checkpoint_task())

    assert first.parent == second.parent == tmp_path / "checkpoints" and first != second
    saved = json.loads(second.read_text())
    assert saved["seq"] == 3 and saved["hash"] == head().hash and saved["at"] == iso_utc(head().at)
    assert json.loads(first.read_text())["seq"] == 2


# --- append-only -------------------------------------------------------------------------------


def test_the_admin_shows_events_read_only(rf, django_user_model):
    request = rf.get("/")
    request.user = django_user_model.objects.create_superuser("root", password="x")
    model_admin = admin.site._registry[AuditEvent]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
@pytest.mark.postgres
@needs_postgres
def test_the_trigger_refuses_update_and_delete(table, statement):
    append(2)

    with (
        pytest.raises(DatabaseError, match="the audit log is append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(table=table))
    assert AuditSubject.objects.count() == 4 and verify().startswith("OK: 2 events")


@pytest.mark.postgres
@needs_postgres
def test_a_role_granted_select_and_insert_can_append_but_not_change():
    """The production grants from the README: the application's role adds events, nothing else."""
    append(2)
    role = f"dedupe_app_test_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT SELECT, INSERT ON {', '.join(TABLES)} TO {role}")
        for table in TABLES:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            cursor.execute(f"GRANT USAGE ON SEQUENCE {cursor.fetchone()[0]} TO {role}")
        cursor.execute(f"SET ROLE {role}")
        try:
            with transaction.atomic():
                audit_record(action="source.update", subjects=[("source", 1)], reason="as the application")
            for statement in ("UPDATE {table} SET id = id", "DELETE FROM {table}", "TRUNCATE {table} CASCADE"):
                for table in TABLES:
                    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                        cursor.execute(statement.format(table=table))
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
    assert verify().startswith("OK: 3 events")


# --- concurrency and the command line ----------------------------------------------------------

WRITERS = 8
EVENTS_EACH = 25


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_linear_chain():
    """Eight connections appending at once: seq 1..200 without gaps or forks. A real race on PostgreSQL."""
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EVENTS_EACH):
                with transaction.atomic():
                    audit_record(action="test.append", actor_name=f"writer{writer}", subjects=[("writer", writer)],
                                 after={"n": n})  # fmt: skip
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors, errors[:3]
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, WRITERS * EVENTS_EACH + 1)
    )
    assert verify().startswith(f"OK: {WRITERS * EVENTS_EACH} events")


@pytest.mark.django_db(transaction=True)
def test_the_commands_exit_0_when_intact_and_1_when_tampered(child_env, tmp_path):
    append(3)
    checkpoint = tmp_path / "checkpoint.json"

    written = manage("audit_checkpoint", "--output", str(checkpoint), env=child_env)
    intact = manage("verify_audit", "--against", str(checkpoint), env=child_env)
    with tampering() as cursor:
        cursor.execute("UPDATE dedupe_auditevent SET actor_name = 'someone else' WHERE seq = 2")
    tampered = manage("verify_audit", env=child_env)

    assert written.returncode == 0 and str(checkpoint) in written.stdout, written.stderr
    assert intact.returncode == 0 and intact.stdout.startswith("OK: 3 events, head seq 3"), intact.stderr
    assert tampered.returncode == 1
    assert "ALTERED: event seq 2" in tampered.stderr
