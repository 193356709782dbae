"""Console pages under /t/<slug>/deployments/: plan wizard, plan result, deployments, clusters.

Each view resolves the tenant through TenantConsoleView, calls one selector or service, and
renders. Secrets typed into the cluster form are passed to the service and never rendered back.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from deploy import selectors
from deploy.models import Deployment, KubeCluster
from deploy.plan_vs_actual import plan_vs_actual
from deploy.services import (
    capacity_plan_create,
    cluster_check,
    cluster_create,
    deployment_create,
    deployment_create_from_plan,
    deployment_manifests,
    rollback_start,
    rollout_start,
)
from portal.exceptions import ApplicationError
from tenants.console.base import TenantConsoleView


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, ValidationError) and hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return str(exc)


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.strip().isdigit()]


class DeploymentListView(TenantConsoleView):
    capability = "deploy.read"
    method_capability = {"post": "deploy.manage"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(
            request,
            "deploy/list.html",
            {
                "deployments": selectors.deployment_list(tenant=self.tenant),
                "plans": selectors.capacity_plan_list(tenant=self.tenant)[:20],
                "clusters": selectors.cluster_list(tenant=self.tenant),
                "versions": selectors.model_version_list_visible(tenant=self.tenant),
                "can_manage": self.can("deploy.manage"),
                "can_plan": self.can("deploy.plan"),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        p = request.POST
        try:
            deployment = deployment_create(
                tenant=self.tenant,
                actor=self.actor,
                name=p.get("name", "").strip(),
                target=p.get("target", "local"),
                cluster_id=int(p["cluster_id"]) if p.get("cluster_id") else None,
                namespace=p.get("namespace", "").strip(),
                model_repository=p.get("model_repository", "").strip(),
                model_version_ids=_ids(p.getlist("model_version_ids")),
            )
        except (ApplicationError, ValidationError) as exc:
            messages.error(request, _error_text(exc))
            return redirect("deploy:list", tenant_slug=tenant_slug)
        messages.success(request, f"Deployment {deployment.name} created.")
        return redirect("deploy:detail", tenant_slug=tenant_slug, deployment_id=deployment.pk)


class PlanWizardView(TenantConsoleView):
    capability = "deploy.plan"
    method_capability = {"post": "deploy.plan"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(request, "deploy/plan_form.html", {**selectors.plan_form_choices(), "values": {}})

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        p = request.POST
        inputs: dict[str, Any] = {"use_case": p.get("use_case", "")}
        load = p.get("load_value", "").strip()
        try:
            if p.get("load_kind") == "qps":
                inputs["qps"] = float(load or 0)
            else:
                inputs["concurrent_users"] = int(load or 0)
            for key in ("prompt_tokens", "output_tokens"):
                if p.get(key, "").strip():
                    inputs[key] = int(p[key])
            for key in ("ttft_slo_ms", "tpot_slo_ms", "e2e_slo_ms", "monthly_budget_usd"):
                if p.get(key, "").strip():
                    inputs[key] = float(p[key])
        except ValueError:
            messages.error(request, "Numbers only in the load, token and SLO fields.")
            return render(request, "deploy/plan_form.html", {**selectors.plan_form_choices(), "values": p}, status=400)
        inputs["percentile"] = int(p.get("percentile") or 90)
        if p.getlist("allowed_gpus"):
            inputs["allowed_gpus"] = p.getlist("allowed_gpus")
        inputs["mig_allowed"] = p.get("mig_allowed") == "on"
        try:
            plan = capacity_plan_create(tenant=self.tenant, actor=self.actor, inputs=inputs, name=p.get("name", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return render(request, "deploy/plan_form.html", {**selectors.plan_form_choices(), "values": p}, status=400)
        return redirect("deploy:plan", tenant_slug=tenant_slug, plan_id=plan.pk)


class PlanDetailView(TenantConsoleView):
    capability = "deploy.read"
    method_capability = {"post": "deploy.manage"}

    def get(self, request: HttpRequest, tenant_slug: str, plan_id: int) -> HttpResponse:
        plan = selectors.capacity_plan_get(tenant=self.tenant, plan_id=plan_id)
        return render(
            request,
            "deploy/plan_detail.html",
            {
                "plan": plan,
                "result": plan.result,
                "inputs_json": json.dumps(plan.inputs, indent=2),
                "clusters": selectors.cluster_list(tenant=self.tenant),
                "versions": selectors.model_version_list_visible(tenant=self.tenant),
                "can_manage": self.can("deploy.manage"),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str, plan_id: int) -> HttpResponse:
        plan = selectors.capacity_plan_get(tenant=self.tenant, plan_id=plan_id)
        p = request.POST
        try:
            deployment = deployment_create_from_plan(
                tenant=self.tenant,
                actor=self.actor,
                plan=plan,
                name=p.get("name", "").strip(),
                target=p.get("target", Deployment.Target.KUBERNETES),
                cluster_id=int(p["cluster_id"]) if p.get("cluster_id") else None,
                namespace=p.get("namespace", "").strip(),
                model_repository=p.get("model_repository", "").strip(),
                model_version_ids=_ids(p.getlist("model_version_ids")),
            )
        except (ApplicationError, ValidationError) as exc:
            messages.error(request, _error_text(exc))
            return redirect("deploy:plan", tenant_slug=tenant_slug, plan_id=plan_id)
        messages.success(request, f"Deployment {deployment.name} created from plan {plan.pk}.")
        return redirect("deploy:detail", tenant_slug=tenant_slug, deployment_id=deployment.pk)


class DeploymentDetailView(TenantConsoleView):
    capability = "deploy.read"
    method_capability = {"post": "deploy.rollout"}

    def get(self, request: HttpRequest, tenant_slug: str, deployment_id: int) -> HttpResponse:
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=deployment_id)
        rollouts = list(selectors.rollout_list(tenant=self.tenant, deployment=deployment)[:10])
        return render(
            request,
            "deploy/detail.html",
            {
                "d": deployment,
                "revisions": selectors.revision_list(tenant=self.tenant, deployment=deployment),
                "rollouts": rollouts,
                "latest": rollouts[0] if rollouts else None,
                "can_rollout": self.can("deploy.rollout"),
                "spec_json": json.dumps({"slo": deployment.slo, "predicted": deployment.predicted}, indent=2),
                "plan_rows": plan_vs_actual(
                    deployment,
                    metered=selectors.deployment_metered_cost(tenant=self.tenant, deployment=deployment)
                    if deployment.measurement
                    else None,
                ),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str, deployment_id: int) -> HttpResponse:
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=deployment_id)
        try:
            if request.POST.get("op") == "rollback":
                revision = selectors.revision_get(
                    tenant=self.tenant, deployment=deployment, number=int(request.POST.get("revision", 0))
                )
                rollback_start(tenant=self.tenant, actor=self.actor, deployment=deployment, revision=revision)
                messages.success(request, f"Rolling back to revision {revision.number}.")
            else:
                rollout = rollout_start(tenant=self.tenant, actor=self.actor, deployment=deployment)
                messages.success(request, f"Rollout of revision {rollout.revision.number} queued.")
        except (ApplicationError, ValueError) as exc:
            messages.error(request, _error_text(exc))
        return redirect("deploy:detail", tenant_slug=tenant_slug, deployment_id=deployment_id)


class RolloutEventsView(TenantConsoleView):
    """htmx partial: the latest rollout and its events; polled while it is in progress."""

    capability = "deploy.read"

    def get(self, request: HttpRequest, tenant_slug: str, deployment_id: int) -> HttpResponse:
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=deployment_id)
        latest = selectors.rollout_list(tenant=self.tenant, deployment=deployment).first()
        return render(request, "deploy/_events.html", {"d": deployment, "latest": latest})


class ManifestsDownloadView(TenantConsoleView):
    capability = "deploy.read"

    def get(self, request: HttpRequest, tenant_slug: str, deployment_id: int) -> HttpResponse:
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=deployment_id)
        try:
            _, text = deployment_manifests(tenant=self.tenant, deployment=deployment)
        except ApplicationError as exc:
            return HttpResponse(f"# invalid: {exc.message}\n", content_type="application/yaml", status=400)
        response = HttpResponse(text, content_type="application/yaml")
        response["Content-Disposition"] = f'attachment; filename="{deployment.name}-manifests.yaml"'
        return response


class ClustersView(TenantConsoleView):
    capability = "deploy.read"
    method_capability = {"post": "deploy.manage"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(
            request,
            "deploy/clusters.html",
            {
                "clusters": selectors.cluster_list(tenant=self.tenant),
                "can_manage": self.can("deploy.manage"),
                "auth_kinds": KubeCluster.AuthKind.choices,
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        p = request.POST
        try:
            if p.get("op") == "check":
                cluster = selectors.cluster_get(tenant=self.tenant, cluster_id=int(p.get("cluster_id", 0)))
                cluster = cluster_check(tenant=self.tenant, actor=self.actor, cluster=cluster)
                if cluster.last_check_ok:
                    messages.success(request, f"{cluster.name}: credentials work ({cluster.server_version}).")
                else:
                    messages.error(request, f"{cluster.name}: {cluster.last_check_error}")
            else:
                cluster = cluster_create(
                    tenant=self.tenant,
                    actor=self.actor,
                    name=p.get("name", "").strip(),
                    auth_kind=p.get("auth_kind", KubeCluster.AuthKind.TOKEN),
                    api_server=p.get("api_server", ""),
                    token=p.get("token", ""),
                    ca_cert_pem=p.get("ca_cert_pem", ""),
                    kubeconfig=p.get("kubeconfig", ""),
                    default_namespace=p.get("default_namespace", "").strip(),
                    verify_ssl=p.get("verify_ssl") == "on",
                )
                messages.success(request, f"Cluster {cluster.name} saved (credentials encrypted).")
        except (ApplicationError, ValidationError, ValueError) as exc:
            messages.error(request, _error_text(exc))
        return redirect("deploy:clusters", tenant_slug=tenant_slug)
