from django.db import migrations, models


def keys_fill(apps, schema_editor):
    """Records imported before the key existed get theirs, a batch at a time."""
    from dedupe.addresses import address_key

    Record = apps.get_model("dedupe", "Record")
    batch = []
    for record in Record.objects.exclude(address="").only("pk", "address").iterator(chunk_size=2000):
        record.address_key = address_key(record.address)[:200]
        batch.append(record)
        if len(batch) == 2000:
            Record.objects.bulk_update(batch, ["address_key"])
            batch = []
    Record.objects.bulk_update(batch, ["address_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("dedupe", "0008_fingerprint_chroma"),
    ]

    operations = [
        migrations.AddField(
            model_name="record",
            name="address_key",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=200),
        ),
        migrations.RunPython(keys_fill, migrations.RunPython.noop),
    ]
