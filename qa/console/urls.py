from __future__ import annotations

from django.urls import path, re_path

from qa.console.views import QaChatView, QaExportView, QaSourceView

urlpatterns = [
    path("t/<slug:tenant_slug>/qa/", QaChatView.as_view(), name="chat"),
    path("t/<slug:tenant_slug>/qa/sources/<int:chunk_id>/", QaSourceView.as_view(), name="source"),
    re_path(
        r"^t/(?P<tenant_slug>[-\w]+)/qa/conversations/(?P<pk>\d+)/export\.(?P<fmt>md|json)$",
        QaExportView.as_view(),
        name="export",
    ),
]
