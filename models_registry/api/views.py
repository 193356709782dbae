"""Thin registry API views: resolve through selectors, call one service, serialize.

Reads resolve models through `model_get` (own + platform-shared); writes through
`model_get_writable` (own only), so a write to a shared or foreign model is a 404.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from models_registry.api.serializers import (
    AliasSerializer,
    AliasSetInputSerializer,
    CompareOutputSerializer,
    ModelCreateInputSerializer,
    ModelUpdateInputSerializer,
    ModelVersionSerializer,
    RegisteredModelSerializer,
    ServerStatusSerializer,
    ServingSerializer,
    VersionRegisterInputSerializer,
)
from models_registry.models import ModelAlias, ModelVersion
from models_registry.selectors import (
    alias_get,
    alias_list,
    model_get,
    model_get_writable,
    model_list,
    serving_list,
    serving_server_status,
    version_compare,
    version_get,
    version_get_visible,
    version_list,
)
from models_registry.services import (
    alias_delete,
    alias_set,
    model_create,
    model_update,
    serving_request,
    serving_unload_request,
    version_register,
)
from models_registry.triton_specs import render_version_config
from portal.exceptions import ApplicationError
from tenants.api.base import TenantScopedViewSet

# Capability for an HTTP method a route does not map (DRF then answers 405): the action is
# None there, and the base looks the method name up instead of the action.
_UNMAPPED_METHODS = dict.fromkeys(("get", "post", "put", "patch", "delete"), "models.read")


class RegisteredModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Models of this tenant plus platform-shared ones (``shared: true``, read-only)."""

    required_capability = {
        "list": "models.read",
        "retrieve": "models.read",
        "compare": "models.read",
        "create": "models.write",
        "partial_update": "models.write",
        **_UNMAPPED_METHODS,
    }
    serializer_class = RegisteredModelSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return model_list(tenant=self.tenant)

    @extend_schema(request=ModelCreateInputSerializer, responses={201: RegisteredModelSerializer})
    def create(self, request: Request) -> Response:
        data = ModelCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_create(tenant=self.tenant, actor=self.actor, **data.validated_data)
        return Response(
            RegisteredModelSerializer(model_get(tenant=self.tenant, model_id=model.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=ModelUpdateInputSerializer, responses={200: RegisteredModelSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = ModelUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = model_get_writable(tenant=self.tenant, model_id=pk)
        model_update(tenant=self.tenant, actor=self.actor, model=model, **data.validated_data)
        return Response(RegisteredModelSerializer(model_get(tenant=self.tenant, model_id=pk)).data)

    @extend_schema(
        parameters=[OpenApiParameter("versions", str, description="comma-separated version numbers (default all)")],
        responses={200: CompareOutputSerializer},
    )
    @action(detail=True, methods=["get"])
    def compare(self, request: Request, pk: str | None = None) -> Response:
        """Metrics of several versions side by side, with deltas to the first."""
        model = self.get_object()
        raw = request.query_params.get("versions", "")
        try:
            numbers = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise ApplicationError("versions must be comma-separated integers, e.g. ?versions=1,2") from None
        return Response(version_compare(model=model, numbers=numbers))


class ModelVersionViewSet(TenantScopedViewSet):
    """``/models/{model_pk}/versions/[{version}/]``: register (multipart or JSON), list, read."""

    required_capability = {
        "list": "models.read",
        "retrieve": "models.read",
        "triton_config": "models.read",
        "create": "models.write",
        "serve": "deploy.manage",
        "unserve": "deploy.manage",
        **_UNMAPPED_METHODS,
    }
    serializer_class = ModelVersionSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_field = "version"

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return ModelVersion.objects.visible_to(self.tenant)

    def _model(self, *, write: bool = False):  # type: ignore[no-untyped-def]
        pk = self.kwargs["model_pk"]
        return (
            model_get_writable(tenant=self.tenant, model_id=pk) if write else model_get(tenant=self.tenant, model_id=pk)
        )

    def list(self, request: Request, model_pk: str) -> Response:
        qs = version_list(model=self._model())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)

    def retrieve(self, request: Request, model_pk: str, version: str) -> Response:
        return Response(ModelVersionSerializer(version_get(model=self._model(), number=version)).data)

    @extend_schema(
        request={
            "multipart/form-data": VersionRegisterInputSerializer,
            "application/json": VersionRegisterInputSerializer,
        },
        responses={201: ModelVersionSerializer},
    )
    def create(self, request: Request, model_pk: str) -> Response:
        model = self._model(write=True)
        data = VersionRegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("artifact", None)
        version = version_register(tenant=self.tenant, actor=self.actor, model=model, artifact_file=upload, **values)
        return Response(
            ModelVersionSerializer(version_get(model=model, number=version.version)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={(200, "text/plain"): str})
    @action(detail=True, methods=["get"], url_path="triton-config")
    def triton_config(self, request: Request, model_pk: str, version: str) -> HttpResponse:
        """The ``config.pbtxt`` the local Triton target writes for this version."""
        text = render_version_config(version_get(model=self._model(), number=version))
        return HttpResponse(text, content_type="text/plain; charset=utf-8")

    @extend_schema(request=None, responses={202: ServingSerializer})
    @action(detail=True, methods=["post"])
    def serve(self, request: Request, model_pk: str, version: str) -> Response:
        """Load this version on the portal's local Triton (asynchronous; poll ``serving_state``)."""
        row = serving_request(
            tenant=self.tenant, actor=self.actor, version=version_get(model=self._model(write=True), number=version)
        )
        return Response(ServingSerializer(row).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ServingSerializer})
    @action(detail=True, methods=["post"])
    def unserve(self, request: Request, model_pk: str, version: str) -> Response:
        """Unload this version from the local Triton (asynchronous)."""
        v = version_get(model=self._model(write=True), number=version)
        state = getattr(v, "serving_state", None)
        if state is None:
            raise ApplicationError(f"Version {v.version} is not served locally.")
        row = serving_unload_request(tenant=self.tenant, actor=self.actor, serving=state)
        return Response(ServingSerializer(row).data, status=status.HTTP_202_ACCEPTED)


class ModelAliasViewSet(TenantScopedViewSet):
    """``/models/{model_pk}/aliases/[{name}/]``: PUT moves (or creates) an alias.

    Moving ``production`` needs models.promote (admins); other aliases models.write.
    """

    required_capability = {
        "list": "models.read",
        "retrieve": "models.read",
        "update": "models.write",
        "destroy": "models.write",
        **_UNMAPPED_METHODS,
    }
    serializer_class = AliasSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return ModelAlias.objects.visible_to(self.tenant)

    def list(self, request: Request, model_pk: str) -> Response:
        qs = alias_list(model=model_get(tenant=self.tenant, model_id=model_pk))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(AliasSerializer(page, many=True).data)

    def retrieve(self, request: Request, model_pk: str, name: str) -> Response:
        return Response(
            AliasSerializer(alias_get(model=model_get(tenant=self.tenant, model_id=model_pk), name=name)).data
        )

    @extend_schema(request=AliasSetInputSerializer, responses={200: AliasSerializer})
    def update(self, request: Request, model_pk: str, name: str) -> Response:
        model = model_get_writable(tenant=self.tenant, model_id=model_pk)
        data = AliasSetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "version" in data.validated_data:
            version = version_get(model=model, number=data.validated_data["version"])
        else:
            found = version_get_visible(tenant=self.tenant, version_id=data.validated_data["version_id"])
            if found is None:
                raise ApplicationError("version_id: no such model version.")
            version = found
        alias = alias_set(tenant=self.tenant, actor=self.actor, model=model, name=name, version=version)
        return Response(AliasSerializer(alias).data)

    def destroy(self, request: Request, model_pk: str, name: str) -> Response:
        model = model_get_writable(tenant=self.tenant, model_id=model_pk)
        alias_delete(tenant=self.tenant, actor=self.actor, model=model, alias=alias_get(model=model, name=name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LocalServingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Local Triton status rows visible to this tenant, and the server's live status."""

    required_capability = {
        "list": "models.read",
        "retrieve": "models.read",
        "server": "models.read",
        **_UNMAPPED_METHODS,
    }
    serializer_class = ServingSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return serving_list(tenant=self.tenant)

    @extend_schema(responses={200: ServerStatusSerializer})
    @action(detail=False, methods=["get"])
    def server(self, request: Request) -> Response:
        """Server readiness plus per-model counts and latency, limited to models this tenant sees."""
        return Response(ServerStatusSerializer(serving_server_status(tenant=self.tenant)).data)
