"""Deployments and clusters through the API: validation naming the field, tenant-scoped ids,
shared models read-only, credentials encrypted and never returned."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from deploy.crypto import decrypt_secret, encrypt_secret
from deploy.models import Deployment, KubeCluster
from tests.factories.deploy import model_alias, model_version

pytestmark = pytest.mark.django_db
URL = "/api/v1/deployments/"


@pytest.fixture
def client_a(api, admin_a, make_token):
    return api(make_token(admin_a, ["write", "deploy"]))


@pytest.fixture
def echo_a(tenant_a):
    return model_version(tenant_a, "echo", 1)


def k8s_body(cluster, version, **over):
    return {
        "name": "qa-triton",
        "cluster_id": cluster.pk,
        "model_repository": "s3://models/acme",
        "model_version_ids": [version.pk],
        **over,
    }


def test_create_by_hand(client_a, cluster_a, echo_a, tenant_a):
    resp = client_a.post(
        URL,
        k8s_body(
            cluster_a,
            echo_a,
            min_replicas=1,
            max_replicas=3,
            replicas=2,
            gpu_type="L4",
            autoscaling_metric="queue_time",
            autoscaling_target=50000,
            slo={"e2e_ms": 200, "percentile": 95},
        ),
        format="json",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["namespace"] == "team-a" and body["cluster"] == {"id": cluster_a.pk, "name": "kind-a"}
    assert body["models"][0] == {
        "model_version_id": echo_a.pk,
        "model_alias_id": None,
        "model": "echo",
        "version": 1,
        "alias": None,
        "shared": False,
    }
    manifests = client_a.get(f"{URL}{body['id']}/manifests/").json()["manifests"]
    hpa = next(m for m in manifests if m["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 3
    dep = next(m for m in manifests if m["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    # edit by hand
    patched = client_a.patch(f"{URL}{body['id']}/", {"memory_limit": "32Gi", "mig_profile": "1g.10gb"}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["memory_limit"] == "32Gi"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"namespace": "Team_A"}, "namespace"),
        ({"name": "9-lives"}, "name"),
        ({"name": "a" * 60}, "name"),
        ({"cpu_request": "2 cores"}, "cpu_request"),
        ({"memory_limit": "lots"}, "memory_limit"),
        ({"mig_profile": "huge"}, "mig_profile"),
        ({"min_replicas": 3, "max_replicas": 2, "replicas": 3}, "max_replicas"),
        ({"slo": {"e2e_ms": -5}}, "slo"),
        ({"cluster_id": None, "namespace": ""}, "cluster"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(client_a, cluster_a, echo_a, tenant_a, over, field):
    resp = client_a.post(URL, k8s_body(cluster_a, echo_a, **over), format="json")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert field in body["errors"] and body["detail"].startswith(field)
    assert not Deployment.objects.for_tenant(tenant_a).exists()


def test_model_version_of_another_tenant_is_404(client_a, cluster_a, tenant_b, tenant_a):
    foreign = model_version(tenant_b, "secret-model", 1)
    resp = client_a.post(URL, k8s_body(cluster_a, foreign), format="json")
    assert resp.status_code == 404 and resp.json()["field"] == "model_versions"
    alias = model_alias(foreign)
    resp = client_a.post(
        URL, {**k8s_body(cluster_a, foreign), "model_version_ids": [], "model_alias_ids": [alias.pk]}, format="json"
    )
    assert resp.status_code == 404
    assert not Deployment.objects.for_tenant(tenant_a).exists()


def test_cluster_of_another_tenant_is_404(client_a, tenant_b, echo_a):
    from deploy.services import cluster_create
    from tenants.actors import Actor

    theirs = cluster_create(
        tenant=tenant_b, actor=Actor.system(), name="b", api_server="https://b.example:6443", token="t"
    )
    assert client_a.post(URL, k8s_body(theirs, echo_a), format="json").status_code == 404


def test_shared_model_can_be_served_and_alias_resolves_at_rollout(client_a, cluster_a, tenant_a):
    shared = model_version(None, "minilm", 1, artifact_uri="builtin:minilm")
    alias = model_alias(shared, "production")
    resp = client_a.post(
        URL, {**k8s_body(cluster_a, shared), "model_version_ids": [], "model_alias_ids": [alias.pk]}, format="json"
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["models"][0]["shared"] is True and resp.json()["models"][0]["alias"] == "production"


def test_no_model_is_400(client_a, cluster_a, echo_a):
    resp = client_a.post(URL, k8s_body(cluster_a, echo_a, model_version_ids=[]), format="json")
    assert resp.status_code == 400 and resp.json()["field"] == "model_versions"


def test_credentials_are_encrypted_and_never_returned(client_a, tenant_a):
    token = "super-secret-bearer-token-value"
    resp = client_a.post(
        "/api/v1/clusters/",
        {
            "name": "prod",
            "api_server": "https://k8s.acme.example:6443",
            "token": token,
            "ca_cert_pem": "-----BEGIN CERT-----x",
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert token not in resp.content.decode() and "token" not in resp.json()
    listing = client_a.get("/api/v1/clusters/").content.decode()
    assert token not in listing and "BEGIN CERT" not in listing
    row = KubeCluster.objects.for_tenant(tenant_a).get(name="prod")
    assert token not in row.credentials_encrypted
    assert json.loads(decrypt_secret(row.credentials_encrypted))["token"] == token
    rotated = client_a.post(
        f"/api/v1/clusters/{row.pk}/credentials/",
        {"api_server": "https://k8s2.acme.example:6443", "token": "new-token"},
        format="json",
    )
    assert rotated.status_code == 200 and "new-token" not in rotated.content.decode()
    row.refresh_from_db()
    assert json.loads(decrypt_secret(row.credentials_encrypted))["token"] == "new-token"
    missing = client_a.post("/api/v1/clusters/", {"name": "x", "api_server": "https://h:6443"}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "token"


def test_key_rotation_multifernet(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stored = encrypt_secret("v")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # newest first: old values still decrypt
    assert decrypt_secret(stored) == "v"
    fresh = encrypt_secret("w")
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt_secret(fresh) == "w"
    from deploy.crypto import SecretDecryptError

    with pytest.raises(SecretDecryptError):
        decrypt_secret(stored)


def test_cluster_in_use_cannot_be_deleted(client_a, cluster_a, echo_a):
    assert client_a.post(URL, k8s_body(cluster_a, echo_a), format="json").status_code == 201
    assert client_a.delete(f"/api/v1/clusters/{cluster_a.pk}/").status_code == 409
