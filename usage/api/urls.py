from __future__ import annotations

from django.urls import path

from usage.api import views

urlpatterns = [
    path("usage/", views.UsageSeriesView.as_view(), name="usage-series"),
    path("usage/summary/", views.UsageSummaryView.as_view(), name="usage-summary"),
    path("usage/export/", views.UsageExportView.as_view(), name="usage-export"),
    path("quotas/", views.QuotaView.as_view(), name="quotas"),
]
