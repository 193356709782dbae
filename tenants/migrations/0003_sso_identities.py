"""SSO identities by (issuer, subject) and per-tenant trusted issuers.

Carrying over an existing installation (only when OIDC_OP_ISSUER is set at migrate time, since
the old rows never recorded their issuer): users that SSO provisioned get their identity back
from the `tenants.user.provisioned` audit event (which recorded the subject), and every tenant
that already has SSO memberships trusts that issuer, so nobody loses access at the next login.
Without OIDC_OP_ISSUER nothing is carried over: tenant owners add the issuer themselves, and
first logins link by e-mail only under OIDC_LINK_EMAIL_DOMAINS (docs/security.md).
"""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def carry_over(apps: Any, schema_editor: Any) -> None:
    issuer = getattr(settings, "OIDC_OP_ISSUER", "")
    if not issuer:
        return
    user_model = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    identity_model = apps.get_model("tenants", "ExternalIdentity")
    trusted_model = apps.get_model("tenants", "TrustedIssuer")
    event_model = apps.get_model("tenants", "AuditEvent")
    membership_model = apps.get_model("tenants", "Membership")
    now = timezone.now()
    provisioned = event_model.objects.filter(action="tenants.user.provisioned", tenant__isnull=True).order_by("seq")
    for event in provisioned:
        subject = (event.changes or {}).get("issuer_sub", [None, None])[-1]
        user = user_model.objects.filter(pk=event.target_id).first() if event.target_id.isdigit() else None
        if not subject or user is None or identity_model.objects.filter(issuer=issuer, subject=subject).exists():
            continue
        identity_model.objects.create(
            user=user, issuer=issuer, subject=str(subject)[:255], email=user.email or "", last_validated_at=now
        )
    tenant_ids = set(membership_model.objects.filter(source="sso").values_list("tenant_id", flat=True))
    for tenant_id in sorted(tenant_ids):
        trusted_model.objects.get_or_create(tenant_id=tenant_id, issuer=issuer)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_audit_hmac_chain"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExternalIdentity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("issuer", models.CharField(max_length=255)),
                ("subject", models.CharField(max_length=255)),
                ("email", models.CharField(blank=True, max_length=254)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("last_validated_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="external_identities",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "external identities",
                "ordering": ["issuer", "subject"],
                "constraints": [
                    models.UniqueConstraint(fields=("issuer", "subject"), name="uniq_identity_issuer_subject")
                ],
            },
        ),
        migrations.CreateModel(
            name="TrustedIssuer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("issuer", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="trusted_issuers", to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "ordering": ["tenant_id", "issuer"],
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "issuer"), name="uniq_trusted_issuer_tenant")
                ],
            },
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
    ]
