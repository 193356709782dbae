"""Deployment services (the only code that changes deploy rows); see each module's docstring."""

from deploy.services.clusters import (
    ClusterCredentialsInvalid,
    cluster_check,
    cluster_create,
    cluster_credentials,
    cluster_delete,
    cluster_set_credentials,
    kube_target_for,
)
from deploy.services.deployments import (
    ManifestInvalid,
    deployment_create,
    deployment_create_from_plan,
    deployment_fields_from_plan,
    deployment_manifests,
    deployment_update,
)
from deploy.services.measure import deployment_measure, deployment_measure_request, measure_latency
from deploy.services.plans import PlanInvalid, capacity_plan_compute, capacity_plan_create
from deploy.services.rollouts import (
    default_target_factory,
    rollback_start,
    rollout_execute,
    rollout_start,
    rollout_sweep_stale,
)

__all__ = [
    "ClusterCredentialsInvalid",
    "ManifestInvalid",
    "PlanInvalid",
    "capacity_plan_compute",
    "capacity_plan_create",
    "cluster_check",
    "cluster_create",
    "cluster_credentials",
    "cluster_delete",
    "cluster_set_credentials",
    "default_target_factory",
    "deployment_create",
    "deployment_create_from_plan",
    "deployment_fields_from_plan",
    "deployment_manifests",
    "deployment_measure",
    "deployment_measure_request",
    "deployment_update",
    "kube_target_for",
    "measure_latency",
    "rollback_start",
    "rollout_execute",
    "rollout_start",
    "rollout_sweep_stale",
]
