"""Issue #12, "SSRF through clusters": `api_server=http://127.0.0.1:8000/metrics?` was accepted
and checked, and the answer's body came back in `last_check_error`. Rollouts also overwrote
whatever object held a manifest's name. Now:

- the API server must be https at a public address unless the operator allow-listed it
  (DEPLOY_KUBE_EGRESS_ALLOW), checked when saved and again on each connection's address;
- a failed check or rollout says the status code, never the body that answered;
- a rollout never overwrites or deletes an object that is not this tenant's and deployment's.

The tests that need a reachable API server allow-list 127.0.0.1 as an operator would (the `k8s`
fixture); the tests of the default rule below run without it.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
import yaml

from deploy.k8s.client import KubeConflict, KubeTarget
from deploy.k8s.egress import EgressPolicy
from deploy.k8s.manifests import TENANT_LABEL
from deploy.models import Deployment, KubeCluster, Revision, Rollout
from deploy.services import cluster_check, deployment_create
from deploy.services.rollouts import default_target_factory
from deploy.targets import RevisionData
from tenants.actors import Actor
from tests.deploy.app.conftest import NAMESPACE
from tests.deploy.app.test_rollouts_k8s import run
from tests.factories.deploy import model_version

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]
SYSTEM = Actor.system()
LOOPBACK = EgressPolicy.parse(["127.0.0.1/32"])


@pytest.fixture
def client_a(api, admin_a, make_token):
    return api(make_token(admin_a, ["read", "write", "deploy"]))


def create(client, api_server: str, **extra):
    return client.post(
        "/api/v1/clusters/", {"name": "c", "api_server": api_server, "token": "t", **extra}, format="json"
    )


# ---- the default rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "api_server",
    [
        "http://127.0.0.1:8000/metrics?",  # the reported attack
        "https://127.0.0.1:8000/",
        "https://localhost:6443",  # a name that resolves to loopback
        "https://[::1]:6443",
        "https://[::ffff:127.0.0.1]:6443",  # IPv4-mapped IPv6
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "https://10.0.0.1:6443",
        "https://172.16.5.4:6443",
        "https://192.168.1.1:6443",
        "https://100.64.0.1:6443",  # shared address space
        "https://0.0.0.0:6443",
        "https://224.0.0.1:6443",
        "https://[fd00::1]:6443",
        "http://k8s.example.com:6443",  # plain http to anywhere
        "ftp://k8s.example.com",
        "https://user:pw@k8s.example.com:6443",
        "https://k8s.example.com:6443/?x=1",
        "https://k8s.example.com:6443/#frag",
        "https://k8s.example.com:99999999999999999999",  # the fuzz's OverflowError
        "https://k8s.example.com:70000",
        "https://k8s.example.com:0",
        "https://" + "a" * 64 + ".example.com",  # an over-long DNS label (idna refuses it)
        "https://[::1",
        "https:///nohost",
        "not a url",
    ],
)
def test_non_public_or_malformed_api_servers_are_400(client_a, tenant_a, api_server):
    resp = create(client_a, api_server)
    assert resp.status_code == 400, (api_server, resp.content)
    assert resp.json()["field"] == "api_server"
    assert not KubeCluster.objects.for_tenant(tenant_a).exists()


def test_credentials_rotation_applies_the_same_rule_and_never_500s(client_a, tenant_a):
    ok = create(client_a, "https://k8s.acme.example:6443")
    assert ok.status_code == 201, ok.content
    url = f"/api/v1/clusters/{ok.json()['id']}/credentials/"
    for api_server in (
        "http://127.0.0.1:8000/metrics?",
        "https://k8s.example.com:99999999999999999999",
        "https://[::1",
        "https://" + "a" * 300,
    ):
        resp = client_a.post(url, {"api_server": api_server, "token": "t"}, format="json")
        assert resp.status_code == 400, (api_server, resp.content)
    assert KubeCluster.objects.for_tenant(tenant_a).get().api_server == "https://k8s.acme.example:6443"


def test_a_kubeconfig_pointing_inside_is_refused(client_a, tenant_a):
    kubeconfig = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://169.254.169.254"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    resp = client_a.post(
        "/api/v1/clusters/",
        {"name": "c", "auth_kind": "kubeconfig", "kubeconfig": yaml.safe_dump(kubeconfig)},
        format="json",
    )
    assert resp.status_code == 400 and "169.254.169.254" in resp.json()["detail"], resp.content
    kubeconfig["users"][0]["user"] = {"exec": {"command": "/bin/sh"}}
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://k8s.example.com"
    resp = client_a.post(
        "/api/v1/clusters/",
        {"name": "c", "auth_kind": "kubeconfig", "kubeconfig": yaml.safe_dump(kubeconfig)},
        format="json",
    )
    assert resp.status_code == 400 and "unsupported keys" in resp.json()["detail"]
    assert not KubeCluster.objects.for_tenant(tenant_a).exists()


def test_the_api_double_itself_is_refused_without_the_operators_allow_list(client_a, settings):
    from tests.support.k8s_double import KubeApiDouble

    settings.DEPLOY_KUBE_EGRESS_ALLOW = []
    with KubeApiDouble() as double:
        refused = create(client_a, double.url)
        assert refused.status_code == 400 and "refusing to connect to 127.0.0.1" in refused.json()["detail"]
        assert double.log == []
        settings.DEPLOY_KUBE_EGRESS_ALLOW = ["127.0.0.1/32"]
        assert create(client_a, double.url).status_code == 201


def test_the_address_is_checked_again_when_connecting(tenant_a, k8s, settings):
    """DNS rebinding: a name that resolved to a public address when the cluster was saved and
    resolves to loopback now. The row is written directly here (as if saved then); the check and
    the rollout connect through the rule, which looks at the address it connects to."""
    from deploy.crypto import encrypt_secret

    settings.DEPLOY_KUBE_EGRESS_ALLOW = []
    port = k8s.url.rsplit(":", 1)[1]
    cluster = KubeCluster.objects.create(
        tenant=tenant_a,
        name="rebound",
        api_server=f"https://localhost:{port}",
        credentials_encrypted=encrypt_secret(json.dumps({"token": k8s.token})),
        default_namespace=NAMESPACE,
    )
    before = len(k8s.log)
    cluster_check(tenant=tenant_a, actor=SYSTEM, cluster=cluster)
    assert cluster.last_check_ok is False
    assert "refusing to connect to localhost: it resolves to 127.0.0.1" in cluster.last_check_error
    version = model_version(tenant_a, "echo", 1)
    d = deployment_create(
        tenant=tenant_a,
        actor=SYSTEM,
        name="rebound",
        cluster_id=cluster.pk,
        model_repository="s3://models/acme",
        model_version_ids=[version.pk],
    )
    from deploy.services import rollout_start

    rollout = run(rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=d).pk, tenant_a)
    assert rollout.state == "failed" and "refusing to connect to localhost" in rollout.reason
    assert len(k8s.log) == before  # nothing ever reached the server


# ---- no response body is reflected -----------------------------------------------------------


class _Leaky(http.server.BaseHTTPRequestHandler):
    """An internal service that answers with secrets in its error bodies."""

    def do_GET(self) -> None:
        if self.path.startswith("/version"):
            body, code, kind = b"db_password=hunter2\nnode_memory_bytes 123", 500, "text/plain"
        else:
            body, code, kind = (
                b'{"kind":"Status","message":"hunter2 is the password","reason":"x"}',
                403,
                "application/json",
            )
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def leaky_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Leaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_check_errors_carry_the_status_code_never_the_body(client_a, tenant_a, leaky_server, settings):
    settings.DEPLOY_KUBE_EGRESS_ALLOW = ["127.0.0.1/32"]  # even where the operator allows it
    settings.DEPLOY_KUBE_REQUEST_TIMEOUT = (2.0, 5.0)
    created = create(client_a, leaky_server + "/")
    assert created.status_code == 201, created.content
    body = client_a.post(f"/api/v1/clusters/{created.json()['id']}/check/", {}, format="json").json()
    assert body["last_check_ok"] is False
    assert "answered 500" in body["last_check_error"], body["last_check_error"]
    assert "hunter2" not in body["last_check_error"] and "node_memory" not in body["last_check_error"]
    from tenants.models import AuditEvent

    checked = AuditEvent.objects.for_tenant(tenant_a).get(action="deploy.kubecluster.checked")
    assert "answered 500" in str(checked.changes) and "hunter2" not in str(checked.changes)


# ---- foreign objects are never overwritten or deleted ----------------------------------------


@pytest.fixture
def deployment(tenant_a, cluster_a) -> Deployment:
    version = model_version(tenant_a, "echo", 1)
    return deployment_create(
        tenant=tenant_a,
        actor=SYSTEM,
        name="qa-triton",
        cluster_id=cluster_a.pk,
        model_repository="s3://models/acme",
        model_version_ids=[version.pk],
    )


def someone_else(k8s) -> KubeTarget:
    return KubeTarget.from_credentials(host=k8s.url, token=k8s.token, egress=LOOPBACK)


def config_map(labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "qa-triton-config", "namespace": NAMESPACE, "labels": labels},
        "data": {"billing.yaml": "owner: finance"},
    }


@pytest.mark.parametrize(
    "labels",
    [
        {"app": "billing"},  # not the portal's at all
        # another tenant's deployment of the same name in a shared cluster
        {
            TENANT_LABEL: "globex",
            "app.kubernetes.io/instance": "qa-triton",
            "app.kubernetes.io/managed-by": "llmops-portal",
        },
    ],
)
def test_a_rollout_over_a_foreign_object_fails_and_changes_nothing(tenant_a, deployment, k8s, labels):
    with someone_else(k8s) as other:
        other.apply([config_map(labels)], field_manager="kubectl", validate=False, server_dry_run=False)
    before = k8s.get("ConfigMap", NAMESPACE, "qa-triton-config")

    from deploy.services import rollout_start

    rollout = run(rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment).pk, tenant_a)

    assert rollout.state == "failed", rollout.reason
    assert "ConfigMap/team-a/qa-triton-config already exists and is not this deployment's" in rollout.reason
    assert "finance" not in rollout.reason
    assert k8s.get("ConfigMap", NAMESPACE, "qa-triton-config") == before  # not even re-applied
    assert k8s.get("Deployment", NAMESPACE, "qa-triton") is None and k8s.get("Service", NAMESPACE, "qa-triton") is None
    assert "rolling_back" not in [e.state for e in rollout.events.all()]  # nothing to undo
    deployment.refresh_from_db()
    assert deployment.status == "failed" and deployment.active_revision is None


def test_removing_a_revision_leaves_foreign_objects_alone(tenant_a, deployment, k8s):
    from deploy.services import rollout_start

    assert run(rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment).pk, tenant_a).state == "active"
    # Someone replaces the portal's ConfigMap with their own of the same name.
    with someone_else(k8s) as other:
        other.delete([config_map({})])
        other.apply([config_map({"app": "billing"})], field_manager="kubectl", validate=False, server_dry_run=False)
    revision = Revision.objects.for_tenant(tenant_a).get(deployment=deployment, number=1)
    target = default_target_factory(deployment, lambda s: None)
    try:
        message = target.rollback(None, RevisionData(1, revision.spec, list(revision.manifests)), 5.0)
    finally:
        target.close()
    assert "left alone (not this deployment's): ConfigMap/team-a/qa-triton-config" in message
    assert k8s.get("ConfigMap", NAMESPACE, "qa-triton-config")["data"] == {"billing.yaml": "owner: finance"}
    assert k8s.get("Deployment", NAMESPACE, "qa-triton") is None  # its own objects were removed
    assert Rollout.objects.for_tenant(tenant_a).count() == 1


def test_deletes_carry_the_checked_uid_as_a_precondition(k8s):
    """An object replaced between the ownership check and the delete is not deleted: the API
    (and the double, like it) refuses a delete whose uid precondition no longer matches."""
    with someone_else(k8s) as target:
        target.apply([config_map({"app": "x"})], field_manager="kubectl", validate=False, server_dry_run=False)
        with pytest.raises(KubeConflict) as excinfo:
            target._request(
                "DELETE",
                f"/api/v1/namespaces/{NAMESPACE}/configmaps/qa-triton-config",
                body={"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "not-its-uid"}},
                content_type="application/json",
            )
        assert "Precondition failed" in excinfo.value.detail
        assert k8s.get("ConfigMap", NAMESPACE, "qa-triton-config") is not None
