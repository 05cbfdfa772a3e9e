"""Indexes on the 16-bit blocks of each fingerprint's hashes: the gate's shared multi-index lookup
(dedupe.admission.nearby_ids). They index dedupe's table but live here, beside the API that
needs them; the expressions must stay exactly as nearby_ids writes them, or the planner skips them.
SQLite and PostgreSQL both index expressions and shift a signed 64-bit integer arithmetically, so
the masked block is the same bit pattern on both."""

from django.db import migrations

BLOCKS = [(column, shift) for column in ("phash", "phash_zoom") for shift in (0, 16, 32, 48)]


def create(column: str, shift: int) -> str:
    return (
        f"CREATE INDEX fingerprint_{column}_block{shift} ON dedupe_fingerprint "
        f"((({column} >> {shift}) & 65535))"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0008_api"),
        ("dedupe", "0007_keeper_facts"),
    ]

    operations = [
        migrations.RunSQL(create(column, shift), f"DROP INDEX fingerprint_{column}_block{shift}")
        for column, shift in BLOCKS
    ]
