"""SSO: who an OIDC login is, which tenants trust its IdP, and group-claim -> membership sync.

Identity. A login is matched to a portal account by (issuer, subject) only: `ExternalIdentity`.
A first login from an unknown (issuer, subject) may
- link to an existing account with the same e-mail, only if the IdP says `email_verified` is the
  JSON boolean true (a missing claim, `"true"` or `"false"` strings do not count), the address's
  domain is in settings.OIDC_LINK_EMAIL_DOMAINS, the account has no identity at this issuer yet,
  and the account is not platform staff (staff are linked by an operator, never by e-mail);
- create a new account, only for a verified e-mail no account uses;
- otherwise it is refused with a message saying why (`SsoLoginRefused`), audited.

Trust. A claim value `<tenant-slug>:<role>` grants that role in that tenant only when the tenant
trusts the login's issuer (`TrustedIssuer`, set by the tenant's owners). Memberships created by
SSO (`source=sso`) follow the claims exactly: a removed group, or a tenant that stopped trusting
the issuer, removes access at the next sync (every login and every session re-validation).
Manually granted memberships are left alone. Claims naming unknown tenants, invalid roles or
tenants that do not trust the issuer are ignored and audited; the last owner of a tenant is never
removed by a sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from portal.exceptions import ApplicationError, Conflict, NotFound
from tenants.access import access_deny, access_require
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import ExternalIdentity, Membership, Tenant, TrustedIssuer
from tenants.permissions import ROLE_RANK, Role
from tenants.usernames import username_for_email

REFUSED_ACTION = "tenants.sso.login_refused"


class SsoLoginRefused(Exception):
    """An SSO login the portal will not accept; `message` is shown to the person signing in."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class ClaimMapping:
    value: str
    tenant_slug: str | None
    role: str | None
    status: str  # "grant" | "unknown_tenant" | "untrusted_issuer" | "invalid_role" | "malformed"


# -- identity -------------------------------------------------------------------------------------


def _claim_str(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def sso_email_verified(claims: dict[str, Any]) -> bool:
    """Only the JSON boolean true counts: a missing claim, "true" or "false" strings do not."""
    return claims.get("email_verified") is True


def _refuse(*, issuer: str, subject: str, email: str, reason: str, message: str, user: Any = None) -> SsoLoginRefused:
    audit_record(
        tenant=None,
        actor=Actor.anonymous(label=email or subject or "anonymous"),
        action=REFUSED_ACTION,
        target=user,
        changes={"issuer": issuer, "subject": subject, "email": email, "reason": reason},
    )
    return SsoLoginRefused(message, reason)


def sso_resolve_user(*, issuer: str, claims: dict[str, Any]) -> Any:
    """The portal account for this login: by (issuer, subject), else linked or created by e-mail.

    Raises SsoLoginRefused (audited) when the login may not have an account. Marks the identity
    as validated now.
    """
    subject = _claim_str(claims, "sub", 255)
    email = _claim_str(claims, "email", 254).lower()
    if not issuer or not subject:
        raise _refuse(
            issuer=issuer,
            subject=subject,
            email=email,
            reason="no_subject",
            message="The identity provider's answer named no user (no issuer or subject); sign-in refused.",
        )
    now = timezone.now()
    identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        if not identity.user.is_active:
            raise _refuse(
                issuer=issuer,
                subject=subject,
                email=email,
                user=identity.user,
                reason="account_disabled",
                message="Your portal account is disabled. Ask a platform administrator.",
            )
        identity.last_validated_at = now
        identity.email = email
        identity.save(update_fields=["last_validated_at", "email"])
        return identity.user

    if not email or not sso_email_verified(claims):
        raise _refuse(
            issuer=issuer,
            subject=subject,
            email=email,
            reason="email_unverified",
            message=(
                "Your identity provider did not confirm that your e-mail address is verified "
                "(email_verified is not true), so the portal cannot create or link an account for you. "
                "Verify the address at your identity provider, then sign in again."
            ),
        )
    user_model = get_user_model()
    matches = list(user_model.objects.filter(Q(email__iexact=email) | Q(username__iexact=email))[:2])
    if len(matches) > 1:
        raise _refuse(
            issuer=issuer,
            subject=subject,
            email=email,
            reason="email_ambiguous",
            message=f"Several portal accounts use {email}; ask a platform administrator to link yours.",
        )
    if matches:
        return _link_existing(user=matches[0], issuer=issuer, subject=subject, email=email, now=now)
    return _provision(issuer=issuer, subject=subject, email=email, claims=claims, now=now)


def _link_existing(*, user: Any, issuer: str, subject: str, email: str, now: Any) -> Any:
    domain = email.rpartition("@")[2]
    allowed = domain in settings.OIDC_LINK_EMAIL_DOMAINS
    already = ExternalIdentity.objects.filter(user=user, issuer=issuer).exists()
    if not allowed or already or user.is_staff or user.is_superuser or not user.is_active:
        reason = (
            "link_domain_not_allowed"
            if not allowed
            else "link_already_linked"
            if already
            else "link_staff_account"
            if user.is_staff or user.is_superuser
            else "account_disabled"
        )
        raise _refuse(
            issuer=issuer,
            subject=subject,
            email=email,
            user=user,
            reason=reason,
            message=(
                f"A portal account with the e-mail address {email} already exists, and this sign-in may not "
                "take it over automatically. An existing account is linked to a single sign-on identity only "
                "when the identity provider has verified the address, its domain is allowed for linking, and "
                "the account has no other identity at this provider. Ask a platform administrator to link it."
            ),
        )
    with transaction.atomic():
        ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject, email=email, last_validated_at=now)
        audit_record(
            tenant=None,
            actor=Actor(type="system", label="sso linking"),
            action="tenants.user.identity_linked",
            target=user,
            changes={"issuer": issuer, "subject": subject, "email": email, "by": "verified_email"},
        )
    return user


def _provision(*, issuer: str, subject: str, email: str, claims: dict[str, Any], now: Any) -> Any:
    user_model = get_user_model()
    try:
        with transaction.atomic():
            user = user_model(
                username=username_for_email(email),
                email=email,
                first_name=_claim_str(claims, "given_name", 150),
                last_name=_claim_str(claims, "family_name", 150),
            )
            user.set_unusable_password()
            user.save()
            ExternalIdentity.objects.create(
                user=user, issuer=issuer, subject=subject, email=email, last_validated_at=now
            )
            audit_record(
                tenant=None,
                actor=Actor(type="system", label="sso provisioning"),
                action="tenants.user.provisioned",
                target=user,
                changes={"email": [None, email], "issuer": [None, issuer], "issuer_sub": [None, subject]},
            )
    except IntegrityError as exc:  # a concurrent first login of the same person won the race
        raise SsoLoginRefused(
            "Your account was being created by another sign-in; please sign in again.", "race"
        ) from exc
    return user


def sso_identity_validated_at(*, user: Any) -> Any:
    """When the IdP last vouched for this user (None if the user has no SSO identity)."""
    return ExternalIdentity.objects.filter(user=user).aggregate(at=Max("last_validated_at"))["at"]


def sso_identity_touch(*, user: Any, issuer: str, subject: str) -> bool:
    """Record a successful re-validation at the IdP; False if the identity no longer exists."""
    return bool(
        ExternalIdentity.objects.filter(user=user, issuer=issuer, subject=subject).update(
            last_validated_at=timezone.now()
        )
    )


# -- which tenants trust which issuer --------------------------------------------------------------


def sso_known_issuers() -> list[str]:
    """The issuers the portal accepts logins from (empty: not configured, any well-formed one)."""
    return [settings.OIDC_OP_ISSUER] if settings.OIDC_OP_ISSUER else []


def _validate_issuer(issuer: str) -> str:
    issuer = (issuer or "").strip()
    parts = urlsplit(issuer)
    if (
        len(issuer) > 255
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or any(c.isspace() for c in issuer)
    ):
        raise ApplicationError("issuer must be the IdP's issuer URL (https://…), at most 255 characters.")
    known = sso_known_issuers()
    if known and issuer not in known:
        raise ApplicationError(f"The portal accepts sign-ins only from {', '.join(known)}; trust that issuer instead.")
    return issuer


def trusted_issuer_list(*, tenant: Tenant) -> Any:
    return TrustedIssuer.objects.for_tenant(tenant).select_related("created_by").order_by("issuer")


def trusted_issuer_get(*, tenant: Tenant, trusted_id: int) -> TrustedIssuer:
    found = TrustedIssuer.objects.for_tenant(tenant).filter(pk=trusted_id).first()
    if found is None:
        raise NotFound("Trusted issuer not found.")
    return found


def tenant_issuer_trust(*, tenant: Tenant, actor: Actor, issuer: str) -> TrustedIssuer:
    """Let `issuer`'s group claims grant memberships in `tenant` (owners only; audited)."""
    access_require(tenant=tenant, actor=actor, capability="sso.trust", issuer=str(issuer)[:255])
    issuer = _validate_issuer(issuer)
    with transaction.atomic():
        if TrustedIssuer.objects.for_tenant(tenant).filter(issuer=issuer).exists():
            raise Conflict(f"This tenant already trusts {issuer}.")
        trusted = TrustedIssuer.objects.create(tenant=tenant, issuer=issuer, created_by=actor.user)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.sso.issuer_trusted",
            target=trusted,
            changes={"issuer": [None, issuer]},
        )
    return trusted


def tenant_issuer_untrust(*, tenant: Tenant, actor: Actor, trusted: TrustedIssuer) -> list[str]:
    """Stop trusting an issuer; its SSO memberships here end now (not at the next login).

    Returns the e-mails of the members removed. The last owner is kept (and the refusal audited).
    """
    access_require(tenant=tenant, actor=actor, capability="sso.trust", target=trusted)
    removed: list[str] = []
    with transaction.atomic():
        issuer = trusted.issuer
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.sso.issuer_untrusted",
            target=trusted,
            changes={"issuer": [issuer, None]},
        )
        trusted.delete()
        still_trusted = set(TrustedIssuer.objects.for_tenant(tenant).values_list("issuer", flat=True))
        memberships = (
            Membership.objects.for_tenant(tenant)
            .filter(source=Membership.Source.SSO, user__external_identities__issuer=issuer)
            .select_related("user")
            .distinct()
        )
        for membership in memberships:
            other = set(ExternalIdentity.objects.filter(user=membership.user).values_list("issuer", flat=True)) - {
                issuer
            }
            if other & still_trusted:
                continue  # the member's groups may still come from another issuer this tenant trusts
            if membership.role == Role.OWNER and not _has_other_owner(membership):
                continue
            audit_record(
                tenant=tenant,
                actor=actor,
                action="tenants.membership.deleted",
                target=membership,
                changes={
                    "user": [str(membership.user), None],
                    "role": [membership.role, None],
                    "source": ["sso", None],
                },
            )
            removed.append(membership.user.email or membership.user.username)
            membership.delete()
    return removed


# -- claims -> memberships -------------------------------------------------------------------------


def _claim_values(claims: dict[str, Any]) -> list[str]:
    raw = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        return []
    return [str(v).strip() for v in raw if str(v).strip()][:500]


def sso_map_claims(claims: dict[str, Any], *, issuer: str | None) -> list[ClaimMapping]:
    """How each group value maps for a login from `issuer` (the preview; no side effects)."""
    values = _claim_values(claims)
    slugs = {v.partition(":")[0].strip().lower() for v in values if ":" in v}
    known = set(Tenant.objects.filter(slug__in=slugs, is_active=True).values_list("slug", flat=True))
    trusting = (
        set(
            TrustedIssuer.objects.all_tenants()
            .filter(issuer=issuer, tenant__slug__in=known)
            .values_list("tenant__slug", flat=True)
        )
        if issuer
        else set()
    )
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
        elif slug not in trusting:
            out.append(ClaimMapping(value, slug, role, "untrusted_issuer"))
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
def sso_sync_memberships(*, user: Any, claims: dict[str, Any], issuer: str) -> dict[str, list[str]]:
    """Make the user's SSO memberships match the claims. Returns what changed, by tenant slug."""
    mappings = sso_map_claims(claims, issuer=issuer)
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
                "issuer": issuer,
            },
        )
    untrusted = {m.tenant_slug for m in mappings if m.status == "untrusted_issuer"}
    for tenant in Tenant.objects.filter(slug__in=untrusted).order_by("slug"):
        # The tenant's owners see that someone's IdP claimed a role in their tenant.
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenants.sso.claim_untrusted",
            target=user,
            changes={
                "issuer": issuer,
                "values": [m.value for m in mappings if m.tenant_slug == tenant.slug][:20],
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
                changes={"user": [None, str(user)], "role": [None, role], "source": [None, "sso"], "issuer": issuer},
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
                changes={"role": [before, role], "source": ["sso", "sso"], "issuer": issuer},
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
        # Deleting the membership deletes its API tokens (CASCADE): SSO access ends everywhere.
        existing.delete()
        report["removed"].append(slug)
    return report


def _has_other_owner(membership: Membership) -> bool:
    return Membership.objects.for_tenant(membership.tenant).filter(role=Role.OWNER).exclude(pk=membership.pk).exists()
