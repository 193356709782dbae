"""Deployments: create (by hand or from a plan in one click), edit, and render manifests.

Invariants: every id in the input (cluster, plan, model versions, aliases) is resolved through a
tenant-scoped selector, so another tenant's object is a 404; platform-shared model versions
(tenant NULL) may be served, never changed. Editing a deployment changes nothing live: only a
rollout does, from a frozen revision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from deploy import selectors
from deploy.k8s.manifests import ManifestError, to_yaml, validate_manifests
from deploy.models import CapacityPlan, Deployment, DeploymentModel
from deploy.specs import deployment_snapshot, manifests_for
from portal.exceptions import ApplicationError
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

EDITABLE = (
    "name",
    "target",
    "namespace",
    "model_repository",
    "replicas",
    "min_replicas",
    "max_replicas",
    "gpus_per_replica",
    "gpu_type",
    "mig_profile",
    "time_slicing",
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "autoscaling_metric",
    "autoscaling_target",
    "slo",
    "rollout_timeout_s",
)


class ManifestInvalid(ApplicationError):
    code = "invalid_manifests"


def _resolve_models(
    *, tenant: Tenant, model_version_ids: Sequence[int], model_alias_ids: Sequence[int]
) -> list[DeploymentModel]:
    rows = [
        DeploymentModel(model_version=selectors.model_version_visible(tenant=tenant, model_version_id=i))
        for i in model_version_ids
    ]
    rows += [
        DeploymentModel(model_alias=selectors.model_alias_visible(tenant=tenant, model_alias_id=i))
        for i in model_alias_ids
    ]
    if not rows:
        raise ApplicationError(
            "model_versions: serve at least one model version or alias.", extra={"field": "model_versions"}
        )
    names = [(r.model_version or r.model_alias.version).model.name for r in rows]  # type: ignore[union-attr]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ApplicationError(
            f"model_versions: model {dupes[0]} is listed twice; serve one version per model.",
            extra={"field": "model_versions"},
        )
    return rows


def _save_models(deployment: Deployment, rows: list[DeploymentModel]) -> None:
    deployment.served.all().delete()
    for row in rows:
        row.deployment = deployment
        row.save()


def _served_repr(rows: Sequence[DeploymentModel]) -> list[str]:
    out = []
    for r in rows:
        if r.model_version_id:
            out.append(str(r.model_version))
        else:
            out.append(str(r.model_alias))
    return out


def deployment_create(
    *,
    tenant: Tenant,
    actor: Actor,
    name: str,
    target: str = Deployment.Target.KUBERNETES,
    cluster_id: int | None = None,
    plan_id: int | None = None,
    model_version_ids: Sequence[int] = (),
    model_alias_ids: Sequence[int] = (),
    **fields: Any,
) -> Deployment:
    """Create a draft deployment. Raises NotFound (foreign ids), ValidationError (-> 400 naming
    the field), PermissionDenied."""
    access_require(tenant=tenant, actor=actor, capability="deploy.manage")
    unknown = set(fields) - {*EDITABLE, "predicted"}
    if unknown:
        raise ApplicationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    cluster = selectors.cluster_get(tenant=tenant, cluster_id=cluster_id) if cluster_id else None
    plan = selectors.capacity_plan_get(tenant=tenant, plan_id=plan_id) if plan_id else None
    rows = _resolve_models(tenant=tenant, model_version_ids=model_version_ids, model_alias_ids=model_alias_ids)
    with transaction.atomic():
        deployment = Deployment(
            tenant=tenant,
            name=name,
            target=target,
            cluster=cluster,
            plan=plan,
            created_by=actor.user if actor.user else None,
            **fields,
        )
        if cluster is not None and not deployment.namespace:
            deployment.namespace = cluster.default_namespace
        deployment.full_clean()
        deployment.save()
        _save_models(deployment, rows)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.deployment.created",
            target=deployment,
            changes={
                "name": [None, name],
                "target": [None, target],
                "models": [None, _served_repr(rows)],
                "plan": [None, plan.pk if plan else None],
            },
        )
    return deployment


def deployment_update(
    *,
    tenant: Tenant,
    actor: Actor,
    deployment: Deployment,
    cluster_id: int | None = None,
    model_version_ids: Sequence[int] | None = None,
    model_alias_ids: Sequence[int] | None = None,
    **fields: Any,
) -> Deployment:
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=deployment)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ApplicationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    rows = None
    if model_version_ids is not None or model_alias_ids is not None:
        rows = _resolve_models(
            tenant=tenant, model_version_ids=model_version_ids or (), model_alias_ids=model_alias_ids or ()
        )
    cluster = selectors.cluster_get(tenant=tenant, cluster_id=cluster_id) if cluster_id else None
    with transaction.atomic():
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            before = getattr(deployment, key)
            if before != value:
                changes[key] = [before, value]
                setattr(deployment, key, value)
        if cluster is not None and cluster.pk != deployment.cluster_id:
            changes["cluster"] = [deployment.cluster_id, cluster.pk]
            deployment.cluster = cluster
        if deployment.target == Deployment.Target.LOCAL and deployment.cluster_id is not None:
            changes["cluster"] = [deployment.cluster_id, None]
            deployment.cluster = None
        deployment.full_clean()
        # Only what this service edits: status and active_revision belong to the rollout machine,
        # and this instance may be older than the row.
        deployment.save(update_fields=[*EDITABLE, "cluster", "updated_at"])
        if rows is not None:
            changes["models"] = [_served_repr(list(deployment.served.all())), _served_repr(rows)]
            _save_models(deployment, rows)
        audit_record(tenant=tenant, actor=actor, action="deploy.deployment.updated", target=deployment, changes=changes)
    return deployment


def deployment_fields_from_plan(plan: CapacityPlan) -> dict[str, Any]:
    """Sizing, SLOs and predictions of the plan's recommended deployment (its primary component)."""
    rec = plan.recommended
    if not plan.feasible or not rec:
        reasons = "; ".join(plan.result.get("reasons") or []) or "no recommended deployment"
        raise ApplicationError(
            f"plan: this plan is infeasible and cannot be deployed ({reasons}).", extra={"field": "plan"}
        )
    primary = rec["primary"]
    predicted = primary["predicted"]
    replicas = int(primary["replicas"])
    slo = {k: v for k, v in (plan.result.get("slo") or {}).items() if v is not None}
    slo["percentile"] = plan.result.get("percentile", 90)
    slo["concurrency"] = max(1, math.ceil(float(predicted.get("concurrency_per_replica") or 1)))
    return {
        "replicas": replicas,
        "min_replicas": replicas,
        "max_replicas": max(replicas, math.ceil(replicas * 1.5)),
        "gpus_per_replica": int(primary["gpus_per_replica"]),
        "gpu_type": primary["gpu"] or "",
        "mig_profile": primary.get("mig_profile") or "",
        "slo": slo,
        "predicted": {
            "plan_id": plan.pk,
            "component": primary["component"],
            "model": primary["model"],
            "gpu": primary["gpu"],
            "percentile": predicted["percentile"],
            "concurrency_per_replica": predicted["concurrency_per_replica"],
            **{
                k: predicted[k]
                for k in ("ttft_ms", "tpot_ms", "e2e_ms", "requests_per_s_total", "throughput_tokens_s_total")
                if predicted.get(k)
            },
            "monthly_usd": rec.get("total_monthly_usd"),
        },
    }


def deployment_create_from_plan(
    *,
    tenant: Tenant,
    actor: Actor,
    plan: CapacityPlan,
    name: str,
    target: str = Deployment.Target.KUBERNETES,
    cluster_id: int | None = None,
    model_version_ids: Sequence[int] = (),
    model_alias_ids: Sequence[int] = (),
    **fields: Any,
) -> Deployment:
    """One click from a feasible plan: its sizing, SLOs and predictions; `fields` override."""
    sized = {**deployment_fields_from_plan(plan), **fields}
    return deployment_create(
        tenant=tenant,
        actor=actor,
        name=name,
        target=target,
        cluster_id=cluster_id,
        plan_id=plan.pk,
        model_version_ids=model_version_ids,
        model_alias_ids=model_alias_ids,
        **sized,
    )


def deployment_manifests(*, tenant: Tenant, deployment: Deployment) -> tuple[list[dict[str, Any]], str]:
    """Dry run: the manifests the next rollout would apply, validated, and their YAML.

    Raises ManifestInvalid (400) naming the problem."""
    next_number = (deployment.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    try:
        objs = manifests_for(deployment_snapshot(deployment), next_number)
        if deployment.target == Deployment.Target.KUBERNETES:
            version = deployment.cluster.k8s_version if deployment.cluster else "1.31"
            validate_manifests(objs, version)
    except ManifestError as exc:
        raise ManifestInvalid(str(exc), extra={"problems": list(exc.problems)}) from exc
    return objs, to_yaml(objs)
