"""Manifests built from a TritonDeploymentSpec: shape, determinism, name rules, and validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from deploy.k8s.manifests import (
    CONFIG_HASH_ANNOTATION,
    ManifestError,
    TritonDeploymentSpec,
    build_manifests,
    find_manifest_problems,
    supported_k8s_versions,
    to_yaml,
    validate_manifests,
)


def spec(**overrides: Any) -> TritonDeploymentSpec:
    base: dict[str, Any] = {
        "name": "qa-triton",
        "namespace": "tenant-a",
        "model_repository": "s3://models-bucket/tenant-a",
        "models": ("minilm", "reranker"),
        "gpu_type": "NVIDIA-H100-80GB-HBM3",
    }
    return TritonDeploymentSpec(**{**base, **overrides})


def by_kind(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objs}


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(objs)["Deployment"]["spec"]["template"]["spec"]["containers"][0]


SPEC_VARIANTS = {
    "static": spec(),
    "hpa-cpu": spec(replicas=2, min_replicas=2, max_replicas=4, autoscaling_metric="cpu", autoscaling_target=60),
    "hpa-gpu": spec(max_replicas=3, autoscaling_metric="gpu", autoscaling_target=80),
    "hpa-queue": spec(max_replicas=3, autoscaling_metric="queue_time", autoscaling_target=2500.5),
    "mig": spec(mig_profile="1g.10gb", gpus_per_replica=1),
    "time-slicing": spec(time_slicing=True, gpu_type=None),
    "pvc": spec(model_repository="pvc://model-store/tenant-a", repository_credentials_secret=None),
    "cpu-only": spec(gpus_per_replica=0, gpu_type=None, extra_env={"OMP_NUM_THREADS": "1"}),
    "s3-creds": spec(repository_credentials_secret="s3-credentials", labels={"team": "search"}),
    "kserve": spec(kserve=True, max_replicas=3),
}


@pytest.mark.parametrize("variant", sorted(SPEC_VARIANTS))
@pytest.mark.parametrize("k8s_version", ["1.29", "1.31", supported_k8s_versions()[-1]])
def test_generated_manifests_pass_validation(variant: str, k8s_version: str) -> None:
    objs = build_manifests(SPEC_VARIANTS[variant])
    assert find_manifest_problems(objs, k8s_version) == []
    validate_manifests(objs, k8s_version)
    assert {o["metadata"]["namespace"] for o in objs} == {"tenant-a"}


def test_kinds_and_order() -> None:
    kinds = [o["kind"] for o in build_manifests(SPEC_VARIANTS["hpa-cpu"])]
    assert kinds == [
        "ConfigMap",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
    ]
    assert "HorizontalPodAutoscaler" not in [o["kind"] for o in build_manifests(spec())]
    assert [o["kind"] for o in build_manifests(SPEC_VARIANTS["kserve"])] == ["ConfigMap", "InferenceService"]


def test_triton_container_shape() -> None:
    objs = build_manifests(spec())
    c = container(objs)
    assert c["image"] == "nvcr.io/nvidia/tritonserver:24.10-py3"
    assert c["args"][:4] == [
        "--model-repository=s3://models-bucket/tenant-a",
        "--model-control-mode=explicit",
        "--load-model=minilm",
        "--load-model=reranker",
    ]
    assert {(p["name"], p["containerPort"]) for p in c["ports"]} == {
        ("http", 8000),
        ("grpc", 8001),
        ("metrics", 8002),
    }
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] == 600
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["resources"]["requests"]["nvidia.com/gpu"] == "1"
    deployment = by_kind(objs)["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    service_ports = {p["name"]: p["port"] for p in by_kind(objs)["Service"]["spec"]["ports"]}
    assert service_ports == {"http": 8000, "grpc": 8001, "metrics": 8002}
    monitor = by_kind(objs)["ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert by_kind(objs)["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_selector_excludes_revision_but_pods_carry_it() -> None:
    deployment = by_kind(build_manifests(spec(revision="7")))["Deployment"]
    assert "llmops-portal.io/revision" not in deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["llmops-portal.io/revision"] == "7"


def test_mig_and_time_slicing_resources() -> None:
    mig = container(build_manifests(spec(mig_profile="1g.10gb", gpus_per_replica=2)))["resources"]["limits"]
    assert mig["nvidia.com/mig-1g.10gb"] == "2"
    assert "nvidia.com/gpu" not in mig
    sliced = by_kind(build_manifests(spec(time_slicing=True, gpu_type=None)))["Deployment"]
    assert sliced["spec"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.sharing-strategy": "time-slicing"}
    cpu_only = container(build_manifests(spec(gpus_per_replica=0, gpu_type=None)))["resources"]["limits"]
    assert not any(key.startswith("nvidia.com/") for key in cpu_only)


def test_pvc_model_repository_is_mounted() -> None:
    objs = build_manifests(spec(model_repository="pvc://model-store/tenant-a"))
    pod = by_kind(objs)["Deployment"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "models")
    assert volume["persistentVolumeClaim"] == {"claimName": "model-store", "readOnly": True}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "models")
    assert mount["subPath"] == "tenant-a"
    assert "--model-repository=/models" in pod["containers"][0]["args"]


@pytest.mark.parametrize(
    ("metric", "expected_type", "metric_name"),
    [
        ("cpu", "Resource", None),
        ("gpu", "Pods", "DCGM_FI_DEV_GPU_UTIL"),
        ("queue_time", "Pods", "triton_queue_time_us_per_request"),
    ],
)
def test_hpa_metric(metric: str, expected_type: str, metric_name: str | None) -> None:
    objs = build_manifests(spec(max_replicas=4, autoscaling_metric=metric, autoscaling_target=75))
    hpa = by_kind(objs)["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    (entry,) = hpa["spec"]["metrics"]
    assert entry["type"] == expected_type
    if metric_name:
        assert entry["pods"]["metric"]["name"] == metric_name
        assert entry["pods"]["target"] == {"type": "AverageValue", "averageValue": "75"}
    else:
        assert entry["resource"]["target"] == {"type": "Utilization", "averageUtilization": 75}
    # The HPA owns the replica count; a re-applied revision must not reset it.
    assert "replicas" not in by_kind(objs)["Deployment"]["spec"]


def test_config_hash_rolls_on_config_change_and_output_is_deterministic() -> None:
    first, again = build_manifests(spec()), build_manifests(spec())
    assert to_yaml(first) == to_yaml(again)
    assert list(yaml.safe_load_all(to_yaml(first))) == first

    def config_hash(objs: list[dict[str, Any]]) -> str:
        return by_kind(objs)["Deployment"]["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]

    assert config_hash(first) != config_hash(build_manifests(spec(models=("minilm",))))
    assert config_hash(first) == config_hash(
        build_manifests(spec(cpu_limit="8"))
    )  # not config: template changes anyway


def test_yaml_is_multi_document_with_sorted_keys() -> None:
    text = to_yaml(build_manifests(spec()))
    assert text.startswith("---\n")
    assert text.count("\n---\n") + 1 == len(list(yaml.safe_load_all(text))) == 5
    assert text.splitlines()[1] == "apiVersion: v1"


def test_kserve_inference_service() -> None:
    isvc = by_kind(build_manifests(spec(kserve=True, model_repository="model-store")))["InferenceService"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "triton"}
    assert model["storageUri"] == "pvc://model-store"
    assert "--load-model=minilm" in model["args"]
    with pytest.raises(ManifestError, match="cpu metric only"):
        build_manifests(spec(kserve=True, max_replicas=3, autoscaling_metric="gpu"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"namespace": "Prod_NS"},
            "namespace 'Prod_NS' is invalid: must be lowercase alphanumeric or '-' characters, start and "
            "end with an alphanumeric character, at most 63 characters (DNS-1123 label)",
        ),
        ({"namespace": "-tenant"}, "namespace '-tenant' is invalid"),
        ({"namespace": "a" * 64}, "at most 63 characters"),
        ({"name": "1triton"}, "name '1triton' is invalid: must start with a lowercase letter"),
        ({"name": "qa.triton"}, "name 'qa.triton' is invalid"),
        ({"name": "q" * 53}, "at most 52 characters"),
        ({"labels": {"team": "search team"}}, "label team='search team' is invalid"),
        ({"labels": {"Bad_Prefix/x": "y"}}, "the prefix must be a DNS-1123 subdomain"),
        ({"mig_profile": "1g.10gb", "time_slicing": True}, "mutually exclusive"),
        ({"mig_profile": "big"}, "mig_profile 'big' is invalid"),
        ({"memory_limit": "16 GB"}, "memory_limit '16 GB' is not a Kubernetes quantity"),
        ({"models": ("a", "a")}, "duplicates"),
        ({"models": ("bad name",)}, "model name 'bad name' is invalid"),
        ({"min_replicas": 3, "max_replicas": 2}, "need 1 <= min <= max"),
        ({"model_repository": "Not_A_Claim"}, "model_repository PVC name 'Not_A_Claim' is invalid"),
        ({"gpus_per_replica": 0}, "need gpus_per_replica >= 1"),
        ({"extra_env": {"1BAD": "x"}}, "environment variable name '1BAD' is invalid"),
    ],
)
def test_invalid_specs_are_rejected_with_clear_messages(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as excinfo:
        build_manifests(spec(**overrides))
    assert message in str(excinfo.value)


def _broken(kind: str, mutate: Any) -> list[dict[str, Any]]:
    objs = copy.deepcopy(build_manifests(spec()))
    mutate(by_kind(objs)[kind])
    return objs


def _set(path: str, value: Any) -> Any:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            obj = obj[int(key)] if key.isdigit() else obj[key]  # type: ignore[index]
        if value is _DELETE:
            del obj[last]
        else:
            obj[last] = value

    return mutate


_DELETE = object()
_CONTAINER = "spec.template.spec.containers.0"


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    [
        (
            "Deployment",
            _set("spec.replicas", "two"),
            "Deployment/qa-triton: spec.replicas: 'two' is not of type",
        ),
        ("Deployment", _set(f"{_CONTAINER}.image", _DELETE), "containers[0].image: Required value"),
        ("Deployment", _set("spec.rollout", {"fast": True}), "'rollout' was unexpected"),
        ("Deployment", _set(f"{_CONTAINER}.ports.0.containerPort", "8000"), "containerPort"),
        ("Deployment", _set("spec.template.metadata.labels", {"app": "other"}), "does not match template"),
        ("Service", _set("spec.ports.0.port", "http"), "Service/qa-triton: spec.ports.0.port"),
        ("ConfigMap", _set("metadata.name", "Bad_Name"), "metadata.name 'Bad_Name' is invalid"),
        ("PodDisruptionBudget", _set("spec.minAvailabel", 1), "'minAvailabel' was unexpected"),
        ("ServiceMonitor", _set("spec.selector", _DELETE), "'selector' is a required property"),
        ("ServiceMonitor", _set("spec.endpoints.0.interval", "15 seconds"), "spec.endpoints.0.interval"),
        ("ServiceMonitor", _set("spec.scrapeEverything", True), "'scrapeEverything' was unexpected"),
    ],
)
def test_broken_objects_fail_validation(kind: str, mutate: Any, expected: str) -> None:
    objs = _broken(kind, mutate)
    problems = find_manifest_problems(objs)
    assert any(expected in p for p in problems), problems
    with pytest.raises(ManifestError):
        validate_manifests(objs)


def _gpu_mismatch() -> list[dict[str, Any]]:
    objs = copy.deepcopy(build_manifests(spec()))
    container(objs)["resources"]["requests"]["nvidia.com/gpu"] = "2"
    return objs


def test_gpu_request_must_equal_limit() -> None:
    problems = find_manifest_problems(_gpu_mismatch())
    assert any("nvidia.com/gpu" in p and "equal" in p for p in problems), problems


def test_inference_service_subset_schema_rejects_unknown_fields() -> None:
    objs = build_manifests(spec(kserve=True))
    by_kind(objs)["InferenceService"]["spec"]["predictor"]["model"]["modelFormat"]["flavour"] = "x"
    assert any("'flavour' was unexpected" in p for p in find_manifest_problems(objs))


@pytest.mark.parametrize("version", ["1.4", "1.24", "2.0", "latest"])
def test_unsupported_kubernetes_versions_are_refused(version: str) -> None:
    # kubernetes-validate compares versions as strings ("1.4" > "1.37"); we check them properly.
    with pytest.raises(ManifestError, match="k8s_version"):
        validate_manifests(build_manifests(spec()), version)


def test_bundled_schema_versions() -> None:
    versions = supported_k8s_versions()
    assert "1.31" in versions
    assert versions[0] == "1.25"
