"""Thin API views: catalog, events, recommenders (training runs), recommendations, experiments."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from portal.exceptions import ApplicationError, PayloadTooLarge
from recommendations import constants as C
from recommendations.api.filters import CatalogItemFilter, EventFilter, ExposureFilter
from recommendations.api.serializers import (
    CatalogImportResultSerializer,
    CatalogItemSerializer,
    EventIngestResultSerializer,
    EventSerializer,
    ExperimentCreateInputSerializer,
    ExperimentSerializer,
    ExperimentStopInputSerializer,
    ExposureSerializer,
    RecommendationInputSerializer,
    RecommendationOutputSerializer,
    TrainingRunSerializer,
    TrainingStartInputSerializer,
    bulk_body_schema,
)
from recommendations.selectors import (
    catalog_item_list,
    event_list,
    event_stats,
    experiment_list,
    exposure_list,
    training_run_list,
)
from recommendations.services import (
    catalog_item_deactivate,
    catalog_items_upsert,
    events_ingest,
    experiment_create,
    experiment_results,
    experiment_stop,
    recommendation_serve,
    training_run_activate,
    training_run_start,
)
from tenants.api.base import TenantScopedAPIView, TenantScopedViewSet


def bulk_rows(request: Request, key: str) -> list[Any]:
    """The rows of a bulk body: a JSON list, or ``{key: [...]}``. Size is checked before parsing."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > C.MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"The request body is {length:,} bytes; the limit is {C.MAX_BODY_BYTES:,}. "
            f"Split it into batches of at most {C.MAX_ROWS_PER_REQUEST:,} rows.",
            extra={"limit_bytes": C.MAX_BODY_BYTES, "limit_rows": C.MAX_ROWS_PER_REQUEST},
        )
    data: Any = request.data
    if isinstance(data, dict):
        data = data.get(key)
    if not isinstance(data, list):
        raise ApplicationError(f'Send a JSON list of {key}, or {{"{key}": [...]}}.')
    return data


class CatalogItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's catalog. ``POST`` upserts up to 10,000 items by external_id."""

    required_capability = {
        "list": "catalog.read",
        "retrieve": "catalog.read",
        "create": "catalog.write",
        "deactivate": "catalog.write",
    }
    serializer_class = CatalogItemSerializer
    filterset_class = CatalogItemFilter

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return catalog_item_list(tenant=self.tenant)

    @extend_schema(request=bulk_body_schema("items"), responses={200: CatalogImportResultSerializer})
    def create(self, request: Request) -> Response:
        """Bulk upsert; valid rows are kept, invalid rows come back with row numbers."""
        result = catalog_items_upsert(tenant=self.tenant, actor=self.actor, rows=bulk_rows(request, "items"))
        return Response(CatalogImportResultSerializer(result.to_dict()).data)

    @extend_schema(request=None, responses={200: CatalogItemSerializer})
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        item = catalog_item_deactivate(tenant=self.tenant, actor=self.actor, item=self.get_object())
        return Response(CatalogItemSerializer(item).data)


class EventViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """User events. ``POST`` ingests up to 10,000 events; ``GET stats/`` summarises them."""

    required_capability = {"list": "catalog.read", "stats": "catalog.read", "create": "events.write"}
    serializer_class = EventSerializer
    filterset_class = EventFilter

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return event_list(tenant=self.tenant)

    @extend_schema(request=bulk_body_schema("events"), responses={200: EventIngestResultSerializer})
    def create(self, request: Request) -> Response:
        result = events_ingest(tenant=self.tenant, actor=self.actor, rows=bulk_rows(request, "events"))
        return Response(EventIngestResultSerializer(result.to_dict()).data)

    @extend_schema(responses={200: dict})
    @action(detail=False, methods=["get"])
    def stats(self, request: Request) -> Response:
        return Response(event_stats(tenant=self.tenant))


class RecommenderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Trained recommender versions (training runs): start training, watch progress, activate."""

    required_capability = {
        "list": "catalog.read",
        "retrieve": "catalog.read",
        "create": "recs.train",
        "activate": "recs.train",
    }
    serializer_class = TrainingRunSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return training_run_list(tenant=self.tenant)

    @extend_schema(request=TrainingStartInputSerializer, responses={202: TrainingRunSerializer})
    def create(self, request: Request) -> Response:
        data = TrainingStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = training_run_start(tenant=self.tenant, actor=self.actor, params=data.validated_data["params"])
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: TrainingRunSerializer})
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        run = training_run_activate(tenant=self.tenant, actor=self.actor, run=self.get_object())
        return Response(TrainingRunSerializer(training_run_list(tenant=self.tenant).get(pk=run.pk)).data)


class RecommendationView(TenantScopedAPIView):
    """Recommendations for one user, with human-readable reasons."""

    required_capability = {"post": "recs.query"}
    serializer_class = RecommendationInputSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return training_run_list(tenant=self.tenant)

    @extend_schema(request=RecommendationInputSerializer, responses={200: RecommendationOutputSerializer})
    def post(self, request: Request) -> Response:
        data = RecommendationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        context = v.get("context") or {}
        filters = v.get("filters") or {}
        served = recommendation_serve(
            tenant=self.tenant,
            actor=self.actor,
            user_id=v["user_id"],
            k=v["k"],
            context_item_id=context.get("item_id") or None,
            session_item_ids=context.get("session_item_ids") or [],
            category=filters.get("category") or None,
            exclude_item_ids=filters.get("exclude_item_ids") or [],
            exclude_seen=v["exclude_seen"],
        )
        return Response(served.to_dict())


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    required_capability = {
        "list": "catalog.read",
        "retrieve": "catalog.read",
        "results": "catalog.read",
        "create": "experiments.manage",
        "stop": "experiments.manage",
    }
    serializer_class = ExperimentSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return experiment_list(tenant=self.tenant)

    @extend_schema(request=ExperimentCreateInputSerializer, responses={201: ExperimentSerializer})
    def create(self, request: Request) -> Response:
        data = ExperimentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exp = experiment_create(tenant=self.tenant, actor=self.actor, **data.validated_data)
        return Response(ExperimentSerializer(exp).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ExperimentStopInputSerializer, responses={200: ExperimentSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        data = ExperimentStopInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exp = experiment_stop(
            tenant=self.tenant,
            actor=self.actor,
            experiment=self.get_object(),
            winner=data.validated_data.get("winner") or None,
        )
        return Response(ExperimentSerializer(exp).data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str | None = None) -> Response:
        return Response(experiment_results(tenant=self.tenant, experiment=self.get_object()))


class ExposureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Read-only log of what each experiment served to whom."""

    required_capability = {"list": "catalog.read", "retrieve": "catalog.read"}
    serializer_class = ExposureSerializer
    filterset_class = ExposureFilter

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return exposure_list(tenant=self.tenant)
