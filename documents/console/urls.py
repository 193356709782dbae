from __future__ import annotations

from django.urls import path

from documents.console import views

app_name = "documents"

urlpatterns = [
    path("t/<slug:tenant_slug>/documents/", views.DocumentListView.as_view(), name="list"),
    path("t/<slug:tenant_slug>/documents/rows/", views.DocumentRowsView.as_view(), name="rows"),
    path("t/<slug:tenant_slug>/documents/upload/", views.DocumentUploadView.as_view(), name="upload"),
    path("t/<slug:tenant_slug>/documents/<int:document_id>/", views.DocumentDetailView.as_view(), name="detail"),
    path(
        "t/<slug:tenant_slug>/documents/<int:document_id>/<str:op>/", views.DocumentActionView.as_view(), name="action"
    ),
]
