"""From a Deployment row to an immutable revision snapshot, and from a snapshot to manifests.

`deployment_snapshot` resolves aliases to versions and freezes everything the target needs into
plain JSON (no model instances), so a revision can be re-applied long after the deployment row or
an alias changed. `manifests_for` is pure: the same snapshot always gives the same manifests.

Kubernetes: `deploy.k8s.manifests.build_manifests` (Triton Deployment, Service, HPA, ...).
Local Triton: one model-repository entry per served version, carrying the registry version's own
fields (tensors, parameters, serving knobs, artifact) so the target can hand it to the registry's
`inference.triton.specs.version_spec`, the artifact policy (`models_registry.trust`) and
`inference.triton.local.load_version`.
Triton model names are namespaced `<tenant>.<deployment>.<model>`: one local tritonserver serves
every tenant, every deployment and the registry's own local serving, and a Triton model is one
directory serving one version, so each deployment needs entries that no other one overwrites,
unloads or removes on rollback.
"""

from __future__ import annotations

from typing import Any

from deploy.constants import GPU_PRODUCT_LABELS
from deploy.k8s.manifests import TENANT_LABEL, TritonDeploymentSpec, build_manifests
from deploy.models import Deployment
from inference.triton.specs import default_artifact_name, triton_model_name
from models_registry.models import ModelVersion


def local_model_name(tenant_slug: str, deployment_name: str, model_name: str) -> str:
    """``<tenant>.<deployment>.<model>``: three parts, so never a registry name (``<tenant>.<model>``)
    and never another deployment's, whatever "-" the names contain (see ``triton_model_name``)."""
    return triton_model_name(tenant_slug, deployment_name, model_name)


def _artifact_upload(version: ModelVersion) -> str:
    """Local path of the version's stored upload ("" if none, or if storage is not a filesystem)."""
    if version.artifact:
        try:
            return str(version.artifact.path)
        except NotImplementedError:  # remote storage: the serving layer fetches it
            return ""
    return ""


def model_entry(version: ModelVersion, alias: str | None) -> dict[str, Any]:
    return {
        "model_version_id": version.pk,
        "model": version.model.name,
        "version": version.version,
        "alias": alias,
        "shared": version.tenant_id is None,
        "task": version.task,
        "backend": version.backend,
        "artifact_uri": version.artifact_uri or "",
        "artifact_upload": _artifact_upload(version),
        "artifact_sha256": version.artifact_sha256 or "",
        "artifact_name": version.artifact_name or default_artifact_name(version.backend),
        "max_batch_size": version.max_batch_size,
        "inputs": list(version.inputs or []),
        "outputs": list(version.outputs or []),
        "parameters": dict(version.parameters or {}),
        "serving": dict(version.serving or {}),
    }


def deployment_snapshot(deployment: Deployment) -> dict[str, Any]:
    """Everything a rollout of `deployment` needs, as JSON; aliases resolved to versions now."""
    models = []
    for served in deployment.served.select_related("model_version__model", "model_alias__version__model"):
        version = served.resolved_version()
        models.append(model_entry(version, served.model_alias.name if served.model_alias is not None else None))
    return {
        "tenant": deployment.tenant.slug,
        "name": deployment.name,
        "target": deployment.target,
        "cluster_id": deployment.cluster_id,
        "namespace": deployment.namespace,
        "model_repository": deployment.model_repository,
        "replicas": deployment.replicas,
        "min_replicas": deployment.min_replicas,
        "max_replicas": deployment.max_replicas,
        "gpus_per_replica": deployment.gpus_per_replica,
        "gpu_type": deployment.gpu_type,
        "mig_profile": deployment.mig_profile,
        "time_slicing": deployment.time_slicing,
        "cpu_request": deployment.cpu_request,
        "cpu_limit": deployment.cpu_limit,
        "memory_request": deployment.memory_request,
        "memory_limit": deployment.memory_limit,
        "autoscaling_metric": deployment.autoscaling_metric,
        "autoscaling_target": deployment.autoscaling_target,
        "slo": dict(deployment.slo or {}),
        "rollout_timeout_s": deployment.rollout_timeout_s,
        "models": models,
    }


def triton_spec(snapshot: dict[str, Any], revision: int) -> TritonDeploymentSpec:
    """The `TritonDeploymentSpec` for a Kubernetes snapshot (raises ManifestError)."""
    gpu = snapshot.get("gpu_type") or None
    return TritonDeploymentSpec(
        name=snapshot["name"],
        namespace=snapshot["namespace"],
        model_repository=snapshot["model_repository"],
        models=tuple(m["model"] for m in snapshot["models"]),
        replicas=snapshot["replicas"],
        min_replicas=snapshot["min_replicas"],
        max_replicas=snapshot["max_replicas"],
        gpus_per_replica=snapshot["gpus_per_replica"],
        gpu_type=GPU_PRODUCT_LABELS.get(gpu, gpu) if gpu else None,
        mig_profile=snapshot.get("mig_profile") or None,
        time_slicing=bool(snapshot.get("time_slicing")),
        cpu_request=snapshot["cpu_request"],
        cpu_limit=snapshot["cpu_limit"],
        memory_request=snapshot["memory_request"],
        memory_limit=snapshot["memory_limit"],
        autoscaling_metric=snapshot["autoscaling_metric"],
        autoscaling_target=snapshot["autoscaling_target"],
        labels={TENANT_LABEL: snapshot["tenant"]},
        revision=str(revision),
        progress_deadline_s=max(1, int(snapshot.get("rollout_timeout_s") or 900)),
    )


def local_entries(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Model-repository entries for the local Triton target (one per served version).

    Each is the snapshot's model entry plus its per-deployment `triton_name`; the target turns it
    into a Triton spec and files with the registry's own functions (see deploy/targets.py).
    """
    return [
        {"triton_name": local_model_name(snapshot["tenant"], snapshot["name"], m["model"]), **m}
        for m in snapshot["models"]
    ]


def manifests_for(snapshot: dict[str, Any], revision: int) -> list[dict[str, Any]]:
    """Kubernetes objects (validated) or local model entries for one revision.

    Raises `deploy.k8s.manifests.ManifestError` for a spec the API server would reject.
    """
    if snapshot["target"] == Deployment.Target.LOCAL:
        return local_entries(snapshot)
    spec = triton_spec(snapshot, revision)
    spec.validate()
    return build_manifests(spec)
