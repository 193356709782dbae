"""SSO: just-in-time users and group-claim -> membership sync, re-run at every login.

A claim value `<tenant-slug>:<role>` grants that role in that tenant. Memberships created by SSO
(`source=sso`) follow the claims exactly: a removed group removes access at the next login.
Manually granted memberships are left alone. Unknown tenants and invalid roles are ignored and
audited on the platform chain; the last owner of a tenant is never removed by a sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from tenants.access import access_deny
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Membership, Tenant
from tenants.permissions import ROLE_RANK, Role


@dataclass(frozen=True)
class ClaimMapping:
    value: str
    tenant_slug: str | None
    role: str | None
    status: str  # "grant" | "unknown_tenant" | "invalid_role" | "malformed"


def _claim_values(claims: dict[str, Any]) -> list[str]:
    raw = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(raw, str):
        raw = [raw]
    return [str(v).strip() for v in raw if str(v).strip()][:500]


def sso_map_claims(claims: dict[str, Any]) -> list[ClaimMapping]:
    """How each group value maps (the preview; no side effects)."""
    values = _claim_values(claims)
    slugs = {v.partition(":")[0].strip().lower() for v in values if ":" in v}
    known = set(Tenant.objects.filter(slug__in=slugs, is_active=True).values_list("slug", flat=True))
    out = []
    for value in values:
        slug, sep, role = value.partition(":")
        slug, role = slug.strip().lower(), role.strip().lower()
        if not sep or not slug or not role:
            out.append(ClaimMapping(value, None, None, "malformed"))
        elif role not in Role.values:
            out.append(ClaimMapping(value, slug, role, "invalid_role"))
        elif slug not in known:
            out.append(ClaimMapping(value, slug, role, "unknown_tenant"))
        else:
            out.append(ClaimMapping(value, slug, role, "grant"))
    return out


def sso_desired_roles(mappings: list[ClaimMapping]) -> dict[str, str]:
    desired: dict[str, str] = {}
    for m in mappings:
        if m.status != "grant" or not m.tenant_slug or not m.role:
            continue
        if m.tenant_slug not in desired or ROLE_RANK[m.role] > ROLE_RANK[desired[m.tenant_slug]]:
            desired[m.tenant_slug] = m.role
    return desired


@transaction.atomic
def sso_sync_memberships(*, user: Any, claims: dict[str, Any]) -> dict[str, list[str]]:
    """Make the user's SSO memberships match the claims. Returns what changed, by tenant slug."""
    mappings = sso_map_claims(claims)
    desired = sso_desired_roles(mappings)
    actor = Actor(type="system", label=f"sso sync for {user.email or user.username}")
    report: dict[str, list[str]] = {"added": [], "updated": [], "removed": [], "ignored": [], "kept": []}
    for m in mappings:
        if m.status != "grant":
            report["ignored"].append(m.value)
    if report["ignored"]:
        audit_record(
            tenant=None,
            actor=actor,
            action="tenants.sso.claims_ignored",
            target=user,
            changes={
                "values": report["ignored"][:50],
                "statuses": sorted({m.status for m in mappings if m.status != "grant"}),
            },
        )
    tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=desired.keys())}
    current = {m.tenant.slug: m for m in Membership.objects.for_user(user).select_related("tenant")}
    for slug, role in sorted(desired.items()):
        tenant = tenants[slug]
        existing = current.get(slug)
        if existing is None:
            membership = Membership.objects.create(tenant=tenant, user=user, role=role, source=Membership.Source.SSO)
            audit_record(
                tenant=tenant,
                actor=actor,
                action="tenants.membership.created",
                target=membership,
                changes={"user": [None, str(user)], "role": [None, role], "source": [None, "sso"]},
            )
            report["added"].append(slug)
        elif existing.source == Membership.Source.SSO and existing.role != role:
            if existing.role == Role.OWNER and not _has_other_owner(existing):
                report["kept"].append(slug)
                continue
            before = existing.role
            existing.role = role
            existing.save(update_fields=["role", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=actor,
                action="tenants.membership.updated",
                target=existing,
                changes={"role": [before, role], "source": ["sso", "sso"]},
            )
            report["updated"].append(slug)
    for slug, existing in sorted(current.items()):
        if slug in desired or existing.source != Membership.Source.SSO:
            continue
        if existing.role == Role.OWNER and not _has_other_owner(existing):
            report["kept"].append(slug)
            access_deny(
                tenant=existing.tenant,
                actor=actor,
                target=existing,
                reason="sso sync would remove the last owner; kept",
            )
            continue
        audit_record(
            tenant=existing.tenant,
            actor=actor,
            action="tenants.membership.deleted",
            target=existing,
            changes={"user": [str(user), None], "role": [existing.role, None], "source": ["sso", None]},
        )
        existing.delete()
        report["removed"].append(slug)
    return report


def _has_other_owner(membership: Membership) -> bool:
    return Membership.objects.for_tenant(membership.tenant).filter(role=Role.OWNER).exclude(pk=membership.pk).exists()
