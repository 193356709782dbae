from __future__ import annotations

from tenants.actors import Actor
from tenants.models import ApiToken, AuditEvent, Membership, TrustedIssuer
from tenants.services import audit_record
from tests.factories.tenants import MembershipFactory, UserFactory
from tests.support.api_mixins import CrossTenantAPITests


class TestMembersAPI(CrossTenantAPITests):
    list_url = "api:member-list"
    detail_url = "api:member-detail"
    covers_routes = ["api:member-list", "api:member-detail", "api:member-leave"]
    model = Membership
    write = ("post", "api:member-list", None, {"email": "new@xt-a.test", "role": "viewer"})

    def make_object(self, tenant, membership):
        return MembershipFactory(tenant=tenant, role="viewer", user=UserFactory(username=f"m@{tenant.slug}.test"))


class TestTokensAPI(CrossTenantAPITests):
    list_url = "api:token-list"
    detail_url = "api:token-detail"
    covers_routes = ["api:token-list", "api:token-detail", "api:token-revoke"]
    model = ApiToken
    # A read-only token may not mint tokens (creating tokens needs the admin scope).
    write = ("post", "api:token-list", None, {"name": "x", "scopes": ["read"]})
    write_role_too_low = "viewer"

    def make_object(self, tenant, membership):
        from tenants.services import token_create

        return token_create(tenant=tenant, actor=Actor.system(), membership=membership, name="t", scopes=["read"]).token

    def test_role_too_low_gets_403(self, two_tenants, api):
        # Any member may create tokens for themselves; "too low" here is revoking someone else's.
        low = MembershipFactory(tenant=two_tenants["ta"], role="viewer", user=UserFactory(username="v@xt-a.test"))
        resp = api(user=low.user, tenant="xt-a").post(
            f"/api/v1/tokens/{two_tenants['obj_a'].pk}/revoke/", {}, format="json"
        )
        assert resp.status_code == 404  # not even visible to a viewer


class TestAuditAPI(CrossTenantAPITests):
    list_url = "api:auditevent-list"
    detail_url = "api:auditevent-detail"
    covers_routes = ["api:auditevent-list", "api:auditevent-detail", "api:auditevent-export"]
    model = AuditEvent
    reader_role = "admin"

    def make_object(self, tenant, membership):
        return audit_record(
            tenant=tenant,
            actor=Actor.system(),
            action="tests.thing.created",
            target=("tests.thing", "1", f"thing of {tenant.slug}"),
        )


class TestMeAPI(CrossTenantAPITests):
    list_url = "api:me"
    covers_routes = ["api:me"]

    def make_object(self, tenant, membership):
        return membership

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        body = api(two_tenants["token_a"]).get("/api/v1/me/").json()
        assert body["tenant"]["slug"] == "xt-a"
        assert body["role"] == "owner"


class TestSsoPreviewAPI(CrossTenantAPITests):
    list_url = "api:sso-preview"
    covers_routes = ["api:sso-preview"]
    write = ("post", "api:sso-preview", None, {"claims": {"groups": ["xt-a:viewer"]}})

    def make_object(self, tenant, membership):
        return membership

    def test_unauthenticated_gets_401(self, two_tenants, api):
        assert api().post("/api/v1/sso/preview/", {"claims": {}}, format="json").status_code == 401

    def test_outsider_gets_404(self, two_tenants, api, outsider):
        resp = api(user=outsider, tenant="xt-a").post("/api/v1/sso/preview/", {"claims": {}}, format="json")
        assert resp.status_code == 404

    def test_token_for_tenant_a_with_x_tenant_b_is_404(self, two_tenants, api):
        resp = api(two_tenants["token_a"], tenant="xt-b").post("/api/v1/sso/preview/", {"claims": {}}, format="json")
        assert resp.status_code == 404

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        for tenant in (two_tenants["ta"], two_tenants["tb"]):
            TrustedIssuer.objects.create(tenant=tenant, issuer="https://idp.xt.test")
        resp = api(two_tenants["token_a"]).post(
            "/api/v1/sso/preview/",
            {"claims": {"groups": ["xt-a:editor", "xt-b:owner", "nope:admin"]}, "issuer": "https://idp.xt.test"},
            format="json",
        )
        assert resp.status_code == 200, resp.content
        body = resp.json()
        assert body["role"] == "editor"
        assert [v["value"] for v in body["values"]] == ["xt-a:editor"]  # nothing about other tenants
