"""Console pages live under /t/<tenant_slug>/; this mixin resolves and checks the tenant."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase

from tenants.actors import Actor
from tenants.models import Membership
from tenants.permissions import membership_has_capability
from tenants.services.tenancy import deny


class TenantConsoleMixin(LoginRequiredMixin):
    """Sets self.tenant, self.membership, self.actor; 404 for a tenant you are not in."""

    capability = "tenant.view"
    # Optional per-method capability, e.g. {"post": "members.manage"}.
    method_capability: dict[str, str] = {}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        slug = kwargs.get("tenant_slug", "")
        membership = (
            Membership.objects.for_user(request.user).select_related("tenant").filter(tenant__slug=slug).first()
        )
        if membership is None:
            raise Http404("Tenant not found.")
        self.tenant = membership.tenant
        self.membership = membership
        self.actor = Actor.for_user(request.user, membership)
        request.console_membership = membership  # type: ignore[attr-defined]
        capability = self.method_capability.get(request.method.lower(), self.capability)  # type: ignore[union-attr]
        if not membership_has_capability(membership=membership, capability=capability):
            deny(
                tenant=self.tenant,
                actor=self.actor,
                reason=f"missing capability '{capability}'",
                path=request.path[:200],
            )
            raise PermissionDenied(f"Your role ({membership.role}) does not allow '{capability}'.")
        return super().dispatch(request, *args, **kwargs)

    def can(self, capability: str) -> bool:
        return membership_has_capability(membership=self.membership, capability=capability)
