"""Which IdP issuers a tenant trusts for group-claim memberships (owners set it, audited), and the
identity rules that need no running provider."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from portal.exceptions import PermissionDenied
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import ExternalIdentity, Membership, TrustedIssuer
from tenants.services import token_create
from tenants.services.sso import SsoLoginRefused, sso_resolve_user, tenant_issuer_trust, tenant_issuer_untrust
from tests.factories.tenants import MembershipFactory, UserFactory
from tests.support.api_mixins import CrossTenantAPITests
from tests.tenants.helpers import events

ISS = "https://idp.acme.test"
OTHER = "https://idp.other.test"
URL = "/api/v1/sso/trusted-issuers/"
User = get_user_model()
carry_over_migration = importlib.import_module("tenants.migrations.0003_sso_identities")


class TestTrustedIssuersAPI(CrossTenantAPITests):
    list_url = "api:trustedissuer-list"
    detail_url = "api:trustedissuer-detail"
    covers_routes = ["api:trustedissuer-list", "api:trustedissuer-detail"]
    model = TrustedIssuer
    write = ("post", "api:trustedissuer-list", None, {"issuer": "https://idp.xt.test"})
    write_role_too_low = "admin"  # only owners choose whom the tenant trusts

    def make_object(self, tenant, membership):
        return TrustedIssuer.objects.create(tenant=tenant, issuer=f"https://idp.{tenant.slug}.test")


def _identity(user, issuer: str = ISS, subject: str | None = None) -> ExternalIdentity:
    return ExternalIdentity.objects.create(
        user=user, issuer=issuer, subject=subject or user.username, last_validated_at=timezone.now()
    )


# -- trust: API, audit, validation -----------------------------------------------------------------


def test_owner_trusts_an_issuer_and_it_is_audited(owner_a, api):
    resp = api(user=owner_a.user, tenant="acme").post(URL, {"issuer": ISS}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["issuer"] == ISS and resp.json()["created_by"] == "owner@acme.test"
    event = events("tenants.sso.issuer_trusted", owner_a.tenant)[-1]
    assert event.changes == {"issuer": [None, ISS]} and event.actor_label == "owner@acme.test"
    listed = api(user=owner_a.user, tenant="acme").get(URL).json()["results"]
    assert [row["issuer"] for row in listed] == [ISS]


def test_an_admin_cannot_choose_trusted_issuers(owner_a, admin_a, api):
    resp = api(user=admin_a.user, tenant="acme").post(URL, {"issuer": ISS}, format="json")
    assert resp.status_code == 403 and "sso.trust" in resp.json()["detail"]
    assert not TrustedIssuer.objects.for_tenant(owner_a.tenant).exists()
    denial = events("tenants.permission.denied", owner_a.tenant)[-1]
    assert denial.changes["reason"] == "missing capability 'sso.trust'"
    trusted = TrustedIssuer.objects.create(tenant=owner_a.tenant, issuer=ISS)
    assert api(user=admin_a.user, tenant="acme").delete(f"{URL}{trusted.pk}/").status_code == 403
    assert TrustedIssuer.objects.for_tenant(owner_a.tenant).count() == 1


@pytest.mark.parametrize(
    ("issuer", "status", "message"),
    [
        ("not a url", 400, "issuer URL"),
        ("ftp://idp.acme.test", 400, "issuer URL"),
        ("https://idp.acme.test/ x", 400, "issuer URL"),
        ("https://" + "a" * 250 + ".test", 400, "255 characters"),
    ],
)
def test_bad_issuers_are_refused(owner_a, api, issuer, status, message):
    resp = api(user=owner_a.user, tenant="acme").post(URL, {"issuer": issuer}, format="json")
    assert resp.status_code == status and message in str(resp.json()), resp.content


def test_duplicates_and_unknown_issuers_are_refused(owner_a, api, settings):
    client = api(user=owner_a.user, tenant="acme")
    assert client.post(URL, {"issuer": ISS}, format="json").status_code == 201
    dup = client.post(URL, {"issuer": ISS}, format="json")
    assert dup.status_code == 409 and "already trusts" in dup.json()["detail"]
    settings.OIDC_OP_ISSUER = ISS  # the portal accepts logins only from ISS
    other = client.post(URL, {"issuer": OTHER}, format="json")
    assert other.status_code == 400 and f"only from {ISS}" in other.json()["detail"]


def test_untrusting_ends_the_memberships_that_issuer_granted(owner_a, tenant_b, api):
    tenant = owner_a.tenant
    trusted = TrustedIssuer.objects.create(tenant=tenant, issuer=ISS)
    TrustedIssuer.objects.create(tenant=tenant, issuer=OTHER)
    from_iss = MembershipFactory(tenant=tenant, role="editor", source="sso", user=UserFactory(username="a@acme.test"))
    _identity(from_iss.user)
    token = token_create(tenant=tenant, actor=Actor.system(), membership=from_iss, name="t", scopes=["read"])
    manual = MembershipFactory(tenant=tenant, role="viewer", source="manual", user=UserFactory(username="m@acme.test"))
    _identity(manual.user)
    both = MembershipFactory(tenant=tenant, role="viewer", source="sso", user=UserFactory(username="b@acme.test"))
    _identity(both.user)
    _identity(both.user, OTHER)  # still vouched for by an issuer acme keeps trusting
    elsewhere = MembershipFactory(tenant=tenant_b, role="viewer", source="sso", user=from_iss.user)

    resp = api(user=owner_a.user, tenant="acme").delete(f"{URL}{trusted.pk}/")
    assert resp.status_code == 204, resp.content
    remaining = set(Membership.objects.for_tenant(tenant).values_list("user__username", flat=True))
    assert remaining == {"owner@acme.test", "m@acme.test", "b@acme.test"}
    assert Membership.objects.for_tenant(tenant_b).filter(pk=elsewhere.pk).exists()  # globex is globex's call
    assert api(token.plaintext).get("/api/v1/me/").status_code == 401
    assert events("tenants.sso.issuer_untrusted", tenant)[-1].changes == {"issuer": [ISS, None]}
    assert events("tenants.membership.deleted", tenant)[-1].changes["user"] == ["a@acme.test", None]


def test_untrusting_keeps_the_last_owner(tenant_a):
    sole = MembershipFactory(tenant=tenant_a, role="owner", source="sso", user=UserFactory(username="o@acme.test"))
    _identity(sole.user)
    trusted = TrustedIssuer.objects.create(tenant=tenant_a, issuer=ISS)
    removed = tenant_issuer_untrust(tenant=tenant_a, actor=Actor.for_user(sole.user, sole), trusted=trusted)
    assert removed == [] and Membership.objects.for_tenant(tenant_a).filter(pk=sole.pk).exists()


def test_service_refuses_a_non_owner(admin_a):
    with pytest.raises(PermissionDenied):
        tenant_issuer_trust(tenant=admin_a.tenant, actor=Actor.for_user(admin_a.user, admin_a), issuer=ISS)


# -- console ---------------------------------------------------------------------------------------


def test_console_page_owner_adds_and_removes_an_issuer(owner_a, admin_a):
    owner = Client()
    owner.force_login(owner_a.user)
    page = owner.get("/t/acme/sso/")
    assert page.status_code == 200 and b'id="trust-form"' in page.content
    assert b"No issuer is trusted" in page.content
    resp = owner.post("/t/acme/sso/", {"op": "trust", "issuer": ISS}, follow=True)
    assert b"is now trusted" in resp.content and ISS.encode() in resp.content
    trusted = TrustedIssuer.objects.for_tenant(owner_a.tenant).get()
    bad = owner.post("/t/acme/sso/", {"op": "trust", "issuer": "nope"}, follow=True)
    assert b"issuer URL" in bad.content

    admin = Client()
    admin.force_login(admin_a.user)
    seen = admin.get("/t/acme/sso/")
    assert seen.status_code == 200 and ISS.encode() in seen.content and b'id="trust-form"' not in seen.content
    assert admin.post("/t/acme/sso/", {"op": "untrust", "trusted_id": trusted.pk}).status_code == 403

    gone = owner.post("/t/acme/sso/", {"op": "untrust", "trusted_id": trusted.pk}, follow=True)
    assert b"no longer trusted" in gone.content
    assert not TrustedIssuer.objects.for_tenant(owner_a.tenant).exists()


def test_console_page_is_not_for_viewers(viewer_a):
    client = Client()
    client.force_login(viewer_a.user)
    assert client.get("/t/acme/sso/").status_code == 403


# -- identity rules (no provider) ------------------------------------------------------------------


def _claims(sub: str, email: str, **extra) -> dict:
    return {"sub": sub, "email": email, "email_verified": True, **extra}


def test_staff_accounts_are_never_linked_by_email(db, settings):
    settings.OIDC_LINK_EMAIL_DOMAINS = ["platform.test"]
    UserFactory(username="root@platform.test", is_staff=True, is_superuser=True)
    with pytest.raises(SsoLoginRefused) as refused:
        sso_resolve_user(issuer=ISS, claims=_claims("root", "root@platform.test"))
    assert refused.value.reason == "link_staff_account"
    assert not ExternalIdentity.objects.exists()


def test_a_disabled_account_is_refused_even_with_a_known_identity(db):
    user = UserFactory(username="gone@acme.test", is_active=False)
    _identity(user, subject="gone")
    with pytest.raises(SsoLoginRefused) as refused:
        sso_resolve_user(issuer=ISS, claims=_claims("gone", "gone@acme.test"))
    assert refused.value.reason == "account_disabled"


def test_a_new_user_needs_a_verified_email_and_a_subject(db):
    with pytest.raises(SsoLoginRefused) as unverified:
        sso_resolve_user(issuer=ISS, claims=_claims("n", "new@acme.test", email_verified=1))
    assert unverified.value.reason == "email_unverified"
    with pytest.raises(SsoLoginRefused) as no_sub:
        sso_resolve_user(issuer=ISS, claims=_claims("", "new@acme.test"))
    assert no_sub.value.reason == "no_subject"
    user = sso_resolve_user(issuer=ISS, claims=_claims("n", "New@Acme.test"))
    assert user.email == "new@acme.test" and not user.has_usable_password()
    assert list(user.external_identities.values_list("issuer", "subject")) == [(ISS, "n")]


# -- carrying an installation over (migration 0003) ------------------------------------------------


def test_migration_carries_over_sso_users_and_trust_when_the_issuer_is_configured(tenant_a, settings):
    user = UserFactory(username="legacy@acme.test")
    user.set_unusable_password()
    user.save()
    audit_record(
        tenant=None,
        actor=Actor.system(label="sso provisioning"),
        action="tenants.user.provisioned",
        target=user,
        changes={"email": [None, user.email], "issuer_sub": [None, "legacy-sub"]},
    )
    MembershipFactory(tenant=tenant_a, user=user, role="editor", source="sso")
    # The models as the migration sees them (plain managers, like a real `migrate` run).
    state_apps = MigrationLoader(connection).project_state(("tenants", "0003_sso_identities")).apps
    carry_over_migration.carry_over(state_apps, None)  # no OIDC_OP_ISSUER: nothing is guessed
    assert not ExternalIdentity.objects.exists() and not TrustedIssuer.objects.all_tenants().exists()
    settings.OIDC_OP_ISSUER = ISS
    carry_over_migration.carry_over(state_apps, None)
    assert list(user.external_identities.values_list("issuer", "subject")) == [(ISS, "legacy-sub")]
    assert list(TrustedIssuer.objects.for_tenant(tenant_a).values_list("issuer", flat=True)) == [ISS]


# -- Django admin ----------------------------------------------------------------------------------


def test_admin_lists_identities_and_unlinking_is_audited(db):
    root = UserFactory(username="root@platform.test", is_staff=True, is_superuser=True)
    identity = _identity(UserFactory(username="u@acme.test"), subject="u-sub")
    client = Client()
    client.force_login(root)
    page = client.get("/admin/tenants/externalidentity/")
    assert page.status_code == 200 and b"u-sub" in page.content
    assert client.get("/admin/tenants/trustedissuer/").status_code == 200
    resp = client.post(f"/admin/tenants/externalidentity/{identity.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302 and not ExternalIdentity.objects.exists()
    unlinked = events("tenants.user.identity_unlinked")[-1]
    assert unlinked.changes == {"issuer": ISS, "subject": "u-sub"} and unlinked.actor_label == "root@platform.test"
