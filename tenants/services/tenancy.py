"""Tenants and memberships: creation, role changes, removal, with the owner invariants.

The access check (`tenants.access.access_require`) runs *before* each service opens its
transaction, so that a denied attempt is recorded in the audit log even though the operation
itself is refused and rolled back.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from portal.exceptions import ApplicationError, NotFound, PermissionDenied
from tenants.access import access_deny, access_require
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Membership, Tenant
from tenants.permissions import ROLE_RANK, Role
from tenants.usernames import username_for_email

User = get_user_model()


def _actor_rank(actor: Actor) -> int:
    if actor.type == "system":
        return ROLE_RANK[Role.OWNER]
    return ROLE_RANK[actor.membership.role] if actor.membership else 0


def _check_grant(*, tenant: Tenant, actor: Actor, role: str, target: Any = None) -> None:
    """Nobody grants a role above their own, nor manages a member ranked above themselves."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'. Use one of: {', '.join(Role.values)}.")
    if ROLE_RANK[role] > _actor_rank(actor):
        own = actor.membership.role if actor.membership else "none"
        access_deny(tenant=tenant, actor=actor, target=target, reason="role escalation", attempted_role=role)
        raise PermissionDenied(f"You cannot grant the role '{role}': it is above your own role '{own}'.")
    if isinstance(target, Membership) and ROLE_RANK[target.role] > _actor_rank(actor):
        access_deny(tenant=tenant, actor=actor, target=target, reason="member ranked above actor")
        raise PermissionDenied(f"You cannot change a member whose role ({target.role}) is above your own.")


def _ensure_other_owner(tenant: Tenant) -> None:
    # select_for_update serialises owner-affecting changes per tenant on PostgreSQL, so two
    # concurrent demotions cannot both see "another owner exists".
    owners = list(Membership.objects.for_tenant(tenant).select_for_update().filter(role=Role.OWNER))
    if len(owners) <= 1:
        raise ApplicationError(
            "This is the last owner of the tenant: add another owner before demoting or removing it."
        )


def tenant_create(*, actor: Actor, slug: str, name: str, owner: Any) -> Tenant:
    """Create a tenant and its first owner membership (platform operation, audited in the tenant)."""
    access_require(tenant=None, actor=actor, capability="tenant.settings")
    with transaction.atomic():
        tenant = Tenant(slug=slug, name=name)
        tenant.full_clean()
        tenant.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.tenant.created",
            target=tenant,
            changes={"slug": [None, slug], "name": [None, name]},
        )
        membership = Membership(tenant=tenant, user=owner, role=Role.OWNER)
        membership.full_clean()
        membership.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.membership.created",
            target=membership,
            changes={"user": [None, str(owner)], "role": [None, Role.OWNER]},
        )
    return tenant


def tenant_update_settings(*, tenant: Tenant, actor: Actor, changes: dict[str, Any]) -> Tenant:
    access_require(tenant=tenant, actor=actor, capability="tenant.settings", target=tenant)
    with transaction.atomic():
        before = dict(tenant.settings)
        tenant.settings = {**tenant.settings, **changes}
        tenant.save(update_fields=["settings"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.tenant.updated",
            target=tenant,
            changes={k: [before.get(k), v] for k, v in changes.items()},
        )
    return tenant


def membership_get(*, tenant: Tenant, membership_id: int) -> Membership:
    membership = Membership.objects.for_tenant(tenant).select_related("user").filter(pk=membership_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def membership_add(*, tenant: Tenant, actor: Actor, email: str, role: str) -> Membership:
    """Add a user (by email; created without a password if new, e.g. for SSO) with a role no
    higher than the actor's."""
    access_require(tenant=tenant, actor=actor, capability="members.manage")
    _check_grant(tenant=tenant, actor=actor, role=role)
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise ApplicationError("Enter a valid email address.")
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User(username=username_for_email(email), email=email)
            user.set_unusable_password()
            user.save()
        if Membership.objects.for_tenant(tenant).filter(user=user).exists():
            raise ApplicationError(f"{email} is already a member of this tenant.")
        membership = Membership(tenant=tenant, user=user, role=role)
        membership.full_clean()
        membership.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.membership.created",
            target=membership,
            changes={"user": [None, email], "role": [None, role]},
        )
    return membership


def membership_change_role(*, tenant: Tenant, actor: Actor, membership: Membership, role: str) -> Membership:
    """Change a member's role; the last owner cannot be demoted."""
    access_require(tenant=tenant, actor=actor, capability="members.manage", target=membership)
    _check_grant(tenant=tenant, actor=actor, role=role, target=membership)
    with transaction.atomic():
        if membership.role == Role.OWNER and role != Role.OWNER:
            _ensure_other_owner(tenant)
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.membership.updated",
            target=membership,
            changes={"role": [before, role]},
        )
    return membership


def membership_remove(*, tenant: Tenant, actor: Actor, membership: Membership) -> None:
    """Remove a member, or leave when the actor is that member. The last owner cannot leave."""
    is_self = actor.membership is not None and actor.membership.pk == membership.pk
    if not is_self:
        access_require(tenant=tenant, actor=actor, capability="members.manage", target=membership)
        _check_grant(tenant=tenant, actor=actor, role=membership.role, target=membership)
    with transaction.atomic():
        if membership.role == Role.OWNER:
            _ensure_other_owner(tenant)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.membership.deleted",
            target=membership,
            changes={"user": [str(membership.user), None], "role": [membership.role, None]},
        )
        membership.delete()
