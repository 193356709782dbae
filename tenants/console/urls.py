from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from tenants.console import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("t/<slug:tenant_slug>/", views.DashboardView.as_view(), name="dashboard"),
    path("t/<slug:tenant_slug>/members/", views.MembersView.as_view(), name="members"),
    path("t/<slug:tenant_slug>/tokens/", views.TokensView.as_view(), name="tokens"),
    path("t/<slug:tenant_slug>/audit/", views.AuditView.as_view(), name="audit"),
    path("t/<slug:tenant_slug>/sso/", views.SsoView.as_view(), name="sso"),
    re_path(
        r"^t/(?P<tenant_slug>[-\w]+)/audit/export\.(?P<fmt>csv|json)$",
        views.AuditExportView.as_view(),
        name="audit-export",
    ),
]
