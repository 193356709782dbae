"""Thin API views for capacity plans, clusters, deployments and rollouts.

Error contract for plans: invalid input -> 400 {"detail", "code": "invalid_plan_input", "field"};
valid but infeasible -> 201 with "feasible": false and "result.reasons" (stored like any plan).
"""

from __future__ import annotations

from typing import Any

import yaml
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from deploy import selectors
from deploy.api.filters import RolloutFilter
from deploy.api.serializers import (
    CapacityPlanDeployInputSerializer,
    CapacityPlanSerializer,
    DeploymentInputSerializer,
    DeploymentSerializer,
    KubeClusterCreateInputSerializer,
    KubeClusterCredentialsInputSerializer,
    KubeClusterSerializer,
    RevisionSerializer,
    RollbackInputSerializer,
    RolloutSerializer,
)
from deploy.services import (
    capacity_plan_create,
    cluster_check,
    cluster_create,
    cluster_delete,
    cluster_set_credentials,
    deployment_create,
    deployment_create_from_plan,
    deployment_manifests,
    deployment_measure_request,
    deployment_update,
    rollback_start,
    rollout_start,
)
from portal.exceptions import ApplicationError
from tenants.api.base import TenantScopedViewSet


class YAMLRenderer(BaseRenderer):
    """`?format=yaml`: strings pass through (manifests), anything else (errors) is dumped."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        return text.encode()


class CapacityPlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """SLO-driven capacity plans. POST the planner's input (deploy/capacity) plus an optional `name`."""

    required_capability = {
        "list": "deploy.read",
        "retrieve": "deploy.read",
        "create": "deploy.plan",
        "deploy": "deploy.manage",
    }
    serializer_class = CapacityPlanSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.capacity_plan_list(tenant=self.tenant)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: CapacityPlanSerializer})
    def create(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ApplicationError("The plan input must be a JSON object.")
        inputs = dict(request.data)
        name = str(inputs.pop("name", "") or "")
        plan = capacity_plan_create(tenant=self.tenant, actor=self.actor, inputs=inputs, name=name)
        return Response(CapacityPlanSerializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CapacityPlanDeployInputSerializer, responses={201: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def deploy(self, request: Request, pk: str | None = None) -> Response:
        """One click: a draft deployment sized by this plan's recommendation."""
        data = CapacityPlanDeployInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if v not in (None, "")}
        deployment = deployment_create_from_plan(tenant=self.tenant, actor=self.actor, plan=self.get_object(), **values)
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=deployment.pk)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class KubeClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Kubernetes clusters. Credentials are write-only: no response ever contains them."""

    required_capability = {
        "list": "deploy.read",
        "retrieve": "deploy.read",
        "create": "deploy.manage",
        "destroy": "deploy.manage",
        "check": "deploy.manage",
        "credentials": "deploy.manage",
    }
    serializer_class = KubeClusterSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.cluster_list(tenant=self.tenant)

    @extend_schema(request=KubeClusterCreateInputSerializer, responses={201: KubeClusterSerializer})
    def create(self, request: Request) -> Response:
        data = KubeClusterCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cluster = cluster_create(tenant=self.tenant, actor=self.actor, **data.validated_data)
        return Response(KubeClusterSerializer(cluster).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        cluster_delete(tenant=self.tenant, actor=self.actor, cluster=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: KubeClusterSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Try the stored credentials now; the outcome is in last_check_ok / last_check_error."""
        cluster = cluster_check(tenant=self.tenant, actor=self.actor, cluster=self.get_object())
        return Response(KubeClusterSerializer(cluster).data)

    @extend_schema(request=KubeClusterCredentialsInputSerializer, responses={200: KubeClusterSerializer})
    @action(detail=True, methods=["post"])
    def credentials(self, request: Request, pk: str | None = None) -> Response:
        """Replace (rotate) the credentials."""
        data = KubeClusterCredentialsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cluster = cluster_set_credentials(
            tenant=self.tenant, actor=self.actor, cluster=self.get_object(), **data.validated_data
        )
        return Response(KubeClusterSerializer(cluster).data)


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    required_capability = {
        "list": "deploy.read",
        "retrieve": "deploy.read",
        "manifests": "deploy.read",
        "revisions": "deploy.read",
        "create": "deploy.manage",
        "partial_update": "deploy.manage",
        "rollout": "deploy.rollout",
        "rollback": "deploy.rollout",
        "measure": "deploy.rollout",
    }
    serializer_class = DeploymentSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.deployment_list(tenant=self.tenant)

    def _out(self, deployment_id: int) -> dict[str, Any]:
        return DeploymentSerializer(selectors.deployment_get(tenant=self.tenant, deployment_id=deployment_id)).data

    @extend_schema(request=DeploymentInputSerializer, responses={201: DeploymentSerializer})
    def create(self, request: Request) -> Response:
        data = DeploymentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = deployment_create(tenant=self.tenant, actor=self.actor, **data.validated_data)
        return Response(self._out(deployment.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=DeploymentInputSerializer, responses={200: DeploymentSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = DeploymentInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        deployment = deployment_update(
            tenant=self.tenant, actor=self.actor, deployment=self.get_object(), **data.validated_data
        )
        return Response(self._out(deployment.pk))

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "yaml"], description="yaml: a download")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, YAMLRenderer])
    def manifests(self, request: Request, pk: str | None = None) -> Response:
        """Dry run: the validated manifests the next rollout would apply (nothing is sent)."""
        deployment = self.get_object()
        objs, text = deployment_manifests(tenant=self.tenant, deployment=deployment)
        if request.accepted_renderer.format == "yaml":
            return Response(
                text, headers={"Content-Disposition": f'attachment; filename="{deployment.name}-manifests.yaml"'}
            )
        return Response({"deployment": deployment.pk, "target": deployment.target, "manifests": objs, "yaml": text})

    @extend_schema(request=None, responses={202: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def rollout(self, request: Request, pk: str | None = None) -> Response:
        """Freeze a new revision and roll it out (409 while another rollout is in progress)."""
        rollout = rollout_start(tenant=self.tenant, actor=self.actor, deployment=self.get_object())
        return Response(
            RolloutSerializer(selectors.rollout_get(tenant=self.tenant, rollout_id=rollout.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(request=RollbackInputSerializer, responses={202: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        """Roll the stored manifests of an earlier revision out again."""
        data = RollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = self.get_object()
        revision = selectors.revision_get(
            tenant=self.tenant, deployment=deployment, number=data.validated_data["revision"]
        )
        rollout = rollback_start(tenant=self.tenant, actor=self.actor, deployment=deployment, revision=revision)
        return Response(
            RolloutSerializer(selectors.rollout_get(tenant=self.tenant, rollout_id=rollout.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses={200: RevisionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def revisions(self, request: Request, pk: str | None = None) -> Response:
        page = self.paginate_queryset(selectors.revision_list(tenant=self.tenant, deployment=self.get_object()))
        return self.get_paginated_response(RevisionSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def measure(self, request: Request, pk: str | None = None) -> Response:
        """Plan vs actual (local target): queue a latency measurement at the planned concurrency."""
        deployment = self.get_object()
        deployment_measure_request(tenant=self.tenant, actor=self.actor, deployment=deployment)
        return Response(self._out(deployment.pk), status=status.HTTP_202_ACCEPTED)


class RolloutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Rollouts with their events (poll a rollout to follow it live). `?deployment=<id>` filters."""

    required_capability = {"list": "deploy.read", "retrieve": "deploy.read"}
    serializer_class = RolloutSerializer
    filterset_class = RolloutFilter

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.rollout_list(tenant=self.tenant)
