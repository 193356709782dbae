from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api.views import (
    ApiTokenViewSet,
    AuditEventViewSet,
    MembershipViewSet,
    MeView,
    SsoPreviewView,
    TrustedIssuerViewSet,
)

router = SimpleRouter()
router.register("members", MembershipViewSet, basename="member")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("audit-events", AuditEventViewSet, basename="auditevent")
router.register("sso/trusted-issuers", TrustedIssuerViewSet, basename="trustedissuer")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("sso/preview/", SsoPreviewView.as_view(), name="sso-preview"),
    *router.urls,
]
