"""Small helpers shared by the tenants tests (not fixtures)."""

from __future__ import annotations

from tenants.models import AuditEvent, Membership


def events(action: str, tenant=None, **filters) -> list[AuditEvent]:
    """Audit events with `action` (in `tenant`'s chain, or in every chain when tenant is None)."""
    qs = AuditEvent.objects.for_tenant(tenant) if tenant is not None else AuditEvent.objects.all_tenants()
    return list(qs.filter(action=action, **filters).order_by("id"))


def event_count() -> int:
    return AuditEvent.objects.all_tenants().count()


def membership_snapshot() -> list[tuple[int, int, str]]:
    """(tenant, user, role) of every membership: proves that a refused attempt changed nothing."""
    return list(Membership.objects.all_tenants().order_by("pk").values_list("tenant_id", "user_id", "role"))
