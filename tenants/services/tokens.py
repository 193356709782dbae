"""API tokens: `llmp_<key_id>.<secret>`, only an HMAC-SHA256 digest of the secret is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.exceptions import ApplicationError, NotFound, PermissionDenied
from tenants.access import access_deny, access_require
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import ROLE_RANK, Scope, scopes_allowed_for_role

TOKEN_PREFIX = "llmp_"  # noqa: S105 - a public prefix, not a secret
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# A token a member issues for somebody else: the audit trail names both people.
ISSUED_FOR_MEMBER_ACTION = "tenants.apitoken.issued_for_member"


def token_digest(secret: str) -> str:
    return hmac.new(settings.TOKEN_HMAC_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown exactly once


def _validate_ips(allowed_ips: list[str]) -> list[str]:
    cleaned = []
    for raw in allowed_ips:
        try:
            cleaned.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
        except ValueError as exc:
            raise ApplicationError(f"'{raw}' is not a valid IP address or CIDR range.") from exc
    return cleaned


def _check_issuer(*, tenant: Tenant, actor: Actor, membership: Membership) -> bool:
    """Whether the token is for somebody else; refuse (403, audited) when the issuer may not.

    A member may always issue tokens for themselves (within their own role's scopes). Issuing a
    token for another member acts as that member, so it needs `tokens.manage` and the other
    member must be ranked strictly below the issuer: an admin may issue for editors and viewers,
    never for another admin or an owner; an owner for admins, editors and viewers, never for
    another owner. Platform operators (system actors: `manage.py create_api_token`) may issue
    for anyone.
    """
    own = actor.membership is not None and actor.membership.pk == membership.pk
    if own:
        access_require(tenant=tenant, actor=actor, capability="tokens.create")
        return False
    access_require(tenant=tenant, actor=actor, capability="tokens.manage")
    if actor.type == "system":
        return True
    issuer = actor.membership if actor.membership is not None and actor.membership.tenant_id == tenant.pk else None
    issuer_role = issuer.role if issuer is not None else "none"
    if issuer is None or ROLE_RANK[membership.role] >= ROLE_RANK[issuer.role]:
        access_deny(
            tenant=tenant,
            actor=actor,
            target=membership,
            reason="token for a member ranked at or above the issuer",
            member=str(membership.user),
            member_role=membership.role,
            issuer_role=issuer_role,
        )
        raise PermissionDenied(
            f"You cannot issue a token for {membership.user} ({membership.role}): tokens for another "
            f"member can only be issued for members ranked below you ({issuer_role}). "
            "They can issue their own."
        )
    return True


def _validate_rate(rate: object) -> int | None:
    """A token's own rate (requests/minute): null for the platform default, else 1..the maximum."""
    if rate is None or rate == "":
        return None
    high = int(settings.API_TOKEN_RATE_MAX_PER_MIN)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= high:
        raise ApplicationError(f"rate_limit_per_minute must be a whole number from 1 to {high:,}, got {rate!r}.")
    return rate


def token_create(
    *,
    tenant: Tenant,
    actor: Actor,
    membership: Membership,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None = None,
    allowed_ips: list[str] | None = None,
    rate_limit_per_minute: int | None = None,
) -> IssuedToken:
    """Issue a token bound to `membership`. Scopes must be within that member's role; members
    create tokens for themselves, and for members ranked below them with `tokens.manage`
    (see `_check_issuer`; audited as `tenants.apitoken.issued_for_member`)."""
    if membership.tenant_id != tenant.pk:
        raise NotFound("Member not found.")
    for_other = _check_issuer(tenant=tenant, actor=actor, membership=membership)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError("Give the token a name of 1 to 100 characters.")
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise ApplicationError(
            f"Unknown or missing scopes {unknown}. Choose from: {', '.join(Scope.values)}."
            if unknown
            else "A token needs at least one scope."
        )
    allowed = set(scopes_allowed_for_role(membership.role))
    over = sorted(set(scopes) - allowed)
    if over:
        access_deny(tenant=tenant, actor=actor, reason="token scopes exceed role", scopes=over)
        raise PermissionDenied(
            f"A {membership.role} cannot hold the scopes {', '.join(over)}; allowed: {', '.join(sorted(allowed))}."
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry date must be in the future.")
    ips = _validate_ips(allowed_ips or [])
    rate = _validate_rate(rate_limit_per_minute)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken(
            tenant=tenant,
            membership=membership,
            name=name,
            key_id=key_id,
            digest=token_digest(secret),
            scopes=sorted(set(scopes)),
            allowed_ips=ips,
            expires_at=expires_at,
            rate_limit_per_minute=rate,
            created_by=actor.user,
        )
        # key_id is 48 random bits with a DB unique constraint; the ORM uniqueness pre-check would
        # need a cross-tenant query, so it is left to the database.
        token.full_clean(validate_unique=False, validate_constraints=False)
        token.save()
        changes = {
            "name": [None, name],
            "scopes": [None, token.scopes],
            "member": [None, str(membership.user)],
            "expires_at": [None, expires_at],
            "rate_limit_per_minute": [None, rate],
            "allowed_ips": [None, ips],
        }
        if for_other and actor.type != "system":
            # Impersonation: whoever holds this token acts as `membership`, so the event names
            # both parties (the issuer is also the event's actor).
            changes["issuer"] = actor.label
            changes["issuer_role"] = actor.membership.role if actor.membership else None
            changes["member_role"] = membership.role
            changes["member_id"] = membership.pk
        audit_record(
            tenant=tenant,
            actor=actor,
            action=ISSUED_FOR_MEMBER_ACTION if for_other and actor.type != "system" else "tenants.apitoken.created",
            target=token,
            changes=changes,
        )
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}{key_id}.{secret}")


def token_revoke(*, tenant: Tenant, actor: Actor, token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent). Members revoke their own; admins revoke anyone's."""
    own = actor.membership is not None and token.membership_id == actor.membership.pk
    access_require(tenant=tenant, actor=actor, capability="tokens.create" if own else "tokens.manage", target=token)
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.apitoken.revoked",
            target=token,
            changes={"revoked_at": [None, token.revoked_at]},
        )
    return token


def token_get(*, tenant: Tenant, token_id: int) -> ApiToken:
    token = ApiToken.objects.for_tenant(tenant).select_related("membership__user").filter(pk=token_id).first()
    if token is None:
        raise NotFound("Token not found.")
    return token


def token_touch(token: ApiToken) -> None:
    """Record use, at most once per minute per token (a conditional update, no read-modify-write)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    cutoff = now - LAST_USED_RESOLUTION
    ApiToken.objects.for_tenant(token.tenant).filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff)
    ).update(last_used_at=now)
    token.last_used_at = now


def ip_allowed(token: ApiToken, ip: str | None) -> bool:
    if not token.allowed_ips:
        return True
    if ip is None:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(net, strict=False) for net in token.allowed_ips)
