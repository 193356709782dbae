"""Registry routes under /api/v1/: models, nested versions and aliases, local serving."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from models_registry.api.views import (
    LocalServingViewSet,
    ModelAliasViewSet,
    ModelVersionViewSet,
    RegisteredModelViewSet,
)

router = SimpleRouter()
router.register("models", RegisteredModelViewSet, basename="model")
router.register("serving", LocalServingViewSet, basename="serving")

_V = r"models/<int:model_pk>/versions/"
_A = r"models/<int:model_pk>/aliases/"

urlpatterns = [
    *router.urls,
    path(_V, ModelVersionViewSet.as_view({"get": "list", "post": "create"}), name="modelversion-list"),
    path(f"{_V}<int:version>/", ModelVersionViewSet.as_view({"get": "retrieve"}), name="modelversion-detail"),
    path(
        f"{_V}<int:version>/triton-config/",
        ModelVersionViewSet.as_view({"get": "triton_config"}),
        name="modelversion-triton-config",
    ),
    path(f"{_V}<int:version>/serve/", ModelVersionViewSet.as_view({"post": "serve"}), name="modelversion-serve"),
    path(f"{_V}<int:version>/unserve/", ModelVersionViewSet.as_view({"post": "unserve"}), name="modelversion-unserve"),
    path(_A, ModelAliasViewSet.as_view({"get": "list"}), name="modelalias-list"),
    path(
        f"{_A}<slug:name>/",
        ModelAliasViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="modelalias-detail",
    ),
]
