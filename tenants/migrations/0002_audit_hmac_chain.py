"""Keyed audit chain: every existing chain head is sealed where it stands.

Events already written stay plain SHA-256 links (they cannot be re-keyed without rewriting
history); each head records, under its new HMAC, that events from last_seq + 1 on are keyed.
A database writer can then not move that boundary or the tip without verify_audit_log noticing.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def seal_existing_heads(apps: Any, schema_editor: Any) -> None:
    from tenants.audit import head_mac

    head_model = apps.get_model("tenants", "AuditChainHead")
    for head in head_model.objects.all():
        head.sealed_from_seq = head.last_seq + 1
        head.mac = head_mac(
            key=head.key, last_seq=head.last_seq, last_hash=head.last_hash, sealed_from_seq=head.sealed_from_seq
        )
        head.save(update_fields=["sealed_from_seq", "mac"])


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="mac",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="sealed_from_seq",
            field=models.PositiveBigIntegerField(default=1),
        ),
        migrations.RunPython(seal_existing_heads, migrations.RunPython.noop),
    ]
