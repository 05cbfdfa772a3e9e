"""The audit log becomes a hash chain, and on PostgreSQL a trigger refuses UPDATE and DELETE on it.

Events already in the log are numbered and hashed in id order, so an existing database gets a
valid chain from its first event. TRUNCATE is not refused here (the test database is flushed
with it): in production the application's role is not granted TRUNCATE (see the README).
"""

from django.db import migrations, models

from dedupe.auditchain import GENESIS_HASH, event_content, event_hash

BATCH = 1000  # events hashed per UPDATE batch while chaining an existing log

FUNCTION = "dedupe_audit_append_only"
TRIGGERED = ("AuditEvent", "AuditSubject")


def chain_existing(apps, schema_editor) -> None:
    AuditEvent = apps.get_model("dedupe", "AuditEvent")
    AuditSubject = apps.get_model("dedupe", "AuditSubject")
    db = schema_editor.connection.alias
    seq, prev, last_id = 0, GENESIS_HASH, 0
    while True:
        batch = list(AuditEvent.objects.using(db).filter(pk__gt=last_id).order_by("pk")[:BATCH])
        if not batch:
            return
        subjects: dict[int, list[tuple[str, str]]] = {event.pk: [] for event in batch}
        for event_id, kind, object_id in (
            AuditSubject.objects.using(db)
            .filter(event_id__in=list(subjects))
            .values_list("event_id", "kind", "object_id")
        ):
            subjects[event_id].append((kind, object_id))
        for event in batch:
            seq += 1
            event.seq, event.prev_hash = seq, prev
            event.hash = prev = event_hash(prev, event_content(event, subjects[event.pk]))
        AuditEvent.objects.using(db).bulk_update(batch, ["seq", "prev_hash", "hash"])
        last_id = batch[-1].pk


def _tables(apps) -> list[str]:
    return [apps.get_model("dedupe", name)._meta.db_table for name in TRIGGERED]


def install_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """,
        params=None,  # not (): the body's % are PL/pgSQL's, not placeholders
    )
    for table in _tables(apps):
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {schema_editor.quote_name(table)} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
        )


def drop_trigger(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in _tables(apps):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {schema_editor.quote_name(table)}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("dedupe", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(db_index=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(
                default="", help_text="The hash of the event before (64 zeros for the first).", max_length=64
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(
                default="", help_text="SHA-256 of prev_hash and this event's canonical content.", max_length=64
            ),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(help_text="Position in the hash chain, from 1, without gaps.", unique=True),
        ),
        migrations.RunPython(install_trigger, drop_trigger),
    ]
