from __future__ import annotations

from django.urls import path

from recommendations.console import views

urlpatterns = [
    path("t/<slug:tenant_slug>/recommendations/", views.CatalogView.as_view(), name="catalog"),
    path("t/<slug:tenant_slug>/recommendations/events/", views.EventsView.as_view(), name="events"),
    path("t/<slug:tenant_slug>/recommendations/try/", views.TryView.as_view(), name="try"),
    path("t/<slug:tenant_slug>/recommendations/training/", views.TrainingView.as_view(), name="training"),
    path("t/<slug:tenant_slug>/recommendations/experiments/", views.ExperimentsView.as_view(), name="experiments"),
]
