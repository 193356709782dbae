"""Fail-closed tenant scoping: the queryset guard and the viewset base that cannot be bypassed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from rest_framework import mixins
from rest_framework.test import APIRequestFactory

from tenants.api.base import TenantScopedAPIView, TenantScopedViewSet
from tenants.api.serializers import MembershipSerializer
from tenants.models import ApiToken, AuditEvent, Membership
from tenants.querysets import TenantScopeError
from tests.factories.tenants import MembershipFactory, UserFactory

TENANT_MODELS = [Membership, ApiToken, AuditEvent]


@pytest.fixture
def two(owner_a, owner_b, viewer_a, make_token):
    make_token(owner_a)
    make_token(owner_b)
    return owner_a.tenant, owner_b.tenant


# -- the queryset guard ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    "evaluate",
    [
        list,
        len,
        bool,
        lambda qs: qs.count(),
        lambda qs: qs.exists(),
        lambda qs: qs.first(),
        lambda qs: qs[0],
        lambda qs: list(qs.iterator()),
        lambda qs: qs.aggregate(n=__import__("django.db.models", fromlist=["Count"]).Count("pk")),
        lambda qs: list(qs.values_list("pk", flat=True)),
        lambda qs: qs.get(pk=1),
        lambda qs: qs.update(pk=0) if qs.model is not AuditEvent else qs.count(),
        lambda qs: qs.delete() if qs.model is not AuditEvent else qs.exists(),
    ],
    ids=[
        "list",
        "len",
        "bool",
        "count",
        "exists",
        "first",
        "index",
        "iterator",
        "aggregate",
        "values_list",
        "get",
        "update",
        "delete",
    ],
)
def test_unscoped_evaluation_is_refused(two, model, evaluate):
    with pytest.raises(TenantScopeError, match=f"{model.__name__} query without a tenant"):
        evaluate(model.objects.all())


@pytest.mark.parametrize(
    "build",
    [
        lambda t: Membership.objects.filter(tenant__slug=t.slug),  # a join, not the row's own tenant
        lambda t: Membership.objects.filter(Q(tenant=t) | Q(role="owner")),  # OR widens it
        lambda t: Membership.objects.exclude(tenant=t),
        lambda t: Membership.objects.filter(tenant__in=[t]),
        # Pins the tenant of *another* row reached through a join: memberships (in any tenant)
        # of users who are also members of t. Must not count as scoped.
        lambda t: Membership.objects.filter(user__memberships__tenant=t),
        lambda t: ApiToken.objects.filter(membership__tenant=t),
    ],
    ids=["join-slug", "or", "exclude", "in", "other-rows-tenant", "related-models-tenant"],
)
def test_filters_that_do_not_pin_the_rows_own_tenant_are_refused(two, build):
    with pytest.raises(TenantScopeError):
        list(build(two[0]))


@pytest.mark.parametrize("combinator", ["union", "intersection", "difference"])
def test_combining_a_scoped_queryset_with_an_unscoped_one_is_refused(two, combinator):
    acme, globex = two
    scoped = Membership.objects.for_tenant(acme).order_by()
    with pytest.raises(TenantScopeError):
        list(getattr(scoped, combinator)(Membership.objects.order_by()))
    combined = getattr(scoped, combinator)(Membership.objects.for_tenant(globex).order_by())
    expected = {"union": 3, "intersection": 0, "difference": 2}[combinator]
    assert len(list(combined)) == expected  # both sides scoped: allowed


def test_for_tenant_scopes_and_pinned_filters_pass(two):
    acme, globex = two
    assert {m.tenant_id for m in Membership.objects.for_tenant(acme)} == {acme.pk}
    assert Membership.objects.for_tenant(acme).count() == 2
    assert Membership.objects.filter(tenant=globex).count() == 1  # pins the row's own tenant
    assert Membership.objects.filter(tenant_id=globex.pk, role="owner").exists()
    # for_tenant composes with further filters and survives chaining/cloning
    assert Membership.objects.for_tenant(acme).filter(role="viewer").order_by("pk").count() == 1


def test_a_scoped_update_and_delete_touch_only_that_tenant(two, tenant_b):
    acme, globex = two
    assert ApiToken.objects.for_tenant(acme).update(name="renamed") == 1
    assert ApiToken.objects.for_tenant(globex).get().name == "test"
    ApiToken.objects.for_tenant(acme).delete()
    assert ApiToken.objects.for_tenant(globex).count() == 1


@pytest.mark.parametrize("bad", [None, "unsaved"])
def test_for_tenant_requires_a_saved_tenant(db, bad):
    from tenants.models import Tenant

    tenant = None if bad is None else Tenant(slug="x", name="X")
    with pytest.raises(TenantScopeError, match="a tenant is required"):
        Membership.objects.for_tenant(tenant)


def test_all_tenants_is_the_explicit_escape_hatch(two):
    acme, globex = two
    assert {m.tenant_id for m in Membership.objects.all_tenants()} == {acme.pk, globex.pk}
    assert ApiToken.objects.all_tenants().count() == 2
    assert ApiToken.objects.all_tenants().filter(tenant=acme).count() == 1


def test_related_managers_of_a_loaded_object_work(two, owner_a):
    acme, _ = two
    assert acme.memberships.count() == 2
    assert {m.role for m in acme.memberships.all()} == {"owner", "viewer"}
    assert owner_a.api_tokens.count() == 1
    assert [m.tenant for m in owner_a.user.memberships.all()] == [acme]
    assert owner_a.api_tokens.get().tenant == acme


def test_user_memberships_are_scoped_by_user(two, owner_a, tenant_b):
    MembershipFactory(tenant=tenant_b, user=owner_a.user, role="viewer")
    assert sorted(m.tenant.slug for m in Membership.objects.for_user(owner_a.user)) == ["acme", "globex"]


def test_creating_rows_and_unique_validation_still_work(two):
    acme, _ = two
    user = UserFactory(username="new@acme.test")
    membership = Membership(tenant=acme, user=user, role="viewer")
    membership.full_clean()  # runs Django's unique-constraint query, which pins the tenant
    membership.save()
    dup = Membership(tenant=acme, user=user, role="editor")
    with pytest.raises(Exception, match="already exists"):
        dup.full_clean()


# -- the viewset base ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get_queryset", "get_object", "get_permissions", "check_permissions", "initial"])
@pytest.mark.parametrize("base", [TenantScopedViewSet, TenantScopedAPIView])
def test_subclasses_cannot_override_the_final_methods(base, method):
    with pytest.raises(TypeError, match=f"may not override {method}"):
        type("Sneaky", (base,), {method: lambda self, *a, **k: None})


def test_subclass_of_a_subclass_is_checked_too():
    class Fine(mixins.ListModelMixin, TenantScopedViewSet):
        required_capability = {"list": "members.view"}

    with pytest.raises(TypeError):

        class Sneaky(Fine):
            def get_queryset(self):
                return Membership.objects.all_tenants()


def _list_view(get_tenant_queryset, capability: str = "members.view"):
    cls = type(
        "ProbeViewSet",
        (mixins.ListModelMixin, TenantScopedViewSet),
        {
            "required_capability": {"list": capability},
            "serializer_class": MembershipSerializer,
            "get_tenant_queryset": get_tenant_queryset,
        },
    )
    return cls.as_view({"get": "list"})


def _get(view, token: str):
    request = APIRequestFactory().get("/probe/", HTTP_AUTHORIZATION=f"Bearer {token}")
    return view(request)


def test_a_correct_tenant_queryset_serves_only_its_tenant(two, owner_a, make_token):
    view = _list_view(lambda self: Membership.objects.for_tenant(self.tenant))
    resp = _get(view, make_token(owner_a))
    assert resp.status_code == 200
    assert {row["email"] for row in resp.data["results"]} == {"owner@acme.test", "viewer@acme.test"}


@pytest.mark.parametrize(
    "queryset",
    [
        lambda self: Membership.objects.for_tenant(
            __import__("tenants.models", fromlist=["Tenant"]).Tenant.objects.get(slug="globex")
        ),
        lambda self: Membership.objects.all_tenants(),
        lambda self: Membership.objects.filter(tenant=self.tenant),  # pinned but not via for_tenant
        lambda self: [],
    ],
    ids=["other-tenant", "all-tenants", "plain-filter", "not-a-queryset"],
)
def test_a_wrong_tenant_queryset_is_improperly_configured(two, owner_a, make_token, queryset):
    with pytest.raises(ImproperlyConfigured, match=r"must return \.for_tenant\(self\.tenant\)"):
        _get(_list_view(queryset), make_token(owner_a))


def test_missing_get_tenant_queryset_and_missing_capability_fail_closed(two, owner_a, make_token):
    cls = type(
        "NoQs",
        (mixins.ListModelMixin, TenantScopedViewSet),
        {"required_capability": {"list": "members.view"}, "serializer_class": MembershipSerializer},
    )
    with pytest.raises(ImproperlyConfigured, match="must implement get_tenant_queryset"):
        _get(cls.as_view({"get": "list"}), make_token(owner_a))
    no_cap = type(
        "NoCap",
        (mixins.ListModelMixin, TenantScopedViewSet),
        {"serializer_class": MembershipSerializer, "get_tenant_queryset": lambda self: None},
    )
    with pytest.raises(ImproperlyConfigured, match="has no entry for 'list'"):
        _get(no_cap.as_view({"get": "list"}), make_token(owner_a))
