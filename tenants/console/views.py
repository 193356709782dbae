"""Console pages for the tenant: dashboard, members, single sign-on, API tokens, audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from portal.exceptions import ApplicationError
from tenants.api.filters import AuditEventFilter
from tenants.audit_export import EXPORT_LIMIT, audit_export_response
from tenants.console.base import TenantConsoleView
from tenants.forms import PortalAuthenticationForm
from tenants.models import ApiToken
from tenants.permissions import ROLE_RANK, Role, Scope, scopes_allowed_for_role
from tenants.selectors import audit_event_list, membership_list, token_list, user_memberships
from tenants.services import (
    membership_add,
    membership_change_role,
    membership_get,
    membership_remove,
    token_create,
    token_get,
    token_revoke,
)
from tenants.services.sso import (
    sso_known_issuers,
    tenant_issuer_trust,
    tenant_issuer_untrust,
    trusted_issuer_get,
    trusted_issuer_list,
)


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True
    authentication_form = PortalAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        lockout = getattr(form, "lockout", None)
        if lockout is not None:  # locked: 429 with the standard hint, the page says it in words
            response.status_code = 429
            response["Retry-After"] = str(lockout.retry_after_s)
        return response


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to their first tenant, or explain that they have none."""
    memberships = list(user_memberships(user=request.user))
    if not memberships:
        return render(request, "console/no_tenant.html", status=403)
    return redirect("console:dashboard", tenant_slug=memberships[0].tenant.slug)


# Dashboard cards are contributed by apps: callables (tenant) -> list[dict(label, value, url)].
DASHBOARD_CARDS: list[Any] = []
# Dashboard charts (tenants/console/charts.py) likewise: (capability, callable (tenant) -> list[Chart]),
# shown only to members whose role has the capability.
DASHBOARD_CHARTS: list[tuple[str, Any]] = []


def register_dashboard_chart(capability: str, contribute: Any) -> None:
    """Called from an app's ready(); idempotent (ready() may run twice in tests)."""
    if (capability, contribute) not in DASHBOARD_CHARTS:
        DASHBOARD_CHARTS.append((capability, contribute))


class DashboardView(TenantConsoleView):
    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        cards = [
            {
                "label": "Members",
                "value": membership_list(tenant=self.tenant).count(),
                "url": reverse("console:members", args=[tenant_slug]),
            }
        ]
        for contribute in DASHBOARD_CARDS:
            cards.extend(contribute(self.tenant))
        charts = [
            chart
            for capability, contribute in DASHBOARD_CHARTS
            if self.can(capability)
            for chart in contribute(self.tenant)
        ]
        return render(request, "console/dashboard.html", {"cards": cards, "charts": charts})


class MembersView(TenantConsoleView):
    capability = "members.view"
    method_capability = {"post": "members.manage"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(
            request,
            "console/members.html",
            {
                "members": membership_list(tenant=self.tenant),
                "roles": Role.choices,
                "can_manage": self.can("members.manage"),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        op = request.POST.get("op")
        try:
            if op == "add":
                membership_add(
                    tenant=self.tenant,
                    actor=self.actor,
                    email=request.POST.get("email", ""),
                    role=request.POST.get("role", Role.VIEWER),
                )
                messages.success(request, "Member added.")
            elif op in ("role", "remove"):
                target = membership_get(tenant=self.tenant, membership_id=int(request.POST.get("membership_id", 0)))
                if op == "role":
                    membership_change_role(
                        tenant=self.tenant, actor=self.actor, membership=target, role=request.POST.get("role", "")
                    )
                    messages.success(request, f"Role of {target.user.email} is now {target.role}.")
                else:
                    membership_remove(tenant=self.tenant, actor=self.actor, membership=target)
                    messages.success(request, "Member removed.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        except ValueError:
            messages.error(request, "Invalid member.")
        return redirect("console:members", tenant_slug=tenant_slug)


class TokensView(TenantConsoleView):
    capability = "tokens.create"
    method_capability = {"post": "tokens.create"}  # the services check tokens.manage for others' tokens

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        # Members an admin may issue a token for (ranked below them; the service enforces it).
        others = []
        if self.can("tokens.manage"):
            rank = ROLE_RANK[self.membership.role]
            others = [m for m in membership_list(tenant=self.tenant) if ROLE_RANK[m.role] < rank]
        return render(
            request,
            "console/tokens.html",
            {
                "tokens": token_list(tenant=self.tenant, membership=self.membership),
                "scopes": [(s, Scope(s).label) for s in scopes_allowed_for_role(self.membership.role)],
                "others": others,
                "new_token": request.session.pop("new_token", None),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        try:
            if request.POST.get("op") == "revoke":
                token: ApiToken = token_get(tenant=self.tenant, token_id=int(request.POST.get("token_id", 0)))
                token_revoke(tenant=self.tenant, actor=self.actor, token=token)
                messages.success(request, f"Token {token.name} revoked.")
            else:
                days = request.POST.get("expires_days", "").strip()
                expires_at = timezone.now() + dt.timedelta(days=int(days)) if days else None
                ips = [x for x in request.POST.get("allowed_ips", "").replace(",", " ").split() if x]
                member_id = request.POST.get("membership_id", "").strip()
                target = (
                    membership_get(tenant=self.tenant, membership_id=int(member_id)) if member_id else self.membership
                )
                issued = token_create(
                    tenant=self.tenant,
                    actor=self.actor,
                    membership=target,
                    name=request.POST.get("name", ""),
                    scopes=request.POST.getlist("scopes"),
                    expires_at=expires_at,
                    allowed_ips=ips,
                    rate_limit_per_minute=int(rate)
                    if (rate := request.POST.get("rate_limit_per_minute", "").strip())
                    else None,
                )
                # Shown once, on the next page load only (never stored server-side beyond that).
                request.session["new_token"] = {"name": issued.token.name, "value": issued.plaintext}
        except ApplicationError as exc:
            messages.error(request, exc.message)
        except ValueError:
            messages.error(request, "Expiry must be a whole number of days, and the member a member id.")
        return redirect("console:tokens", tenant_slug=tenant_slug)


class AuditView(TenantConsoleView):
    capability = "audit.view"

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        filterset = AuditEventFilter(request.GET, queryset=audit_event_list(tenant=self.tenant))
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        template = "console/_audit_rows.html" if request.headers.get("HX-Request") else "console/audit.html"
        return render(
            request,
            template,
            {
                "page": page,
                "filter": filterset,
                "query": query.urlencode(),
            },
        )


class AuditExportView(TenantConsoleView):
    capability = "audit.view"

    def get(self, request: HttpRequest, tenant_slug: str, fmt: str) -> HttpResponse:
        filterset = AuditEventFilter(request.GET, queryset=audit_event_list(tenant=self.tenant))
        return audit_export_response(events=filterset.qs[:EXPORT_LIMIT], fmt=fmt, filename=f"audit-{tenant_slug}")


class SsoView(TenantConsoleView):
    """Which IdP issuers this tenant trusts for group-claim memberships (owners change it)."""

    capability = "members.manage"
    method_capability = {"post": "sso.trust"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(
            request,
            "console/sso.html",
            {
                "trusted": trusted_issuer_list(tenant=self.tenant),
                "known_issuers": sso_known_issuers(),
                "can_trust": self.can("sso.trust"),
                "tenant_slug": tenant_slug,
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        try:
            if request.POST.get("op") == "untrust":
                trusted = trusted_issuer_get(tenant=self.tenant, trusted_id=int(request.POST.get("trusted_id", 0)))
                removed = tenant_issuer_untrust(tenant=self.tenant, actor=self.actor, trusted=trusted)
                messages.success(
                    request,
                    f"{trusted.issuer} is no longer trusted"
                    + (f"; removed {len(removed)} SSO member(s)." if removed else "."),
                )
            else:
                trusted = tenant_issuer_trust(
                    tenant=self.tenant, actor=self.actor, issuer=request.POST.get("issuer", "")
                )
                messages.success(request, f"{trusted.issuer} is now trusted for group claims.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        except ValueError:
            messages.error(request, "Invalid issuer.")
        return redirect("console:sso", tenant_slug=tenant_slug)
