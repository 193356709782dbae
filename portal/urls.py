from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal import health
from portal.metrics_view import metrics_view

api_v1 = [
    path("", include("tenants.api.urls")),
    path("", include("models_registry.api.urls")),
    path("", include("deploy.api.urls")),
    path("", include("recommendations.api.urls")),
    path("", include("documents.api.urls")),
    path("", include("qa.api.urls")),
    path("", include("usage.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include(("models_registry.console.urls", "models_registry"), namespace="models_registry")),
    path("", include(("deploy.console.urls", "deploy"), namespace="deploy")),
    path("", include(("tenants.console.urls", "console"), namespace="console")),
    path("", include(("recommendations.console.urls", "recs"), namespace="recs")),
    path("", include("documents.console.urls", namespace="documents")),
    path("", include(("qa.console.urls", "qa"), namespace="qa")),
    path("", include("usage.console.urls", namespace="usage")),
]
