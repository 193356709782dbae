"""Read paths for tenants: every selector starts from a tenant-scoped queryset."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from tenants.models import ApiToken, AuditEvent, Membership, Tenant
from tenants.permissions import membership_has_capability


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email", "pk")


def user_memberships(*, user: Any) -> QuerySet[Membership]:
    """The tenants a user may switch between."""
    return Membership.objects.for_user(user).select_related("tenant").order_by("tenant__name")


def token_list(*, tenant: Tenant, membership: Membership, token_scopes: list[str] | None = None) -> QuerySet[ApiToken]:
    """Admins see every token of the tenant; other members see their own."""
    qs = ApiToken.objects.for_tenant(tenant).select_related("membership__user")
    if not membership_has_capability(membership=membership, capability="tokens.manage", token_scopes=token_scopes):
        qs = qs.filter(membership=membership)
    return qs.order_by("-created_at")


def audit_event_list(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_tenant(tenant).select_related("actor").order_by("-created_at", "-id")


def tenant_setting(tenant: Tenant, key: str, default: Any) -> Any:
    return (tenant.settings or {}).get(key, default)
