"""Reusable cross-tenant API tests (netbox's utilities/testing/api.py in spirit).

Every API route and every tenant-owned model must be covered by a subclass of
`CrossTenantAPITests`; tests/test_meta_coverage.py fails otherwise. A subclass declares:

- `list_url`: route name of the list endpoint (e.g. "api:member-list"), or None
- `detail_url`: route name taking `pk`, or None
- `covers_routes`: every route name these tests stand for (list, detail and its actions)
- `model`: the tenant-owned model it exercises
- `make_object(tenant, membership)`: create one object owned by `tenant`
- `write`: (method, route name, kwargs-builder or None, payload) a write a viewer may not do,
  or None when the endpoint has no writes.
- `read_scope`: the token scope that allows reading (default "read")
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.urls import reverse

from tests.factories.tenants import MembershipFactory, TenantFactory, UserFactory

COVERED_ROUTES: set[str] = set()
COVERED_MODELS: set[str] = set()


@pytest.mark.django_db
class CrossTenantAPITests:
    list_url: ClassVar[str | None] = None
    detail_url: ClassVar[str | None] = None
    covers_routes: ClassVar[list[str]] = []
    model: ClassVar[Any] = None
    read_scope: ClassVar[str] = "read"
    reader_role: ClassVar[str] = "viewer"
    write: ClassVar[tuple[str, str, Any, dict] | None] = None
    write_role_too_low: ClassVar[str] = "viewer"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        COVERED_ROUTES.update(cls.covers_routes)
        if cls.model is not None:
            COVERED_MODELS.add(cls.model._meta.label)
        # Tests that do not apply to this endpoint are not generated at all (never skipped).
        if not cls.detail_url:
            cls.test_other_tenants_object_is_404 = None  # type: ignore[assignment]
        if not cls.list_url:
            cls.test_list_never_shows_other_tenant = None  # type: ignore[assignment]
        if cls.write is None:
            cls.test_role_too_low_gets_403 = None  # type: ignore[assignment]
            cls.test_read_only_token_cannot_write = None  # type: ignore[assignment]

    # -- to implement ----------------------------------------------------------------------------
    def make_object(self, tenant, membership) -> Any:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------------
    @pytest.fixture
    def two_tenants(self, db, make_token):
        ta = TenantFactory(slug="xt-a")
        tb = TenantFactory(slug="xt-b")
        owner_a = MembershipFactory(tenant=ta, role="owner", user=UserFactory(username="owner@xt-a.test"))
        owner_b = MembershipFactory(tenant=tb, role="owner", user=UserFactory(username="owner@xt-b.test"))
        obj_a = self.make_object(ta, owner_a)
        obj_b = self.make_object(tb, owner_b)
        all_scopes = ["read", "write", "qa", "recommend", "deploy", "admin"]
        return {
            "ta": ta,
            "tb": tb,
            "owner_a": owner_a,
            "owner_b": owner_b,
            "obj_a": obj_a,
            "obj_b": obj_b,
            "token_a": make_token(owner_a, all_scopes),
            "token_b": make_token(owner_b, all_scopes),
            "make_token": make_token,
        }

    def _detail(self, obj: Any) -> str:
        return reverse(self.detail_url, kwargs={"pk": obj.pk})

    # -- the tests -------------------------------------------------------------------------------
    def test_unauthenticated_gets_401(self, two_tenants, api):
        url = reverse(self.list_url) if self.list_url else self._detail(two_tenants["obj_a"])
        resp = api().get(url)
        assert resp.status_code == 401, resp.content

    def test_outsider_gets_404(self, two_tenants, api, outsider):
        url = reverse(self.list_url) if self.list_url else self._detail(two_tenants["obj_a"])
        resp = api(user=outsider, tenant="xt-a").get(url)
        assert resp.status_code == 404, resp.content

    def test_other_tenants_object_is_404(self, two_tenants, api):
        resp = api(two_tenants["token_a"]).get(self._detail(two_tenants["obj_b"]))
        assert resp.status_code == 404, resp.content
        own = api(two_tenants["token_a"]).get(self._detail(two_tenants["obj_a"]))
        assert own.status_code == 200, own.content

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        resp = api(two_tenants["token_a"]).get(reverse(self.list_url))
        assert resp.status_code == 200, resp.content
        body = resp.json()
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        ids = {str(r.get("id")) for r in rows}
        assert str(two_tenants["obj_b"].pk) not in ids or two_tenants["obj_b"].pk == two_tenants["obj_a"].pk
        assert str(two_tenants["obj_a"].pk) in ids

    def test_token_for_tenant_a_with_x_tenant_b_is_404(self, two_tenants, api):
        url = reverse(self.list_url) if self.list_url else self._detail(two_tenants["obj_a"])
        resp = api(two_tenants["token_a"], tenant="xt-b").get(url)
        assert resp.status_code == 404, resp.content

    def test_role_too_low_gets_403(self, two_tenants, api):
        low = MembershipFactory(
            tenant=two_tenants["ta"],
            role=self.write_role_too_low,
            user=UserFactory(username=f"low-{self.write_role_too_low}@xt-a.test"),
        )
        resp = self._do_write(api(user=low.user, tenant="xt-a"), two_tenants)
        assert resp.status_code == 403, resp.content

    def test_read_only_token_cannot_write(self, two_tenants, api):
        token = two_tenants["make_token"](two_tenants["owner_a"], [self.read_scope])
        resp = self._do_write(api(token), two_tenants)
        assert resp.status_code == 403, resp.content

    def _do_write(self, client, ctx):
        method, route, kwargs_builder, payload = self.write
        kwargs = kwargs_builder(ctx) if kwargs_builder else {}
        return getattr(client, method)(reverse(route, kwargs=kwargs), payload, format="json")
