"""Cross-tenant API tests for every registry route and model, plus platform-shared models."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from models_registry.models import LocalServing, ModelAlias, ModelVersion, RegisteredModel
from tests.factories.models_registry import ECHO_IO, local_serving, model_alias, model_version, registered_model
from tests.support.api_mixins import CrossTenantAPITests

VERSION_PAYLOAD = {"backend": "python", "artifact_uri": "s3://models/k/model.py", "max_batch_size": 4, **ECHO_IO}


def _version_kwargs(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"model_pk": ctx["obj_a"].model_id}


def _version_detail_kwargs(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"model_pk": ctx["obj_a"].model_id, "version": ctx["obj_a"].version}


class TestModelAPI(CrossTenantAPITests):
    list_url = "api:model-list"
    detail_url = "api:model-detail"
    covers_routes = ["api:model-list", "api:model-detail", "api:model-compare"]
    model = RegisteredModel
    write = ("post", "api:model-list", None, {"name": "new-model", "task": "embedding"})
    write_role_too_low = "viewer"

    def make_object(self, tenant, membership):
        return registered_model(tenant, "xt-model")

    def test_compare_of_other_tenants_model_is_404(self, two_tenants, api):
        url = reverse("api:model-compare", kwargs={"pk": two_tenants["obj_b"].pk})
        assert api(two_tenants["token_a"]).get(url).status_code == 404
        own = reverse("api:model-compare", kwargs={"pk": two_tenants["obj_a"].pk})
        assert api(two_tenants["token_a"]).get(own).status_code == 200

    def test_patch_other_tenants_model_is_404(self, two_tenants, api):
        url = reverse("api:model-detail", kwargs={"pk": two_tenants["obj_b"].pk})
        resp = api(two_tenants["token_a"]).patch(url, {"description": "pwned"}, format="json")
        assert resp.status_code == 404, resp.content
        two_tenants["obj_b"].refresh_from_db()
        assert two_tenants["obj_b"].description == ""


class TestModelVersionAPI(CrossTenantAPITests):
    detail_url = "api:modelversion-detail"
    covers_routes = ["api:modelversion-list", "api:modelversion-detail", "api:modelversion-triton-config"]
    model = ModelVersion
    write = ("post", "api:modelversion-list", _version_kwargs, VERSION_PAYLOAD)
    write_role_too_low = "viewer"

    def make_object(self, tenant, membership):
        return model_version(registered_model(tenant, "xt-versioned"))

    def _detail(self, obj):
        return reverse(self.detail_url, kwargs={"model_pk": obj.model_id, "version": obj.version})

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        client = api(two_tenants["token_a"])
        own = client.get(reverse("api:modelversion-list", kwargs={"model_pk": two_tenants["obj_a"].model_id}))
        assert own.status_code == 200
        assert [r["id"] for r in own.json()["results"]] == [two_tenants["obj_a"].pk]
        other = client.get(reverse("api:modelversion-list", kwargs={"model_pk": two_tenants["obj_b"].model_id}))
        assert other.status_code == 404

    def test_register_on_other_tenants_model_is_404(self, two_tenants, api):
        url = reverse("api:modelversion-list", kwargs={"model_pk": two_tenants["obj_b"].model_id})
        resp = api(two_tenants["token_a"]).post(url, VERSION_PAYLOAD, format="json")
        assert resp.status_code == 404, resp.content
        assert ModelVersion.objects.all_tenants().filter(model_id=two_tenants["obj_b"].model_id).count() == 1

    def test_triton_config_of_other_tenant_is_404(self, two_tenants, api):
        b = two_tenants["obj_b"]
        url = reverse("api:modelversion-triton-config", kwargs={"model_pk": b.model_id, "version": b.version})
        assert api(two_tenants["token_a"]).get(url).status_code == 404


class TestServeAPI(CrossTenantAPITests):
    """serve/unserve need deploy.manage (admin): an editor gets 403. The generic GET tests use the
    version detail route (serve/unserve are POST-only); the POSTs are checked explicitly below."""

    detail_url = "api:modelversion-detail"
    covers_routes = ["api:modelversion-serve", "api:modelversion-unserve"]
    write = ("post", "api:modelversion-serve", _version_detail_kwargs, {})
    write_role_too_low = "editor"

    def make_object(self, tenant, membership):
        return model_version(registered_model(tenant, "xt-served"))

    def _detail(self, obj):
        return reverse(self.detail_url, kwargs={"model_pk": obj.model_id, "version": obj.version})

    def test_serve_and_unserve_other_tenants_version_is_404(self, two_tenants, api):
        b = two_tenants["obj_b"]
        local_serving(b)
        client = api(two_tenants["token_a"])
        for route in ("api:modelversion-serve", "api:modelversion-unserve"):
            resp = client.post(reverse(route, kwargs={"model_pk": b.model_id, "version": b.version}), {}, format="json")
            assert resp.status_code == 404, (route, resp.content)
        assert LocalServing.objects.all_tenants().get(version=b).status == LocalServing.Status.READY


class TestModelAliasAPI(CrossTenantAPITests):
    detail_url = "api:modelalias-detail"
    covers_routes = ["api:modelalias-list", "api:modelalias-detail"]
    model = ModelAlias
    write = (
        "put",
        "api:modelalias-detail",
        lambda ctx: {"model_pk": ctx["obj_a"].model_id, "name": "staging"},
        {"version": 1},
    )
    write_role_too_low = "viewer"

    def make_object(self, tenant, membership):
        return model_alias(model_version(registered_model(tenant, "xt-aliased")), "production")

    def _detail(self, obj):
        return reverse(self.detail_url, kwargs={"model_pk": obj.model_id, "name": obj.name})

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        client = api(two_tenants["token_a"])
        own = client.get(reverse("api:modelalias-list", kwargs={"model_pk": two_tenants["obj_a"].model_id}))
        assert own.status_code == 200
        assert [r["id"] for r in own.json()["results"]] == [two_tenants["obj_a"].pk]
        other = client.get(reverse("api:modelalias-list", kwargs={"model_pk": two_tenants["obj_b"].model_id}))
        assert other.status_code == 404

    def test_move_alias_of_other_tenant_is_404(self, two_tenants, api):
        b = two_tenants["obj_b"]
        resp = api(two_tenants["token_a"]).put(
            reverse(self.detail_url, kwargs={"model_pk": b.model_id, "name": "production"}),
            {"version": 1},
            format="json",
        )
        assert resp.status_code == 404, resp.content

    def test_alias_to_other_tenants_version_id_is_400(self, two_tenants, api):
        a, b = two_tenants["obj_a"], two_tenants["obj_b"]
        resp = api(two_tenants["token_a"]).put(
            reverse(self.detail_url, kwargs={"model_pk": a.model_id, "name": "production"}),
            {"version_id": b.version_id},
            format="json",
        )
        assert resp.status_code == 400, resp.content
        a.refresh_from_db()
        assert a.version_id != b.version_id


class TestServingAPI(CrossTenantAPITests):
    list_url = "api:serving-list"
    detail_url = "api:serving-detail"
    covers_routes = ["api:serving-list", "api:serving-detail", "api:serving-server"]
    model = LocalServing

    def make_object(self, tenant, membership):
        return local_serving(model_version(registered_model(tenant, "xt-serving")))

    def test_server_status_hides_other_tenants_models(self, two_tenants, api, settings):
        # No server listens on these ports: the endpoint still answers, reporting not ready.
        from tests.support.net import free_port

        settings.TRITON_LOCAL_HTTP_PORT = free_port()
        resp = api(two_tenants["token_a"]).get(reverse("api:serving-server"))
        assert resp.status_code == 200, resp.content
        assert resp.json()["ready"] is False and resp.json()["models"] == []


# -- platform-shared models --------------------------------------------------------------------


@pytest.fixture
def shared_version(db) -> ModelVersion:
    version = model_version(registered_model(None, "shared-embedder"))
    model_alias(version, "production")
    return version


@pytest.mark.django_db
class TestSharedModels:
    def test_visible_read_only_to_every_tenant(self, shared_version, owner_a, owner_b, make_token, api):
        for member in (owner_a, owner_b):
            client = api(make_token(member, ["read", "write", "deploy", "admin"]))
            rows = client.get(reverse("api:model-list")).json()["results"]
            shared = [r for r in rows if r["id"] == shared_version.model_id]
            assert shared and shared[0]["shared"] is True and shared[0]["owner"] == "platform"
            detail = reverse("api:modelversion-detail", kwargs={"model_pk": shared_version.model_id, "version": 1})
            assert client.get(detail).status_code == 200

    def test_tenant_b_cannot_modify_shared_model(self, shared_version, owner_b, make_token, api):
        client = api(make_token(owner_b, ["read", "write", "deploy", "admin"]))
        mid = shared_version.model_id
        attempts = [
            client.patch(reverse("api:model-detail", kwargs={"pk": mid}), {"description": "x"}, format="json"),
            client.post(reverse("api:modelversion-list", kwargs={"model_pk": mid}), VERSION_PAYLOAD, format="json"),
            client.put(
                reverse("api:modelalias-detail", kwargs={"model_pk": mid, "name": "production"}),
                {"version": 1},
                format="json",
            ),
            client.put(
                reverse("api:modelalias-detail", kwargs={"model_pk": mid, "name": "staging"}),
                {"version": 1},
                format="json",
            ),
            client.delete(reverse("api:modelalias-detail", kwargs={"model_pk": mid, "name": "production"})),
            client.post(reverse("api:modelversion-serve", kwargs={"model_pk": mid, "version": 1}), {}, format="json"),
        ]
        assert [r.status_code for r in attempts] == [404] * len(attempts), [r.content for r in attempts]
        model = RegisteredModel.objects.all_tenants().get(pk=mid)
        assert model.description == "" and model.versions.count() == 1
        assert list(model.aliases.values_list("name", flat=True)) == ["production"]
        assert not LocalServing.objects.all_tenants().filter(version=shared_version).exists()

    def test_tenant_a_private_model_is_404_for_b(self, owner_a, owner_b, make_token, api):
        private = model_version(registered_model(owner_a.tenant, "private-a"))
        client = api(make_token(owner_b, ["read"]))
        assert client.get(reverse("api:model-detail", kwargs={"pk": private.model_id})).status_code == 404
        assert (
            client.get(
                reverse("api:modelversion-detail", kwargs={"model_pk": private.model_id, "version": 1})
            ).status_code
            == 404
        )
        ids = [r["id"] for r in client.get(reverse("api:model-list")).json()["results"]]
        assert private.model_id not in ids
