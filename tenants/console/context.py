from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from tenants.console.nav import NAV
from tenants.permissions import membership_has_capability
from tenants.selectors import user_memberships


def console(request: HttpRequest) -> dict[str, Any]:
    """Tenant switcher and navigation for every console page."""
    ctx: dict[str, Any] = {"use_oidc": settings.USE_OIDC, "oidc_provider_name": settings.OIDC_PROVIDER_NAME}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ctx
    ctx["my_memberships"] = list(user_memberships(user=user))
    membership = getattr(request, "console_membership", None)
    if membership is not None:
        nav = []
        for item in NAV:
            if membership_has_capability(membership=membership, capability=item.capability):
                try:
                    url = reverse(item.url_name, kwargs={"tenant_slug": membership.tenant.slug})
                except NoReverseMatch:
                    continue
                nav.append(
                    {
                        "label": item.label,
                        "url": url,
                        "active": request.path == url or (item.order > 0 and request.path.startswith(url)),
                    }
                )
        ctx["nav"] = nav
        ctx["current_membership"] = membership
        ctx["current_tenant"] = membership.tenant
    return ctx
