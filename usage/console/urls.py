from __future__ import annotations

from django.urls import path

from usage.console import views

app_name = "usage"

urlpatterns = [
    path("t/<slug:tenant_slug>/usage/", views.UsageSummaryView.as_view(), name="summary"),
    path("platform/usage/", views.PlatformUsageView.as_view(), name="platform"),
]
