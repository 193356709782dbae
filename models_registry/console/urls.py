from __future__ import annotations

from django.urls import path

from models_registry.console import views

urlpatterns = [
    path("t/<slug:tenant_slug>/models/", views.ModelListView.as_view(), name="list"),
    path("t/<slug:tenant_slug>/models/serving/", views.ServingView.as_view(), name="serving"),
    path("t/<slug:tenant_slug>/models/<int:model_id>/", views.ModelDetailView.as_view(), name="detail"),
    path(
        "t/<slug:tenant_slug>/models/<int:model_id>/versions/new/", views.VersionRegisterView.as_view(), name="register"
    ),
    path(
        "t/<slug:tenant_slug>/models/<int:model_id>/versions/<int:version>/",
        views.VersionDetailView.as_view(),
        name="version",
    ),
]
