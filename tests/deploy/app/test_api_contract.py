"""Deploy API regressions found by the fuzz run (tests/test_api_fuzz.py): a rollout filter that
built an unscoped choice queryset (a 500 for `?deployment=0`), and kubeconfig shapes that crashed
the parser (RecursionError, TypeError) instead of a 400 naming the kubeconfig."""

from __future__ import annotations

import pytest

from deploy.models import Deployment, KubeCluster, Rollout
from tests.support.fuzz_seed import seed_fuzz_tenant

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "deploy", "admin"]


@pytest.fixture
def seeded(settings, tenant_a, owner_a, tenant_b, owner_b):  # type: ignore[no-untyped-def]
    settings.DEPLOY_KUBE_EGRESS_ALLOW = ["127.0.0.1/32"]
    seed_fuzz_tenant(tenant_a, owner_a)
    seed_fuzz_tenant(tenant_b, owner_b)


def test_rollout_filter_by_deployment_is_tenant_scoped(seeded, tenant_a, tenant_b, owner_a, make_token, api) -> None:
    client = api(make_token(owner_a, ALL_SCOPES))
    own = Deployment.objects.for_tenant(tenant_a).get()
    foreign = Deployment.objects.for_tenant(tenant_b).get()
    assert client.get("/api/v1/rollouts/?deployment=0").json()["count"] == 0
    assert client.get(f"/api/v1/rollouts/?deployment={foreign.pk}").json()["count"] == 0
    body = client.get(f"/api/v1/rollouts/?deployment={own.pk}").json()
    assert body["count"] == 1 and body["results"][0]["deployment"] == own.pk
    assert Rollout.objects.for_tenant(tenant_b).count() == 1  # the foreign one exists; it is not listed
    for bad in ("abc", "0.75", "", "-1", str(10**30)):  # 10**30 was an OverflowError in the driver
        assert client.get(f"/api/v1/rollouts/?deployment={bad}").status_code == 400, bad
    assert client.get("/api/v1/rollouts/?state=nonsense").status_code == 400


@pytest.mark.parametrize(
    "kubeconfig",
    [
        "[" * 50_000,  # RecursionError in the YAML parser
        "{a: " * 20_000,
        "contexts: 5\ncurrent-context: x",  # TypeError: 'int' object is not iterable
        "contexts: [{name: x, context: 5}]\ncurrent-context: x",
        "contexts: [{name: x, context: [1]}]\ncurrent-context: x",
    ],
)
def test_malformed_kubeconfig_is_a_400(seeded, tenant_a, owner_a, make_token, api, kubeconfig: str) -> None:
    client = api(make_token(owner_a, ALL_SCOPES))
    cluster = KubeCluster.objects.for_tenant(tenant_a).get()
    response = client.post(
        f"/api/v1/clusters/{cluster.pk}/credentials/",
        {"auth_kind": "kubeconfig", "kubeconfig": kubeconfig},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    assert response.json()["detail"].startswith("kubeconfig")


@pytest.mark.parametrize("api_server", ["https://k8s.example.com:99999999999999999999", "http://127.0.0.1:70000"])
def test_out_of_range_port_is_a_400(seeded, tenant_a, owner_a, make_token, api, api_server: str) -> None:
    client = api(make_token(owner_a, ALL_SCOPES))
    cluster = KubeCluster.objects.for_tenant(tenant_a).get()
    response = client.post(
        f"/api/v1/clusters/{cluster.pk}/credentials/", {"api_server": api_server, "token": "t"}, format="json"
    )
    assert response.status_code == 400, response.content[:300]


def test_huge_ids_are_a_404(seeded, owner_a, make_token, api) -> None:
    client = api(make_token(owner_a, ALL_SCOPES))
    response = client.post(f"/api/v1/clusters/{10**30}/credentials/", {"api_server": "x"}, format="json")
    assert response.status_code == 404, response.content[:300]
