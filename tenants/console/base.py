"""The tenant-scoped base for every console page under /t/<tenant_slug>/.

Resolves the tenant from the URL (`tenants.access.access_membership`: 404 for a tenant the user
is not in), checks the request method's capability with `tenants.access.access_require` (which
audits a refusal; 403), then runs the page's handler. Like the API base it cannot be bypassed:
`__init_subclass__` refuses a subclass (or a mixin listed before the base) that overrides the
resolution, and it fails closed: a page that handles an unsafe method (POST, PUT, PATCH,
DELETE) must declare that method's capability in `method_capability`, or the class is refused
when it is defined.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views import View

from portal.exceptions import NotFound, PermissionDenied
from tenants.access import access_allowed, access_membership, access_require
from tenants.actors import Actor
from tenants.final import refuse_overrides
from tenants.models import Membership, Tenant
from tenants.permissions import CAPABILITIES

SAFE_METHODS = frozenset({"get", "head", "options"})
FINAL_METHODS = ("as_view", "dispatch", "capability_for_method", "can")


class TenantConsoleView(LoginRequiredMixin, View):
    """Sets self.tenant, self.membership, self.actor before the handler runs.

    `capability` guards the safe methods (GET, HEAD, OPTIONS); `method_capability` maps each
    unsafe method the page handles to its capability, e.g. {"post": "members.manage"}.
    """

    capability: ClassVar[str] = "tenant.view"
    method_capability: ClassVar[dict[str, str]] = {}
    tenant: Tenant
    membership: Membership
    actor: Actor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_overrides(cls, base=TenantConsoleView, names=FINAL_METHODS, owner="the console base")
        for method in cls.http_method_names:
            if method not in SAFE_METHODS and hasattr(cls, method) and method not in cls.method_capability:
                raise ImproperlyConfigured(
                    f"{cls.__name__} handles {method.upper()} but method_capability has no entry for "
                    f"'{method}': declare the capability an unsafe method needs"
                )
        for capability in (cls.capability, *cls.method_capability.values()):
            if capability not in CAPABILITIES:
                raise ImproperlyConfigured(f"{cls.__name__}: unknown capability '{capability}'")

    # -- final -----------------------------------------------------------------------------------
    def capability_for_method(self, request: HttpRequest) -> str:
        method = (request.method or "GET").lower()
        if method in self.method_capability:
            return self.method_capability[method]
        if method in SAFE_METHODS or not hasattr(self, method):
            # A method the page does not handle is answered 405 after this check, as before.
            return self.capability
        raise ImproperlyConfigured(f"{type(self).__name__}.method_capability has no entry for '{method}'")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        membership = access_membership(user=request.user, tenant_slug=kwargs.get("tenant_slug", ""))
        if membership is None:
            raise Http404("Tenant not found.")
        self.tenant = membership.tenant
        self.membership = membership
        self.actor = Actor.for_user(request.user, membership)
        request.console_membership = membership  # type: ignore[attr-defined]  # read by the nav context processor
        try:
            access_require(
                tenant=self.tenant,
                actor=self.actor,
                capability=self.capability_for_method(request),
                path=request.path[:200],
            )
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        try:
            return super().dispatch(request, *args, **kwargs)
        except NotFound as exc:
            # Selectors raise the API's NotFound; in the console that is a plain 404 page.
            raise Http404(exc.message) from exc

    def can(self, capability: str) -> bool:
        return access_allowed(tenant=self.tenant, actor=self.actor, capability=capability)
