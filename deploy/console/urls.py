from __future__ import annotations

from django.urls import path

from deploy.console import views

P = "t/<slug:tenant_slug>/deployments/"

urlpatterns = [
    path(P, views.DeploymentListView.as_view(), name="list"),
    path(f"{P}plan/", views.PlanWizardView.as_view(), name="plan-new"),
    path(f"{P}plans/<int:plan_id>/", views.PlanDetailView.as_view(), name="plan"),
    path(f"{P}clusters/", views.ClustersView.as_view(), name="clusters"),
    path(f"{P}<int:deployment_id>/", views.DeploymentDetailView.as_view(), name="detail"),
    path(f"{P}<int:deployment_id>/events/", views.RolloutEventsView.as_view(), name="events"),
    path(f"{P}<int:deployment_id>/manifests.yaml", views.ManifestsDownloadView.as_view(), name="manifests"),
]
