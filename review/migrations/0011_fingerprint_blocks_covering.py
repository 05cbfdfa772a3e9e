"""The gate's block indexes (0009) carry the hashes and the id, so a lookup reads only the indexes.

Measured at a million fingerprints on PostgreSQL (bench/gate.py): a lookup hits about 4,000 rows,
nearly each on its own table page, and fetching those pages was most of its 16-22 ms. With the
hashes in the index, the lookup is a union of index-only scans (about 5 ms). PostgreSQL keeps them
as INCLUDE columns (not part of the key); SQLite has no INCLUDE, so they are trailing key columns,
which its planner uses as a covering index the same way.
"""

from django.db import migrations

BLOCKS = [(column, shift) for column in ("phash", "phash_zoom") for shift in (0, 16, 32, 48)]
CARRIED = "asset_id, phash, phash_zoom"


def _key(column: str, shift: int) -> str:
    return f"(({column} >> {shift}) & 65535)"  # exactly as dedupe.admission.nearby_ids writes it


def covering(apps, schema_editor) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for column, shift in BLOCKS:
        name = f"fingerprint_{column}_block{shift}"
        schema_editor.execute(f"DROP INDEX {name}")
        columns = f"({_key(column, shift)}) INCLUDE ({CARRIED})" if postgres else f"({_key(column, shift)}, {CARRIED})"
        schema_editor.execute(f"CREATE INDEX {name} ON dedupe_fingerprint {columns}")


def plain(apps, schema_editor) -> None:
    for column, shift in BLOCKS:
        name = f"fingerprint_{column}_block{shift}"
        schema_editor.execute(f"DROP INDEX {name}")
        schema_editor.execute(f"CREATE INDEX {name} ON dedupe_fingerprint (({_key(column, shift)}))")


class Migration(migrations.Migration):
    dependencies = [("review", "0010_webhooks")]

    operations = [migrations.RunPython(covering, plain)]
