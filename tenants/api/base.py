"""The tenant-scoped base for every DRF view of tenant-owned data.

Resolves the tenant (API token -> its tenant; session -> `X-Tenant: <slug>` plus a membership),
checks the action's capability with `membership_has_capability`, and builds the queryset only
from `get_tenant_queryset()`, which must return a queryset scoped with `.for_tenant(self.tenant)`.
Subclasses cannot override the resolution or the checks: `__init_subclass__` refuses it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import exceptions, generics, viewsets
from rest_framework.request import Request

from tenants.actors import Actor
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import membership_has_capability
from tenants.services.tenancy import deny

FINAL_METHODS = ("get_queryset", "get_object", "get_permissions", "check_permissions", "initial")


class TenantNotFound(exceptions.NotFound):
    default_code = "tenant_not_found"


def resolve_api_tenant(request: Request) -> tuple[Tenant, Membership, Actor]:
    """Tenant, membership and actor for an authenticated API request; 404 on any mismatch."""
    header_slug = (request.headers.get("X-Tenant") or "").strip()
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is not None:
        actor = Actor.for_token(token)
        if header_slug and header_slug != token.tenant.slug:
            deny(tenant=token.tenant, actor=actor, reason="token used for another tenant", x_tenant=header_slug[:64])
            raise TenantNotFound(
                f"Tenant '{header_slug[:64]}' not found for this API token (a token works only for its own tenant)."
            )
        return token.tenant, token.membership, actor
    if not header_slug:
        raise exceptions.ParseError(
            "Send the 'X-Tenant: <tenant-slug>' header to say which tenant this request is for."
        )
    membership = (
        Membership.objects.for_user(request.user).select_related("tenant").filter(tenant__slug=header_slug).first()
    )
    if membership is None:
        raise TenantNotFound(f"Tenant '{header_slug[:64]}' not found.")
    return membership.tenant, membership, Actor.for_user(request.user, membership)


class TenantScopedMixin:
    """Shared by viewsets and plain API views. Declare `required_capability = {action: cap}`;
    use the key "*" for a default. A missing entry is a configuration error (fail closed)."""

    required_capability: ClassVar[dict[str, str]] = {}
    tenant: Tenant
    membership: Membership
    actor: Actor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in FINAL_METHODS:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} may not override {name}(): the tenant base owns it")

    # -- hooks for subclasses ----------------------------------------------------------------
    def get_tenant_queryset(self) -> QuerySet:
        raise ImproperlyConfigured(f"{type(self).__name__} must implement get_tenant_queryset()")

    # -- final -----------------------------------------------------------------------------------
    def capability_for_action(self) -> str:
        action = getattr(self, "action", None) or (self.request.method or "get").lower()  # type: ignore[attr-defined]
        cap = self.required_capability.get(action) or self.required_capability.get("*")
        if cap is None:
            raise ImproperlyConfigured(f"{type(self).__name__}.required_capability has no entry for '{action}'")
        return cap

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)  # type: ignore[misc]  # IsAuthenticated
        self.tenant, self.membership, self.actor = resolve_api_tenant(request)
        capability = self.capability_for_action()
        token_scopes = request.auth.scopes if isinstance(request.auth, ApiToken) else None
        if not membership_has_capability(membership=self.membership, capability=capability, token_scopes=token_scopes):
            deny(
                tenant=self.tenant,
                actor=self.actor,
                reason=f"missing capability '{capability}'",
                path=request.path[:200],
                method=request.method,
            )
            if token_scopes is not None and membership_has_capability(
                membership=self.membership, capability=capability
            ):
                raise exceptions.PermissionDenied(f"This API token's scopes do not allow '{capability}'.")
            raise exceptions.PermissionDenied(f"Your role ({self.membership.role}) does not allow '{capability}'.")

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular builds the schema without a request tenant; it only needs the
            # model (to type path parameters), so hand it an empty queryset that never runs.
            serializer_class = self.get_serializer_class()  # type: ignore[attr-defined]  # from the DRF view it is mixed into
            model = getattr(getattr(serializer_class, "Meta", None), "model", None)
            if model is not None:
                return model._default_manager.none()
        qs = self.get_tenant_queryset()
        if getattr(qs, "_scope", None) != "tenant" or getattr(qs, "_scoped_tenant_id", None) != self.tenant.pk:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.get_tenant_queryset() must return .for_tenant(self.tenant)"
            )
        return qs


class TenantScopedViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Base for tenant-owned resources; add DRF mixins for CRUD, `@action`s for the rest."""


class TenantScopedAPIView(TenantScopedMixin, generics.GenericAPIView):
    """Base for non-CRUD tenant endpoints (e.g. `POST /qa/`)."""
