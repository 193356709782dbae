"""KubeTarget against the Kubernetes API double (or a real cluster, see conftest.py)."""

from __future__ import annotations

import base64
import copy
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from deploy.k8s.client import (
    KubeApplyError,
    KubeAuthError,
    KubeConflict,
    KubeInvalid,
    KubeNotFound,
    KubeTarget,
    KubeUnavailable,
    ObjectRef,
    RolloutFailed,
    RolloutTimeout,
)
from deploy.k8s.manifests import ManifestError, TritonDeploymentSpec, build_manifests
from tests.deploy.conftest import REAL_CLUSTER, TEST_EGRESS, Cluster
from tests.support.k8s_double import RolloutPlan

pytestmark = pytest.mark.timeout(300 if REAL_CLUSTER else 60)

# Real-cluster runs wait for real pods; the double answers at once.
READY_DEADLINE_S = 180.0 if REAL_CLUSTER else 10.0
POLL_S = 1.0 if REAL_CLUSTER else 0.01


def triton(cluster: Cluster, **overrides: Any) -> list[dict[str, Any]]:
    fields: dict[str, Any] = {
        "name": "qa-triton",
        "namespace": cluster.namespace,
        "model_repository": "s3://models/tenant-a",
        "models": ("minilm",),
        **overrides,
    }
    return build_manifests(TritonDeploymentSpec(**fields))


def small_deployment(namespace: str, name: str, image: str, **spec: Any) -> dict[str, Any]:
    """A Deployment that a kind cluster can actually run (pause) or never pull (registry.invalid)."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
            **spec,
        },
    }


def kind_of(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind)


# ---- credentials and reachability ------------------------------------------------------------


def test_check_auth_returns_server_version(cluster: Cluster) -> None:
    assert cluster.target.check_auth().startswith("v1.")
    assert cluster.target.check_auth(namespace=cluster.namespace).startswith("v1.")


def test_bad_token_is_an_auth_error(cluster: Cluster) -> None:
    with cluster.target_with_token("not-the-token") as target, pytest.raises(KubeAuthError) as excinfo:
        target.check_auth()
    assert excinfo.value.status == 401
    assert "rejected the credentials" in str(excinfo.value)
    assert not excinfo.value.retryable


def test_token_limited_to_another_namespace_gets_403(cluster: Cluster) -> None:
    double = cluster.double_or_skip
    token = double.add_token("system:serviceaccount:tenant-b:deployer", namespaces={"tenant-b"})
    with cluster.target_with_token(token) as target:
        with pytest.raises(KubeAuthError) as excinfo:
            target.check_auth(namespace=cluster.namespace)
        assert excinfo.value.status == 403
        assert 'cannot list resource "deployments"' in str(excinfo.value)
        with pytest.raises(KubeApplyError) as apply_info:
            target.apply(triton(cluster))
        assert isinstance(apply_info.value.cause, KubeAuthError)
        assert apply_info.value.applied == []


def test_unreachable_host_fails_fast() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    target = KubeTarget.from_credentials(host=f"http://127.0.0.1:{port}", token="t", egress=TEST_EGRESS)
    with target, pytest.raises(KubeUnavailable) as excinfo:
        target.check_auth()
    assert time.monotonic() - started < 5
    assert excinfo.value.retryable
    assert f"127.0.0.1:{port}" in str(excinfo.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (kernel backlog) and never answers: a hung API server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_hung_server_times_out_as_unavailable(silent_server: int) -> None:
    started = time.monotonic()
    target = KubeTarget.from_credentials(
        host=f"http://127.0.0.1:{silent_server}", token="t", request_timeout=(1, 1), egress=TEST_EGRESS
    )
    with target, pytest.raises(KubeUnavailable):
        target.check_auth()
    assert time.monotonic() - started < 5  # one read timeout: reads are not retried


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ValueError, match="use https://"):
        KubeTarget.from_credentials(host="http://k8s.example.com:6443", token="t")


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"command": "/bin/sh", "apiVersion": "client.authentication.k8s.io/v1"}},
        {"tokenFile": "/etc/passwd"},
        {"client-certificate": "/etc/ssl/cert.pem", "client-key": "/etc/ssl/key.pem"},
    ],
)
def test_kubeconfig_that_runs_programs_or_reads_files_is_refused(user: dict[str, Any]) -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://k8s.example.com"}}],
        "users": [{"name": "u", "user": user}],
    }
    with pytest.raises(ValueError, match="unsupported keys"):
        KubeTarget.from_credentials(kubeconfig=yaml.safe_dump(kubeconfig))


def test_kubeconfig_with_token_and_ca_data(cluster: Cluster) -> None:
    double = cluster.double_or_skip
    cluster_entry: dict[str, Any] = {"server": double.url}
    kubeconfig: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "portal",
        "contexts": [{"name": "portal", "context": {"cluster": "double", "user": "deployer"}}],
        "clusters": [{"name": "double", "cluster": cluster_entry}],
        "users": [{"name": "deployer", "user": {"token": double.token}}],
    }
    with KubeTarget.from_credentials(kubeconfig=yaml.safe_dump(kubeconfig), egress=TEST_EGRESS) as target:
        assert target.check_auth(namespace="tenant-a") == "v1.31.0"
    cluster_entry["certificate-authority-data"] = base64.b64encode(b"not a pem").decode()
    cluster_entry["server"] = "https://127.0.0.1:1"
    with KubeTarget.from_credentials(kubeconfig=yaml.safe_dump(kubeconfig), egress=TEST_EGRESS) as target:
        assert target.api.configuration.ca_cert_data == "not a pem"


# ---- server-side apply --------------------------------------------------------------------------


def test_apply_creates_and_reapply_is_a_no_op(cluster: Cluster) -> None:
    objs = triton(cluster)
    first = cluster.target.apply(objs)
    assert [a.ref.kind for a in first] == [
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "ServiceMonitor",
    ]
    assert all(a.created for a in first)
    deployment = next(a for a in first if a.ref.kind == "Deployment")
    assert deployment.generation == 1

    second = cluster.target.apply(objs)
    assert not any(a.created for a in second)
    assert [(a.ref, a.resource_version, a.generation) for a in second] == [
        (a.ref, a.resource_version, a.generation) for a in first
    ]
    if cluster.double is not None:
        applies = [r for r in cluster.double.log if r.method == "PATCH"]
        assert {r.content_type for r in applies} == {"application/apply-patch+yaml"}
        assert {r.query["fieldManager"] for r in applies} == {"llmops-portal"}
        # dry run, then the real apply, twice over: 4 PATCHes per object, 1 stored version
        assert len(applies) == 4 * len(objs)
        assert len(cluster.double.history("Deployment", cluster.namespace, "qa-triton")) == 1
    live = cluster.target.get(kind_of(objs, "Deployment"))
    managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
    assert ("llmops-portal", "Apply") in managers


def test_changed_spec_bumps_generation_and_metadata_change_does_not(cluster: Cluster) -> None:
    cluster.target.apply(triton(cluster))
    changed = triton(cluster, models=("minilm", "reranker"), revision="2")
    applied = {a.ref.kind: a for a in cluster.target.apply(changed)}
    assert applied["Deployment"].generation == 2

    annotated = copy.deepcopy(changed)
    kind_of(annotated, "Deployment")["metadata"].setdefault("annotations", {})["note"] = "metadata only"
    again = {a.ref.kind: a for a in cluster.target.apply(annotated)}
    assert again["Deployment"].generation == 2
    assert again["Deployment"].resource_version != applied["Deployment"].resource_version
    live = cluster.target.get(kind_of(changed, "Deployment"))
    assert "--load-model=reranker" in live["spec"]["template"]["spec"]["containers"][0]["args"]


def test_conflicting_field_manager_needs_force(cluster: Cluster) -> None:
    objs = triton(cluster)
    cluster.target.apply(objs)
    edit = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "qa-triton", "namespace": cluster.namespace},
        "spec": {"replicas": 3},
    }
    cluster.target.apply([edit], field_manager="kubectl", validate=False, force_conflicts=True)
    assert cluster.target.get(edit)["spec"]["replicas"] == 3
    with pytest.raises(KubeApplyError) as excinfo:
        cluster.target.apply(objs, force_conflicts=False)
    assert isinstance(excinfo.value.cause, KubeConflict)
    assert "kubectl" in str(excinfo.value) and "replicas" in str(excinfo.value)
    cluster.target.apply(objs)  # the portal's rollout takes the field back
    assert cluster.target.get(edit)["spec"]["replicas"] == 1


# ---- rejections and partial application ---------------------------------------------------------


def test_local_validation_stops_before_any_request(cluster: Cluster) -> None:
    objs = triton(cluster)
    kind_of(objs, "Deployment")["spec"]["replicas"] = "two"
    with pytest.raises(ManifestError, match=r"spec\.replicas"):
        cluster.target.apply(objs)
    if cluster.double is not None:
        assert not [r for r in cluster.double.log if r.method == "PATCH"]


def test_server_rejects_invalid_object_with_422_and_nothing_is_applied(cluster: Cluster) -> None:
    objs = triton(cluster)
    del kind_of(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    with pytest.raises(KubeApplyError) as excinfo:
        cluster.target.apply(objs, validate=False)
    error = excinfo.value
    assert isinstance(error.cause, KubeInvalid) and error.cause.status == 422
    assert "image: Required value" in str(error)
    assert error.failed == ObjectRef.of(kind_of(objs, "Deployment"))
    assert error.applied == []  # the server dry run refused it first
    for obj in objs:
        with pytest.raises(KubeNotFound):
            cluster.target.get(obj)


def test_rejection_mid_way_reports_what_was_applied(cluster: Cluster) -> None:
    objs = triton(cluster)
    del kind_of(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    with pytest.raises(KubeApplyError) as excinfo:
        cluster.target.apply(objs, validate=False, server_dry_run=False)
    assert [ref.kind for ref in excinfo.value.applied] == ["ConfigMap", "Service"]
    assert "ConfigMap" in str(excinfo.value)
    assert cluster.target.get(kind_of(objs, "ConfigMap"))["data"]["models.json"] == '["minilm"]'
    with pytest.raises(KubeNotFound):
        cluster.target.get(kind_of(objs, "ServiceMonitor"))  # nothing after the failure


def test_wrong_type_is_invalid_and_not_retryable(cluster: Cluster) -> None:
    objs = triton(cluster)
    kind_of(objs, "Deployment")["spec"]["replicas"] = "two"
    with pytest.raises(KubeApplyError) as excinfo:
        cluster.target.apply(objs, validate=False)
    # Server-side apply answers a type error with 500 "failed to create typed patch object".
    assert isinstance(excinfo.value.cause, KubeInvalid)
    assert not excinfo.value.retryable
    assert "replicas" in str(excinfo.value)


def test_missing_namespace_is_not_found(cluster: Cluster) -> None:
    objs = triton(cluster)
    for obj in objs:
        obj["metadata"]["namespace"] = "no-such-namespace"
    with pytest.raises(KubeApplyError) as excinfo:
        cluster.target.apply(objs)
    assert isinstance(excinfo.value.cause, KubeNotFound)
    assert 'namespaces "no-such-namespace" not found' in str(excinfo.value)


def test_uninstalled_crd_is_reported_before_anything_is_applied(cluster: Cluster) -> None:
    double = cluster.double_or_skip
    double.installed_crds.discard("servicemonitors")
    objs = triton(cluster)
    with pytest.raises(KubeApplyError) as excinfo:
        cluster.target.apply(objs)
    assert "monitoring.coreos.com/v1 ServiceMonitor (is its CRD installed?)" in str(excinfo.value)
    assert double.objects(cluster.namespace) == []


def test_kserve_inference_service_applies(cluster: Cluster) -> None:
    applied = cluster.target.apply(triton(cluster, kserve=True, max_replicas=2))
    assert [(a.ref.kind, a.generation) for a in applied] == [("ConfigMap", None), ("InferenceService", 1)]


# ---- rollout status -------------------------------------------------------------------------


def test_wait_for_rollout_succeeds_when_pods_become_ready(cluster: Cluster) -> None:
    cluster.plan("web", RolloutPlan(mode="ready", ready_after_polls=3))
    cluster.target.apply([small_deployment(cluster.namespace, "web", "registry.k8s.io/pause:3.9")])
    assert not cluster.target.get_deployment_status(cluster.namespace, "web").complete or REAL_CLUSTER
    status = cluster.target.wait_for_rollout(cluster.namespace, "web", deadline_s=READY_DEADLINE_S, poll_s=POLL_S)
    assert status.complete and status.failed_reason is None
    assert (status.updated_replicas, status.ready_replicas, status.available_replicas) == (1, 1, 1)
    assert status.observed_generation == status.generation == 1
    assert any(c.type == "Available" and c.status == "True" for c in status.conditions)


def test_wait_for_rollout_times_out_when_never_ready(cluster: Cluster) -> None:
    cluster.plan("stuck", RolloutPlan(mode="stuck"))
    cluster.target.apply([small_deployment(cluster.namespace, "stuck", "registry.invalid/never:1")])
    started = time.monotonic()
    with pytest.raises(RolloutTimeout) as excinfo:
        cluster.target.wait_for_rollout(cluster.namespace, "stuck", deadline_s=1.5, poll_s=0.2)
    assert 1.5 <= time.monotonic() - started < 4
    assert excinfo.value.rollout is not None and not excinfo.value.rollout.complete
    assert "not complete after 1.5s" in str(excinfo.value)


def test_progress_deadline_exceeded_fails_the_rollout(cluster: Cluster) -> None:
    cluster.plan("doomed", RolloutPlan(mode="stuck", deadline_after_polls=2))
    deployment = small_deployment(cluster.namespace, "doomed", "registry.invalid/never:1", progressDeadlineSeconds=1)
    cluster.target.apply([deployment])
    with pytest.raises(RolloutFailed) as excinfo:
        cluster.target.wait_for_rollout(cluster.namespace, "doomed", deadline_s=READY_DEADLINE_S, poll_s=POLL_S)
    assert excinfo.value.rollout is not None
    assert excinfo.value.rollout.failed_reason is not None
    assert excinfo.value.rollout.failed_reason.startswith("ProgressDeadlineExceeded")


def test_status_is_incomplete_until_the_controller_observes_the_new_generation(cluster: Cluster) -> None:
    cluster.double_or_skip  # noqa: B018 - the scripted controller lag exists only in the double
    name = "web"
    cluster.target.apply([small_deployment(cluster.namespace, name, "registry.k8s.io/pause:3.9")])
    assert cluster.target.get_deployment_status(cluster.namespace, name).complete
    cluster.plan(name, RolloutPlan(mode="ready", ready_after_polls=2, observe_after_polls=1))
    new_image = small_deployment(cluster.namespace, name, "registry.k8s.io/pause:3.10")
    cluster.target.apply([new_image])
    lagging = cluster.target.get_deployment_status(cluster.namespace, name)
    assert (lagging.generation, lagging.observed_generation) == (2, 1)
    assert not lagging.complete  # counts still say 1/1/1, but for the old spec
    surging = cluster.target.get_deployment_status(cluster.namespace, name)
    assert surging.observed_generation == 2 and not surging.complete
    assert (surging.status_replicas, surging.updated_replicas, surging.available_replicas) == (2, 1, 1)
    done = cluster.target.get_deployment_status(cluster.namespace, name)
    assert done.complete and done.status_replicas == 1


def test_status_of_a_missing_deployment_is_not_found(cluster: Cluster) -> None:
    with pytest.raises(KubeNotFound):
        cluster.target.get_deployment_status(cluster.namespace, "nope")


# ---- rollback and delete --------------------------------------------------------------------


def test_rollback_reapplies_the_previous_revision(cluster: Cluster) -> None:
    cluster.plan("qa-triton", RolloutPlan(mode="ready"))
    rev1 = triton(cluster, revision="1")
    cluster.target.apply(rev1)
    spec_rev1 = cluster.target.get(kind_of(rev1, "Deployment"))["spec"]

    rev2 = triton(cluster, revision="2", models=("minilm", "reranker"), extra_env={"TRACE": "1"}, max_replicas=3)
    cluster.target.apply(rev2)
    live2 = cluster.target.get(kind_of(rev2, "Deployment"))
    assert live2["metadata"]["generation"] == 2
    assert live2["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "TRACE", "value": "1"}]
    cluster.target.get(kind_of(rev2, "HorizontalPodAutoscaler"))

    cluster.target.rollback(cluster.namespace, rev1, current_objs=rev2)
    live = cluster.target.get(kind_of(rev1, "Deployment"))
    assert live["spec"] == spec_rev1  # fields only rev2 set (env, model) are gone
    assert live["metadata"]["generation"] == 3  # a rollback is a new rollout
    assert live["metadata"]["labels"]["llmops-portal.io/revision"] == "1"
    with pytest.raises(KubeNotFound):
        cluster.target.get(kind_of(rev2, "HorizontalPodAutoscaler"))  # rev1 had no HPA
    assert cluster.target.wait_for_rollout(cluster.namespace, "qa-triton", 10, 0.01).complete or REAL_CLUSTER


def test_rollback_refuses_objects_of_another_namespace(cluster: Cluster) -> None:
    objs = triton(cluster)
    with pytest.raises(ManifestError, match="not in namespace"):
        cluster.target.rollback("other-namespace", objs)


def test_delete_is_idempotent(cluster: Cluster) -> None:
    objs = triton(cluster)
    cluster.target.apply(objs)
    deleted = cluster.target.delete(objs)
    assert [ref.kind for ref in deleted] == [
        "ServiceMonitor",
        "PodDisruptionBudget",
        "Deployment",
        "Service",
        "ConfigMap",
    ]
    for obj in objs:
        with pytest.raises(KubeNotFound):
            cluster.target.get(obj)
    assert cluster.target.delete(objs) == []
