"""The one access path: which tenant a user is in, and whether an actor may do something there.

`access_require` is the check every entry point makes before it changes anything: the API base
(`tenants.api.base`), the console base (`tenants.console.base`) and every service that writes.
It asks `tenants.permissions.membership_has_capability` (the RBAC decision itself) and, when
the answer is no, writes the denied-attempt audit event before raising, so no caller can forget
either half. Services call it *before* opening their transaction: a refusal raised inside an
atomic block would roll its own audit event back.

`access_membership` resolves a user's membership from a tenant slug, for the console's
`/t/<tenant_slug>/` pages and for API session requests that name their tenant in `X-Tenant`.
"""

from __future__ import annotations

from typing import Any

from portal.exceptions import PermissionDenied
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Membership, Tenant
from tenants.permissions import CAPABILITIES, UnknownCapability, membership_has_capability

DENIED_ACTION = "tenants.permission.denied"
# tenant=None: platform-shared models (registry) and tenant creation, the two platform writes.
PLATFORM_ONLY = "Only the platform can change platform-shared models or create tenants."


def access_membership(*, user: object, tenant_slug: str) -> Membership | None:
    """The user's membership (tenant loaded) in the active tenant `tenant_slug`, or None.

    None covers every "no": unknown slug, inactive tenant, not a member, anonymous user. Callers
    answer 404 for all of them alike, so a tenant's existence is not revealed to outsiders.
    """
    if not tenant_slug or not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.for_user(user).select_related("tenant").filter(tenant__slug=tenant_slug).first()


def _membership_in(tenant: Tenant, actor: Actor) -> Membership | None:
    # A membership of another tenant grants nothing here (defence in depth: entry points build
    # the actor from the tenant they resolved, but a service cannot see how it was called).
    membership = actor.membership
    if membership is None or membership.tenant_id != tenant.pk:
        return None
    return membership


def access_allowed(*, tenant: Tenant | None, actor: Actor, capability: str) -> bool:
    """Whether `actor` holds `capability` in `tenant`, without auditing (for showing or hiding UI).

    System actors (tasks, management commands) hold every capability; `tenant=None` is the
    platform's own data (shared models), which only system actors may change. A token actor
    also needs a scope that grants the capability. An unknown capability raises
    `UnknownCapability` for every actor: a typo is a configuration error, never a pass.
    """
    if capability not in CAPABILITIES:
        raise UnknownCapability(capability)
    if actor.type == "system":
        return True
    if tenant is None:
        return False
    token_scopes = actor.token.scopes if actor.token is not None else None
    return membership_has_capability(
        membership=_membership_in(tenant, actor), capability=capability, token_scopes=token_scopes
    )


def access_deny(*, tenant: Tenant | None, actor: Actor, reason: str, target: Any = None, **detail: Any) -> None:
    """Record a refused attempt: the one writer of `tenants.permission.denied` events.

    Call it outside the refused operation's transaction (the refused work never started), so the
    event survives the exception that follows.
    """
    audit_record(tenant=tenant, actor=actor, action=DENIED_ACTION, target=target, changes={"reason": reason, **detail})


def access_require(*, tenant: Tenant | None, actor: Actor, capability: str, target: Any = None, **detail: Any) -> None:
    """Return if `actor` holds `capability` in `tenant`; otherwise audit the attempt and raise
    `portal.exceptions.PermissionDenied` (403) saying whether the role or the token's scopes
    fell short. `detail` (e.g. path, method) is stored with the denied-attempt event."""
    if access_allowed(tenant=tenant, actor=actor, capability=capability):
        return
    access_deny(tenant=tenant, actor=actor, target=target, reason=f"missing capability '{capability}'", **detail)
    if tenant is None:
        raise PermissionDenied(PLATFORM_ONLY)
    membership = _membership_in(tenant, actor)
    if actor.token is not None and membership_has_capability(membership=membership, capability=capability):
        raise PermissionDenied(f"This API token's scopes do not allow '{capability}'.")
    role = membership.role if membership is not None else "none"
    raise PermissionDenied(f"Your role ({role}) does not allow '{capability}'.")
