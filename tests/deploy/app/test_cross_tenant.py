"""Cross-tenant coverage for every deploy route and tenant-owned model (tests/test_meta_coverage)."""

from __future__ import annotations

from django.utils import timezone

from deploy.models import CapacityPlan, Deployment, KubeCluster, Revision, Rollout
from deploy.services import capacity_plan_create, cluster_create, deployment_create
from tenants.actors import Actor
from tests.factories.deploy import model_version
from tests.support.api_mixins import CrossTenantAPITests

SYSTEM = Actor.system()


def _deployment(tenant) -> Deployment:
    version = model_version(tenant, "echo", 1)
    return deployment_create(tenant=tenant, actor=SYSTEM, name="svc", target="local", model_version_ids=[version.pk])


class TestCapacityPlansAPI(CrossTenantAPITests):
    list_url = "api:capacityplan-list"
    detail_url = "api:capacityplan-detail"
    covers_routes = ["api:capacityplan-list", "api:capacityplan-detail", "api:capacityplan-deploy"]
    model = CapacityPlan
    write = ("post", "api:capacityplan-list", None, {"use_case": "chatbot", "concurrent_users": 4})

    def make_object(self, tenant, membership):
        return capacity_plan_create(
            tenant=tenant, actor=SYSTEM, inputs={"use_case": "embeddings", "concurrent_users": 4}
        )

    def test_deploy_other_tenants_plan_is_404(self, two_tenants, api):
        resp = api(two_tenants["token_a"]).post(
            f"/api/v1/capacity-plans/{two_tenants['obj_b'].pk}/deploy/", {"name": "x", "target": "local"}, format="json"
        )
        assert resp.status_code == 404


class TestClustersAPI(CrossTenantAPITests):
    list_url = "api:kubecluster-list"
    detail_url = "api:kubecluster-detail"
    covers_routes = [
        "api:kubecluster-list",
        "api:kubecluster-detail",
        "api:kubecluster-check",
        "api:kubecluster-credentials",
    ]
    model = KubeCluster
    write = ("post", "api:kubecluster-list", None, {"name": "c", "api_server": "https://h:6443", "token": "t"})

    def make_object(self, tenant, membership):
        return cluster_create(tenant=tenant, actor=SYSTEM, name="c1", api_server="https://k.example:6443", token="t")

    def test_check_and_credentials_of_other_tenant_are_404(self, two_tenants, api):
        client = api(two_tenants["token_a"])
        pk = two_tenants["obj_b"].pk
        assert client.post(f"/api/v1/clusters/{pk}/check/", {}, format="json").status_code == 404
        assert (
            client.post(
                f"/api/v1/clusters/{pk}/credentials/", {"api_server": "https://x:1", "token": "y"}, format="json"
            ).status_code
            == 404
        )


class TestDeploymentsAPI(CrossTenantAPITests):
    list_url = "api:deployment-list"
    detail_url = "api:deployment-detail"
    covers_routes = [
        "api:deployment-list",
        "api:deployment-detail",
        "api:deployment-manifests",
        "api:deployment-rollout",
        "api:deployment-rollback",
        "api:deployment-revisions",
        "api:deployment-measure",
    ]
    model = Deployment
    write = ("post", "api:deployment-rollout", lambda ctx: {"pk": ctx["obj_a"].pk}, {})
    write_role_too_low = "editor"

    def make_object(self, tenant, membership):
        return _deployment(tenant)

    def test_actions_on_other_tenants_deployment_are_404(self, two_tenants, api):
        client = api(two_tenants["token_a"])
        base = f"/api/v1/deployments/{two_tenants['obj_b'].pk}"
        assert client.get(f"{base}/manifests/?format=yaml").status_code == 404
        assert client.get(f"{base}/revisions/").status_code == 404
        assert client.post(f"{base}/rollout/", {}, format="json").status_code == 404
        assert client.post(f"{base}/rollback/", {"revision": 1}, format="json").status_code == 404
        assert client.post(f"{base}/measure/", {}, format="json").status_code == 404
        assert client.patch(f"{base}/", {"replicas": 1}, format="json").status_code == 404
        assert not Rollout.objects.all_tenants().exists()


class TestRolloutsAPI(CrossTenantAPITests):
    list_url = "api:rollout-list"
    detail_url = "api:rollout-detail"
    covers_routes = ["api:rollout-list", "api:rollout-detail"]
    model = Rollout

    def make_object(self, tenant, membership):
        d = _deployment(tenant)
        rev = Revision.objects.create(tenant=tenant, deployment=d, number=1, spec={}, manifests=[])
        return Rollout.objects.create(tenant=tenant, deployment=d, revision=rev, deadline_at=timezone.now())


class TestRevisionsModel(CrossTenantAPITests):
    """Revisions are served by api:deployment-revisions (covered above); this pins the model."""

    list_url = "api:deployment-list"
    covers_routes = []
    model = Revision

    def make_object(self, tenant, membership):
        d = _deployment(tenant)
        Revision.objects.create(tenant=tenant, deployment=d, number=1, spec={"who": tenant.slug}, manifests=[])
        return d

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        client = api(two_tenants["token_a"])
        own = client.get(f"/api/v1/deployments/{two_tenants['obj_a'].pk}/revisions/").json()["results"]
        assert [r["spec"]["who"] for r in own] == ["xt-a"]
