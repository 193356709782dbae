"""Read paths for deployments: every selector starts from a tenant-scoped queryset.

Model versions and aliases come from `RegistryQuerySet.visible_to(tenant)`: the tenant's own
rows plus platform-shared ones (tenant NULL), which may be served but never changed. The plan
form's choices come from the capacity catalog (deploy/capacity/data), not from the database.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from deploy.capacity.catalog import load_catalog
from deploy.models import CapacityPlan, Deployment, KubeCluster, Revision, Rollout
from models_registry.models import ModelAlias, ModelVersion
from portal.exceptions import NotFound
from tenants.models import Tenant
from usage.selectors import metered_cost_per_request


def capacity_plan_list(*, tenant: Tenant) -> QuerySet[CapacityPlan]:
    return CapacityPlan.objects.for_tenant(tenant).select_related("created_by").order_by("-created_at", "-id")


def capacity_plan_get(*, tenant: Tenant, plan_id: int) -> CapacityPlan:
    plan = capacity_plan_list(tenant=tenant).filter(pk=plan_id).first()
    if plan is None:
        raise NotFound("Capacity plan not found.")
    return plan


def cluster_list(*, tenant: Tenant) -> QuerySet[KubeCluster]:
    return KubeCluster.objects.for_tenant(tenant).order_by("name")


def cluster_get(*, tenant: Tenant, cluster_id: int) -> KubeCluster:
    cluster = cluster_list(tenant=tenant).filter(pk=cluster_id).first()
    if cluster is None:
        raise NotFound("Cluster not found.")
    return cluster


def deployment_list(*, tenant: Tenant) -> QuerySet[Deployment]:
    return (
        Deployment.objects.for_tenant(tenant)
        .select_related("cluster", "active_revision", "plan")
        .prefetch_related(
            "served__model_version__model", "served__model_alias__version__model", "served__model_alias__model"
        )
        .order_by("name")
    )


def deployment_get(*, tenant: Tenant, deployment_id: int) -> Deployment:
    deployment = deployment_list(tenant=tenant).filter(pk=deployment_id).first()
    if deployment is None:
        raise NotFound("Deployment not found.")
    return deployment


def revision_list(*, tenant: Tenant, deployment: Deployment) -> QuerySet[Revision]:
    return Revision.objects.for_tenant(tenant).filter(deployment=deployment).order_by("-number")


def revision_get(*, tenant: Tenant, deployment: Deployment, number: int) -> Revision:
    revision = revision_list(tenant=tenant, deployment=deployment).filter(number=number).first()
    if revision is None:
        raise NotFound(f"Revision {number} of deployment {deployment.name} not found.")
    return revision


def rollout_list(*, tenant: Tenant, deployment: Deployment | None = None) -> QuerySet[Rollout]:
    qs = Rollout.objects.for_tenant(tenant).select_related("deployment", "revision", "previous_revision")
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    return qs.prefetch_related("events").order_by("-created_at", "-id")


def rollout_get(*, tenant: Tenant, rollout_id: int) -> Rollout:
    rollout = rollout_list(tenant=tenant).filter(pk=rollout_id).first()
    if rollout is None:
        raise NotFound("Rollout not found.")
    return rollout


def plan_form_choices() -> dict[str, list[str]]:
    """Use cases (catalog order) and GPUs (smallest memory first) a capacity plan may name."""
    catalog = load_catalog()
    gpus = sorted(catalog.gpus.values(), key=lambda g: (g.memory_gb, g.name))
    return {"use_cases": list(catalog.templates), "gpus": [g.name for g in gpus]}


def model_version_list_visible(*, tenant: Tenant) -> QuerySet[ModelVersion]:
    """Versions this tenant may serve (its own and platform-shared), for the deployment forms."""
    return ModelVersion.objects.visible_to(tenant).select_related("model")  # type: ignore[return-value]


def model_version_visible(*, tenant: Tenant, model_version_id: int) -> ModelVersion:
    """A version this tenant may serve (its own or platform-shared); another tenant's is 404."""
    version = ModelVersion.objects.visible_to(tenant).select_related("model").filter(pk=model_version_id).first()
    if version is None:
        raise NotFound(f"Model version {model_version_id} not found.", extra={"field": "model_versions"})
    return version


def model_alias_visible(*, tenant: Tenant, model_alias_id: int) -> ModelAlias:
    alias = ModelAlias.objects.visible_to(tenant).select_related("model", "version").filter(pk=model_alias_id).first()
    if alias is None:
        raise NotFound(f"Model alias {model_alias_id} not found.", extra={"field": "model_aliases"})
    return alias


def deployment_metered_cost(*, tenant: Tenant, deployment: Deployment, days: int = 30) -> tuple[float, int] | None:
    """(USD per request, requests) metered in the last ``days`` for the models the deployment's
    live revision serves (by model name or ``name:version``); None when nothing was metered."""
    revision = deployment.active_revision
    if revision is None or not revision.manifests:
        return None
    names = {str(e["model"]) for e in revision.manifests} | {f"{e['model']}:{e['version']}" for e in revision.manifests}
    now = timezone.now()
    return metered_cost_per_request(
        tenant=tenant, models=sorted(names), since=now - timedelta(days=days), until=now + timedelta(hours=1)
    )
