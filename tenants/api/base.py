"""The tenant-scoped base for every DRF view of tenant-owned data.

Resolves the tenant (API token -> its tenant; session -> `X-Tenant: <slug>` plus a membership,
via `tenants.access.access_membership`), checks the action's capability with
`tenants.access.access_require` (which audits a refusal), and builds the queryset only from
`get_tenant_queryset()`, which must return a queryset scoped with `.for_tenant(self.tenant)`.
Subclasses cannot override the resolution or the checks: `__init_subclass__` refuses it, also
when the override comes from a mixin listed before the base.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import exceptions, generics, viewsets
from rest_framework.request import Request

from tenants.access import access_deny, access_membership, access_require
from tenants.actors import Actor
from tenants.final import refuse_overrides
from tenants.models import ApiToken, Membership, Tenant

FINAL_METHODS = (
    "get_queryset",
    "get_object",
    "get_permissions",
    "check_permissions",
    "initial",
    "capability_for_action",
)


class TenantNotFound(exceptions.NotFound):
    default_code = "tenant_not_found"


def resolve_api_tenant(request: Request) -> tuple[Tenant, Membership, Actor]:
    """Tenant, membership and actor for an authenticated API request; 404 on any mismatch."""
    header_slug = (request.headers.get("X-Tenant") or "").strip()
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is not None:
        actor = Actor.for_token(token)
        if header_slug and header_slug != token.tenant.slug:
            access_deny(
                tenant=token.tenant, actor=actor, reason="token used for another tenant", x_tenant=header_slug[:64]
            )
            raise TenantNotFound(
                f"Tenant '{header_slug[:64]}' not found for this API token (a token works only for its own tenant)."
            )
        return token.tenant, token.membership, actor
    if not header_slug:
        raise exceptions.ParseError(
            "Send the 'X-Tenant: <tenant-slug>' header to say which tenant this request is for."
        )
    membership = access_membership(user=request.user, tenant_slug=header_slug)
    if membership is None:
        raise TenantNotFound(f"Tenant '{header_slug[:64]}' not found.")
    return membership.tenant, membership, Actor.for_user(request.user, membership)


class TenantScopedMixin:
    """Shared by viewsets and plain API views. Declare `required_capability = {action: cap}`;
    use the key "*" for a default. A missing entry is a configuration error (fail closed)."""

    required_capability: ClassVar[dict[str, str]] = {}
    # No OPTIONS (DRF's metadata would need its own capability) and no TRACE: both answer 405.
    http_method_names: ClassVar[list[str]] = ["get", "post", "put", "patch", "delete", "head"]
    tenant: Tenant
    membership: Membership
    actor: Actor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_overrides(cls, base=TenantScopedMixin, names=FINAL_METHODS, owner="the tenant base")

    # -- hooks for subclasses ----------------------------------------------------------------
    def get_tenant_queryset(self) -> QuerySet:
        raise ImproperlyConfigured(f"{type(self).__name__} must implement get_tenant_queryset()")

    # -- final -----------------------------------------------------------------------------------
    def capability_for_action(self) -> str:
        method = (self.request.method or "get").lower()  # type: ignore[attr-defined]
        if method not in self.http_method_names or getattr(self, method, None) is None:  # type: ignore[attr-defined]
            # No handler (TRACE, OPTIONS, PUT on a read-only route): DRF would answer 405 only after
            # the checks; answer it here, before the capability lookup (which has no entry: a 500).
            raise exceptions.MethodNotAllowed(self.request.method)  # type: ignore[attr-defined]
        action = getattr(self, "action", None) or method
        cap = self.required_capability.get(action) or self.required_capability.get("*")
        if cap is None:
            raise ImproperlyConfigured(f"{type(self).__name__}.required_capability has no entry for '{action}'")
        return cap

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)  # type: ignore[misc]  # IsAuthenticated
        self.tenant, self.membership, self.actor = resolve_api_tenant(request)
        # The tenant label of portal.metrics: set only once the tenant is resolved (it exists).
        request._request.metrics_tenant_slug = self.tenant.slug  # type: ignore[attr-defined]
        request._request.metrics_tenant_id = self.tenant.pk  # type: ignore[attr-defined]
        request._request.metrics_token_id = self.actor.token.pk if self.actor.token else None  # type: ignore[attr-defined]
        access_require(
            tenant=self.tenant,
            actor=self.actor,
            capability=self.capability_for_action(),
            path=request.path[:200],
            method=request.method,
        )

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
