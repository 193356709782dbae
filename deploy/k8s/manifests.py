"""Kubernetes manifests for a Triton inference deployment, built as data.

`build_manifests(spec)` turns one `TritonDeploymentSpec` into plain dicts (never pasted YAML),
in dependency order: ConfigMap, Service, Deployment, HorizontalPodAutoscaler,
PodDisruptionBudget, ServiceMonitor; or ConfigMap + KServe InferenceService in `kserve` mode.

Invariants:
- Every object carries `metadata.namespace == spec.namespace` and the same selector labels
  (`app.kubernetes.io/name`, `app.kubernetes.io/instance`); the selector never includes the
  revision, because a Deployment selector is immutable and a revision change must roll, not fail.
- The pod template carries a hash of the ConfigMap data, so a config-only change still rolls pods.
- Output is deterministic: the same spec gives byte-identical YAML (`to_yaml` sorts keys).
- `validate_manifests` checks built-in kinds with `kubernetes-validate` (bundled schemas 1.25-1.37,
  strict: unknown fields are errors, as server-side apply makes them) plus the few rules the API
  server enforces beyond the OpenAPI schema; custom resources against `crd_schemas`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from deploy.k8s.naming import (
    ManifestError,
    check_dns1035_label,
    check_dns1123_label,
    check_label,
    check_quantity,
)
from deploy.k8s.validation import find_manifest_problems, supported_k8s_versions, validate_manifests

Manifest = dict[str, Any]

LABEL_PREFIX = "llmops-portal.io"
REVISION_LABEL = f"{LABEL_PREFIX}/revision"
CONFIG_HASH_ANNOTATION = f"{LABEL_PREFIX}/config-hash"
MANAGED_BY = "llmops-portal"
TENANT_LABEL = f"{LABEL_PREFIX}/tenant"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
# The labels that make an object in a cluster this tenant's and this deployment's: a rollout
# overwrites or deletes only objects whose live labels carry the manifest's values of all three.
OWNER_LABELS = (TENANT_LABEL, INSTANCE_LABEL, MANAGED_BY_LABEL)
DEFAULT_TRITON_TAG = "24.10"  # Triton 2.51, the server version the portal is tested against locally
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
# Set by NVIDIA gpu-feature-discovery when the device plugin shares GPUs by time-slicing.
GPU_SHARING_LABEL = "nvidia.com/gpu.sharing-strategy"

HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
MAX_NAME_LENGTH = 52  # 63 (label) minus room for derived names like "<name>-config"

AutoscalingMetric = Literal["cpu", "gpu", "queue_time"]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_MIG_PROFILE = re.compile(r"^\d+g\.\d+gb(\+me)?$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IMAGE = re.compile(r"^[^\s]+$")


@dataclass(frozen=True)
class TritonDeploymentSpec:
    """Everything that decides one Triton deployment's manifests (one portal revision).

    `model_repository` is an object-store URI (`s3://bucket/prefix`, `gs://bucket/prefix`) or a
    PersistentVolumeClaim, written `pvc://claim[/sub/path]` or as a bare claim name.
    Autoscaling is on when `max_replicas > min_replicas`; then the Deployment omits
    `spec.replicas` so that re-applying a revision never fights the HPA over the replica count.
    """

    name: str
    namespace: str
    model_repository: str
    models: tuple[str, ...] = ()
    triton_tag: str = DEFAULT_TRITON_TAG
    image: str | None = None
    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int = 1
    gpus_per_replica: int = 1
    gpu_type: str | None = None
    mig_profile: str | None = None
    time_slicing: bool = False
    cpu_request: str = "2"
    cpu_limit: str = "4"
    memory_request: str = "8Gi"
    memory_limit: str = "16Gi"
    shm_size: str = "1Gi"
    autoscaling_metric: AutoscalingMetric = "cpu"
    autoscaling_target: float = 70
    # Names exposed by prometheus-adapter (see docs/deploy.md for the rules they assume).
    gpu_metric_name: str = "DCGM_FI_DEV_GPU_UTIL"
    queue_time_metric_name: str = "triton_queue_time_us_per_request"
    labels: Mapping[str, str] = field(default_factory=dict)
    revision: str = "1"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    repository_credentials_secret: str | None = None
    startup_timeout_s: int = 600
    progress_deadline_s: int = 900
    kserve: bool = False

    @property
    def resolved_image(self) -> str:
        return self.image or f"nvcr.io/nvidia/tritonserver:{self.triton_tag}-py3"

    @property
    def autoscaling_enabled(self) -> bool:
        return self.max_replicas > self.min_replicas

    @property
    def gpu_resource(self) -> str | None:
        if self.gpus_per_replica == 0:
            return None
        if self.mig_profile:
            return f"nvidia.com/mig-{self.mig_profile}"
        return "nvidia.com/gpu"

    def validate(self) -> None:
        """Raise `ManifestError` for the first problem, with a message meant for an operator."""
        check_dns1035_label(self.name, "name", MAX_NAME_LENGTH)
        check_dns1123_label(self.namespace, "namespace")
        if not _IMAGE.match(self.resolved_image):
            raise ManifestError(f"image {self.resolved_image!r} is invalid: must be non-empty, no spaces")
        for number, what in ((self.replicas, "replicas"), (self.gpus_per_replica, "gpus_per_replica")):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise ManifestError(f"{what} must be a non-negative integer, got {number!r}")
        if self.min_replicas < 1 or self.max_replicas < self.min_replicas:
            raise ManifestError(
                f"min_replicas={self.min_replicas}, max_replicas={self.max_replicas}: need 1 <= min <= max"
            )
        if self.autoscaling_enabled and not (self.min_replicas <= self.replicas <= self.max_replicas):
            raise ManifestError(f"replicas={self.replicas} must lie in [min_replicas, max_replicas]")
        if self.mig_profile and self.time_slicing:
            raise ManifestError("mig_profile and time_slicing are mutually exclusive")
        if self.mig_profile is not None and not _MIG_PROFILE.match(self.mig_profile):
            raise ManifestError(f"mig_profile {self.mig_profile!r} is invalid: expected e.g. '1g.10gb'")
        if self.gpus_per_replica == 0 and (self.mig_profile or self.time_slicing or self.gpu_type):
            raise ManifestError("gpu_type/mig_profile/time_slicing need gpus_per_replica >= 1")
        if self.gpu_type is not None:
            check_label(GPU_PRODUCT_LABEL, self.gpu_type)
        for value, what in (
            (self.cpu_request, "cpu_request"),
            (self.cpu_limit, "cpu_limit"),
            (self.memory_request, "memory_request"),
            (self.memory_limit, "memory_limit"),
            (self.shm_size, "shm_size"),
        ):
            check_quantity(value, what)
        _check_model_repository(self.model_repository)
        if len(set(self.models)) != len(self.models):
            raise ManifestError(f"models contains duplicates: {list(self.models)}")
        for model in self.models:
            if not _MODEL_NAME.match(model):
                raise ManifestError(f"model name {model!r} is invalid: letters, digits, '_', '.', '-'")
        if self.autoscaling_metric not in ("cpu", "gpu", "queue_time"):
            raise ManifestError(f"autoscaling_metric must be cpu, gpu or queue_time, not {self.autoscaling_metric!r}")
        if self.autoscaling_target <= 0:
            raise ManifestError("autoscaling_target must be positive")
        if self.kserve and self.autoscaling_enabled and self.autoscaling_metric != "cpu":
            raise ManifestError("KServe predictor autoscaling supports the cpu metric only here")
        for key, value in {**self.labels, REVISION_LABEL: self.revision}.items():
            check_label(key, value)
        for key in self.extra_env:
            if not _ENV_NAME.match(key):
                raise ManifestError(f"environment variable name {key!r} is invalid")
        if self.repository_credentials_secret is not None:
            check_dns1123_label(self.repository_credentials_secret, "repository_credentials_secret", 253)
        if self.startup_timeout_s < 10 or self.progress_deadline_s < 1:
            raise ManifestError("startup_timeout_s must be >= 10 and progress_deadline_s >= 1")


def _check_model_repository(uri: str) -> None:
    if uri.startswith(("s3://", "gs://")):
        if len(uri) <= len("s3://") or " " in uri:
            raise ManifestError(f"model_repository {uri!r} is invalid: expected s3://bucket/prefix")
        return
    claim = _pvc_claim(uri)[0]
    check_dns1123_label(claim, "model_repository PVC name", 253)


def _pvc_claim(uri: str) -> tuple[str, str]:
    """Split `pvc://claim/sub/path` or a bare claim name into (claim, sub_path)."""
    rest = uri.removeprefix("pvc://")
    claim, _, sub_path = rest.partition("/")
    return claim, sub_path


def selector_labels(spec: TritonDeploymentSpec) -> dict[str, str]:
    """The immutable selector: never contains the revision."""
    return {"app.kubernetes.io/name": "triton", INSTANCE_LABEL: spec.name}


def common_labels(spec: TritonDeploymentSpec) -> dict[str, str]:
    return {
        **dict(spec.labels),
        **selector_labels(spec),
        "app.kubernetes.io/component": "inference-server",
        MANAGED_BY_LABEL: MANAGED_BY,
        REVISION_LABEL: spec.revision,
    }


def _meta(spec: TritonDeploymentSpec, name: str, annotations: Mapping[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": name, "namespace": spec.namespace, "labels": common_labels(spec)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def config_map_name(spec: TritonDeploymentSpec) -> str:
    return f"{spec.name}-config"


def _config_data(spec: TritonDeploymentSpec) -> dict[str, str]:
    config = {
        "name": spec.name,
        "revision": spec.revision,
        "image": spec.resolved_image,
        "model_repository": spec.model_repository,
        "models": list(spec.models),
        "gpu": {
            "per_replica": spec.gpus_per_replica,
            "resource": spec.gpu_resource,
            "type": spec.gpu_type,
            "time_slicing": spec.time_slicing,
        },
    }
    return {
        "models.json": json.dumps(list(spec.models)),
        "deployment.json": json.dumps(config, sort_keys=True, indent=2),
    }


def config_hash(data: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()[:16]


def _triton_args(spec: TritonDeploymentSpec, repository_path: str) -> list[str]:
    args = [
        f"--model-repository={repository_path}",
        "--model-control-mode=explicit",
        *(f"--load-model={model}" for model in spec.models),
        # Ready only when every loaded model is ready, so the readiness probe gates traffic on models.
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
    ]
    return args


def _resources(spec: TritonDeploymentSpec) -> Manifest:
    requests: dict[str, Any] = {"cpu": spec.cpu_request, "memory": spec.memory_request}
    limits: dict[str, Any] = {"cpu": spec.cpu_limit, "memory": spec.memory_limit}
    if spec.gpu_resource:
        # Extended resources cannot be overcommitted: the API server requires request == limit.
        # Quantities as strings: the API server returns them so, keeping re-applies diff-free.
        requests[spec.gpu_resource] = str(spec.gpus_per_replica)
        limits[spec.gpu_resource] = str(spec.gpus_per_replica)
    return {"requests": requests, "limits": limits}


def _node_placement(spec: TritonDeploymentSpec) -> Manifest:
    placement: Manifest = {}
    selector: dict[str, str] = {}
    if spec.gpu_type:
        selector[GPU_PRODUCT_LABEL] = spec.gpu_type
    if spec.time_slicing:
        selector[GPU_SHARING_LABEL] = "time-slicing"
    if selector:
        placement["nodeSelector"] = selector
    if spec.gpu_resource:
        placement["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return placement


def _probe(path: str, period_s: int, failure_threshold: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failure_threshold,
    }


def _env(spec: TritonDeploymentSpec) -> list[Manifest]:
    return [{"name": key, "value": str(value)} for key, value in sorted(spec.extra_env.items())]


def build_config_map(spec: TritonDeploymentSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(spec, config_map_name(spec)),
        "data": _config_data(spec),
    }


def build_deployment(spec: TritonDeploymentSpec) -> Manifest:
    volumes: list[Manifest] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}},
        {"name": "portal-config", "configMap": {"name": config_map_name(spec)}},
    ]
    mounts: list[Manifest] = [
        {"name": "dshm", "mountPath": "/dev/shm"},  # noqa: S108 - the pod's own shm
        {"name": "portal-config", "mountPath": "/etc/llmops-portal", "readOnly": True},
    ]
    if spec.model_repository.startswith(("s3://", "gs://")):
        repository_path = spec.model_repository
    else:
        claim, sub_path = _pvc_claim(spec.model_repository)
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
        mount: Manifest = {"name": "models", "mountPath": "/models", "readOnly": True}
        if sub_path:
            mount["subPath"] = sub_path
        mounts.append(mount)
        repository_path = "/models"

    container: Manifest = {
        "name": "triton",
        "image": spec.resolved_image,
        "command": ["tritonserver"],
        "args": _triton_args(spec, repository_path),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": _resources(spec),
        "volumeMounts": mounts,
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        # Model loading can take minutes; liveness only starts once this has passed.
        "startupProbe": _probe("/v2/health/ready", 10, max(1, spec.startup_timeout_s // 10)),
    }
    env = _env(spec)
    if env:
        container["env"] = env
    if spec.repository_credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": spec.repository_credentials_secret}}]

    pod_labels = {**selector_labels(spec), **common_labels(spec)}
    deployment_spec: Manifest = {
        "selector": {"matchLabels": selector_labels(spec)},
        # Never drop below the serving capacity during a rollout; needs one spare GPU slot to surge.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "progressDeadlineSeconds": spec.progress_deadline_s,
        "revisionHistoryLimit": 5,
        "template": {
            "metadata": {
                "labels": pod_labels,
                "annotations": {CONFIG_HASH_ANNOTATION: config_hash(_config_data(spec))},
            },
            "spec": {
                "containers": [container],
                "volumes": volumes,
                "terminationGracePeriodSeconds": 60,
                **_node_placement(spec),
            },
        },
    }
    if not spec.autoscaling_enabled:
        deployment_spec = {"replicas": spec.replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec, spec.name, {REVISION_LABEL: spec.revision}),
        "spec": deployment_spec,
    }


def build_service(spec: TritonDeploymentSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec, spec.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec),
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {
                    "name": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                },
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def _hpa_metric(spec: TritonDeploymentSpec) -> Manifest:
    if spec.autoscaling_metric == "cpu":
        return {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": int(spec.autoscaling_target)},
            },
        }
    metric_name = spec.gpu_metric_name if spec.autoscaling_metric == "gpu" else spec.queue_time_metric_name
    # Per-pod custom metrics (served by prometheus-adapter): the HPA averages them over the pods.
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": metric_name},
            "target": {"type": "AverageValue", "averageValue": _quantity(spec.autoscaling_target)},
        },
    }


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def build_hpa(spec: TritonDeploymentSpec) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(spec, spec.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": spec.min_replicas,
            "maxReplicas": spec.max_replicas,
            "metrics": [_hpa_metric(spec)],
            # Scale down slowly: a Triton pod with loaded models is expensive to bring back.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def build_pdb(spec: TritonDeploymentSpec) -> Manifest:
    # maxUnavailable (not minAvailable) so a single-replica deployment never blocks node drains.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(spec, spec.name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(spec)}},
    }


def build_service_monitor(spec: TritonDeploymentSpec) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(spec, spec.name),
        "spec": {
            "selector": {"matchLabels": selector_labels(spec)},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
        },
    }


def build_inference_service(spec: TritonDeploymentSpec) -> Manifest:
    if spec.model_repository.startswith(("s3://", "gs://", "pvc://")):
        storage_uri = spec.model_repository
    else:
        storage_uri = f"pvc://{spec.model_repository}"
    model: Manifest = {
        "modelFormat": {"name": "triton"},
        "runtime": "kserve-tritonserver",
        "runtimeVersion": f"{spec.triton_tag}-py3",
        "protocolVersion": "v2",
        "storageUri": storage_uri,
        "args": ["--model-control-mode=explicit", *(f"--load-model={m}" for m in spec.models)],
        "resources": _resources(spec),
    }
    env = _env(spec)
    if env:
        model["env"] = env
    predictor: Manifest = {
        "minReplicas": spec.min_replicas if spec.autoscaling_enabled else spec.replicas,
        "maxReplicas": spec.max_replicas if spec.autoscaling_enabled else spec.replicas,
        "model": model,
        **_node_placement(spec),
    }
    if spec.autoscaling_enabled:
        predictor["scaleMetric"] = "cpu"
        predictor["scaleTarget"] = int(spec.autoscaling_target)
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _meta(spec, spec.name),
        "spec": {"predictor": predictor},
    }


def build_manifests(spec: TritonDeploymentSpec) -> list[Manifest]:
    """All objects for `spec`, in apply (dependency) order. Raises `ManifestError`."""
    spec.validate()
    if spec.kserve:
        return [build_config_map(spec), build_inference_service(spec)]
    objs = [build_config_map(spec), build_service(spec), build_deployment(spec)]
    if spec.autoscaling_enabled:
        objs.append(build_hpa(spec))
    objs += [build_pdb(spec), build_service_monitor(spec)]
    return objs


def to_yaml(objs: Iterable[Manifest]) -> str:
    """Multi-document YAML; keys sorted so equal manifests always serialize identically."""
    return yaml.safe_dump_all(list(objs), sort_keys=True, default_flow_style=False, explicit_start=True)


__all__ = [
    "ManifestError",
    "TritonDeploymentSpec",
    "build_manifests",
    "find_manifest_problems",
    "supported_k8s_versions",
    "to_yaml",
    "validate_manifests",
]
