"""The one access path (tenants.access) and the two bases that must go through it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import View

from portal.exceptions import PermissionDenied
from tenants.access import access_allowed, access_membership, access_require
from tenants.actors import Actor
from tenants.api.base import TenantScopedViewSet
from tenants.console.base import TenantConsoleView
from tenants.models import Tenant
from tenants.permissions import UnknownCapability
from tenants.services import membership_add, tenant_create, token_create
from tests.tenants.helpers import events, membership_snapshot


def _token_actor(membership, scopes: list[str]) -> Actor:
    issued = token_create(
        tenant=membership.tenant, actor=Actor.system(), membership=membership, name="t", scopes=scopes
    )
    return Actor.for_token(issued.token)


# -- access_require ---------------------------------------------------------------------------------


def test_a_too_low_role_is_refused_with_its_role_and_the_refusal_is_audited(viewer_a):
    actor = Actor.for_user(viewer_a.user, viewer_a)
    with pytest.raises(PermissionDenied) as exc:
        access_require(tenant=viewer_a.tenant, actor=actor, capability="members.manage", path="/x")
    assert exc.value.message == "Your role (viewer) does not allow 'members.manage'."
    assert exc.value.status_code == 403
    denial = events("tenants.permission.denied", viewer_a.tenant)[-1]
    assert denial.changes == {"reason": "missing capability 'members.manage'", "path": "/x"}
    assert denial.actor == viewer_a.user


def test_a_token_short_of_scope_is_told_so_even_when_the_role_would_allow(admin_a):
    with pytest.raises(PermissionDenied) as exc:
        access_require(tenant=admin_a.tenant, actor=_token_actor(admin_a, ["read"]), capability="members.manage")
    assert exc.value.message == "This API token's scopes do not allow 'members.manage'."
    assert access_allowed(tenant=admin_a.tenant, actor=_token_actor(admin_a, ["admin"]), capability="members.manage")


def test_a_membership_of_another_tenant_grants_nothing(owner_a, tenant_b):
    actor = Actor.for_user(owner_a.user, owner_a)
    with pytest.raises(PermissionDenied) as exc:
        access_require(tenant=tenant_b, actor=actor, capability="tenant.view")
    assert exc.value.message == "Your role (none) does not allow 'tenant.view'."
    assert events("tenants.permission.denied", tenant_b)
    assert not events("tenants.permission.denied", owner_a.tenant)


def test_system_actors_pass_and_platform_data_is_theirs_alone(owner_a):
    access_require(tenant=owner_a.tenant, actor=Actor.system(), capability="deploy.rollout")
    access_require(tenant=None, actor=Actor.system(), capability="models.write")
    with pytest.raises(PermissionDenied) as exc:
        access_require(tenant=None, actor=Actor.for_user(owner_a.user, owner_a), capability="models.write")
    assert "Only the platform" in exc.value.message
    assert events("tenants.permission.denied", None)[-1].tenant is None  # the platform chain


def test_an_unknown_capability_is_an_error_for_every_actor(owner_a):
    for actor in (Actor.system(), Actor.for_user(owner_a.user, owner_a)):
        with pytest.raises(UnknownCapability):
            access_require(tenant=owner_a.tenant, actor=actor, capability="members.mange")


def test_access_membership_answers_none_for_every_kind_of_no(owner_a, owner_b, outsider):
    assert access_membership(user=owner_a.user, tenant_slug="acme") == owner_a
    assert access_membership(user=owner_a.user, tenant_slug="globex") is None
    assert access_membership(user=outsider, tenant_slug="acme") is None
    assert access_membership(user=owner_a.user, tenant_slug="") is None
    Tenant.objects.filter(pk=owner_a.tenant_id).update(is_active=False)
    assert access_membership(user=owner_a.user, tenant_slug="acme") is None


# -- services call it -------------------------------------------------------------------------------


def test_member_add_by_an_editor_called_directly_is_refused_and_audited(editor_a):
    before = membership_snapshot()
    with pytest.raises(PermissionDenied, match=r"Your role \(editor\) does not allow 'members.manage'"):
        membership_add(
            tenant=editor_a.tenant, actor=Actor.for_user(editor_a.user, editor_a), email="x@acme.test", role="viewer"
        )
    assert membership_snapshot() == before
    assert events("tenants.permission.denied", editor_a.tenant)[-1].actor == editor_a.user


def test_tenant_create_by_a_user_is_refused_and_audited_in_the_platform_chain(owner_a):
    with pytest.raises(PermissionDenied):
        tenant_create(actor=Actor.for_user(owner_a.user, owner_a), slug="rogue", name="Rogue", owner=owner_a.user)
    assert not Tenant.objects.filter(slug="rogue").exists()
    denial = events("tenants.permission.denied", None)[-1]
    assert denial.tenant is None and denial.actor == owner_a.user


# -- the console base cannot be bypassed --------------------------------------------------------------


def test_the_console_base_refuses_an_overridden_dispatch():
    with pytest.raises(TypeError, match="may not override dispatch"):

        class Sneaky(TenantConsoleView):
            def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
                return HttpResponse("no checks")


def test_the_console_base_refuses_a_dispatch_from_a_mixin_listed_before_it():
    class Bypass(View):
        def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            return HttpResponse("no checks")

    with pytest.raises(TypeError, match=r"dispatch\(\) \(in Bypass\)"):

        class Sneaky(Bypass, TenantConsoleView):
            pass


@pytest.mark.parametrize("name", ["as_view", "capability_for_method", "can"])
def test_the_console_base_refuses_other_final_overrides(name):
    with pytest.raises(TypeError, match=f"may not override {name}"):
        type("Sneaky", (TenantConsoleView,), {name: lambda self: None})


def test_an_unsafe_method_without_a_declared_capability_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="handles POST but method_capability has no entry"):

        class Careless(TenantConsoleView):
            capability = "members.view"

            def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
                return HttpResponse("changed")

    class Careful(TenantConsoleView):
        method_capability = {"post": "members.manage"}

        def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
            return HttpResponse("changed")


def test_an_unknown_console_capability_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match=r"unknown capability 'tenant\.veiw'"):

        class Typo(TenantConsoleView):
            capability = "tenant.veiw"


def test_the_api_base_refuses_an_override_from_a_mixin_listed_before_it():
    class Bypass:
        def check_permissions(self, request: object) -> None:
            return None

    with pytest.raises(TypeError, match=r"check_permissions\(\) \(in Bypass\)"):

        class Sneaky(Bypass, TenantScopedViewSet):
            pass


def test_a_method_a_console_page_does_not_handle_is_405_not_500(viewer_a, client):
    client.force_login(viewer_a.user)
    assert client.delete("/t/acme/").status_code == 405
    assert client.post("/t/acme/").status_code == 405
