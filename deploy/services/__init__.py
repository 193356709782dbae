"""Deployment services (the only code that changes deploy rows); see each module's docstring."""

from deploy.services.clusters import (
    ClusterCredentialsInvalid,
    cluster_check,
    cluster_create,
    cluster_delete,
    cluster_set_credentials,
    kube_target_for,
)
from deploy.services.deployments import (
    ManifestInvalid,
    deployment_create,
    deployment_create_from_plan,
    deployment_manifests,
    deployment_update,
)
from deploy.services.measure import deployment_measure, deployment_measure_request
from deploy.services.plans import PlanInvalid, capacity_plan_create
from deploy.services.rollouts import (
    rollback_start,
    rollout_execute,
    rollout_start,
    rollout_sweep_stale,
)

__all__ = [
    "ClusterCredentialsInvalid",
    "ManifestInvalid",
    "PlanInvalid",
    "capacity_plan_create",
    "cluster_check",
    "cluster_create",
    "cluster_delete",
    "cluster_set_credentials",
    "deployment_create",
    "deployment_create_from_plan",
    "deployment_manifests",
    "deployment_measure",
    "deployment_measure_request",
    "deployment_update",
    "kube_target_for",
    "rollback_start",
    "rollout_execute",
    "rollout_start",
    "rollout_sweep_stale",
]
