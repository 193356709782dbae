"""Tenants, memberships, API tokens and the hash-chained audit log."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tenants.permissions import Role, Scope
from tenants.querysets import TenantQuerySet


class Tenant(models.Model):
    """An organisation using the portal. Every tenant-owned row points at exactly one Tenant."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    is_active = models.BooleanField(default=True)
    # Per-tenant settings (limits, guardrail switches); read through tenants.selectors.tenant_setting.
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class MembershipQuerySet(TenantQuerySet):
    def for_user(self, user: object) -> MembershipQuerySet:
        """A user's own memberships across tenants (the tenant switcher); scoped by user."""
        qs = self.filter(user=user, tenant__is_active=True)
        qs._scope = "user"
        return qs


class Membership(models.Model):
    """A user's role in a tenant. Invariant: every active tenant keeps at least one owner."""

    Role = Role

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        SSO = "sso", "SSO groups"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="uniq_membership_tenant_user")]
        ordering = ["tenant_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"


class ApiToken(models.Model):
    """A tenant-bound API token, `llmp_<key_id>.<secret>`, stored as an HMAC-SHA256 digest.

    Bound to one membership: deleting the membership deletes its tokens, and the token's
    effective rights are the intersection of its scopes and the member's current role.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, db_index=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    allowed_ips = models.JSONField(default=list, blank=True)  # CIDR strings; empty = anywhere
    # Requests per minute this token may make; null = settings.API_TOKEN_RATE_DEFAULT_PER_MIN.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (llmp_{self.key_id}…)"

    @property
    def prefix(self) -> str:
        return f"llmp_{self.key_id}"

    @property
    def effective_rate_per_minute(self) -> int:
        if self.rate_limit_per_minute:
            return int(self.rate_limit_per_minute)
        return int(settings.API_TOKEN_RATE_DEFAULT_PER_MIN)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def clean(self) -> None:
        unknown = set(self.scopes) - set(Scope.values)
        if unknown:
            raise ValidationError({"scopes": f"unknown scopes: {', '.join(sorted(unknown))}"})
        if not self.scopes:
            raise ValidationError({"scopes": "a token needs at least one scope"})


class AuditEventQuerySet(TenantQuerySet):
    """Append-only: bulk update/delete are refused at the ORM level."""

    def update(self, **kwargs: object) -> int:
        raise PermissionError("the audit log is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")


class AuditEvent(models.Model):
    """One state change or security-relevant attempt, hash-chained per tenant.

    `hash = HMAC-SHA256(AUDIT_HMAC_KEY, prev_hash || canonical JSON of the event's fields)` (plain
    SHA-256 for events written before the keyed chain, see AuditChainHead.sealed_from_seq); `seq`
    counts from 1 per chain (a tenant, or the platform chain for events with no tenant). Rows are
    never updated or deleted through the ORM; `manage.py verify_audit_log` recomputes the chain.
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        TOKEN = "token", "API token"
        SYSTEM = "system", "System"
        ANONYMOUS = "anonymous", "Anonymous"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    seq = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_token = models.ForeignKey(ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="uniq_audit_tenant_seq")]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("the audit log is append-only")


class AuditChainHead(models.Model):
    """The tip of one audit hash chain, locked (SELECT … FOR UPDATE) while appending.

    `mac` is an HMAC (settings.AUDIT_HMAC_KEY) over key, last_seq, last_hash and sealed_from_seq,
    so a database writer can neither move the tip (truncate the newest events, rewrite the newest
    one) nor move the boundary between legacy and keyed events without the check noticing.
    Events with seq >= sealed_from_seq are keyed (HMAC); older ones were written before the keyed
    chain existed and are plain SHA-256 links, pinned by the first keyed event's prev_hash.
    """

    key = models.CharField(max_length=80, unique=True)  # "tenant:<id>" or "platform"
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    sealed_from_seq = models.PositiveBigIntegerField(default=1)
    mac = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seq}"


class ExternalIdentity(models.Model):
    """A user's identity at an OIDC provider. SSO logins match on (issuer, subject) and nothing else.

    E-mail is only how a *first* login may be linked to an existing account (tenants/services/sso.py);
    afterwards the IdP's e-mail can change without moving the identity to another account.
    `last_validated_at` is the last time the IdP vouched for this identity (a login or a session
    re-validation); API tokens of SSO users stop working when it is too old.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    email = models.CharField(max_length=254, blank=True)  # as last asserted by the IdP; informational
    created_at = models.DateTimeField(auto_now_add=True)
    last_validated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="uniq_identity_issuer_subject")]
        ordering = ["issuer", "subject"]
        verbose_name_plural = "external identities"

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class TrustedIssuer(models.Model):
    """An OIDC issuer whose group claims (`<slug>:<role>`) this tenant accepts for memberships.

    Without a row here a tenant takes no membership from any IdP's groups: whoever runs an IdP the
    portal accepts logins from cannot grant themselves a role in a tenant that did not opt in.
    Set by the tenant's owners (capability `sso.trust`), audited.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="trusted_issuers")
    issuer = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "issuer"], name="uniq_trusted_issuer_tenant")]
        ordering = ["tenant_id", "issuer"]

    def __str__(self) -> str:
        return f"{self.tenant_id} trusts {self.issuer}"
