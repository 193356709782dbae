"""Usage console pages: the tenant's usage and quotas, the dashboard card and quota banner, and
the platform staff overview of every tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from portal.exceptions import ApplicationError
from tenants.console.base import TenantConsoleView
from tenants.models import Tenant
from usage import meter
from usage.selectors import QUOTA_FIELDS, month_start, month_to_date, platform_usage, quota_effective, usage_summary
from usage.services.quotas import FEATURE_WINDOWS, LABELS, quota_update


def quota_alerts(tenant: Tenant) -> list[str]:
    """Sentences for every quota at or past the soft-alert ratio (the console banner)."""
    ratio = float(settings.USAGE_SOFT_ALERT_RATIO)
    quota = quota_effective(tenant=tenant)
    now = timezone.now()
    alerts = []
    for fields in FEATURE_WINDOWS.values():
        for field in fields:
            limit = quota.values.get(field)
            window = LABELS[field][1] or "day"
            if not limit:
                continue
            used = meter.window_count(tenant.pk, field, window, now)
            if used >= ratio * limit:
                alerts.append(
                    f"{int(100 * used / limit)}% of the {LABELS[field][0]} quota used ({used:,} of {int(limit):,})."
                )
    budget = quota.values.get("monthly_budget_usd")
    if budget:
        spent = month_to_date(tenant=tenant, now=now)["month_to_date_usd"]
        if spent >= ratio * float(budget):
            alerts.append(
                f"{int(100 * spent / float(budget))}% of the monthly budget spent (${spent:,.2f} of ${float(budget):,.2f})."
            )
    return alerts


def usage_dashboard_cards(tenant: Tenant) -> list[dict[str, Any]]:
    mtd = month_to_date(tenant=tenant)
    url = reverse("usage:summary", args=[tenant.slug])
    cards: list[dict[str, Any]] = [
        {"label": "Cost this month (USD)", "value": f"{mtd['month_to_date_usd']:.2f}", "url": url},
        {"label": "Projected month (USD)", "value": f"{mtd['projected_month_usd']:.2f}", "url": url},
    ]
    cards += [{"alert": sentence, "url": url} for sentence in quota_alerts(tenant)]
    return cards


class UsageSummaryView(TenantConsoleView):
    capability = "usage.view"
    method_capability = {"post": "usage.quotas"}

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        """The quota form: a blank field is the platform default; the service checks the bounds."""
        changes = {f: (request.POST.get(f, "").strip() or None) for f in QUOTA_FIELDS if f in request.POST}
        try:
            quota_update(tenant=self.tenant, actor=self.actor, changes=changes)
            messages.success(request, "Quotas saved.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("usage:summary", tenant_slug=tenant_slug)

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        now = timezone.now()
        summary = usage_summary(tenant=self.tenant, since=month_start(now), until=now + timedelta(hours=1), now=now)
        quota = quota_effective(tenant=self.tenant)
        quotas = [
            {"field": f, "label": LABELS[f][0], "value": v, "own": quota.overridden[f]} for f, v in quota.values.items()
        ]
        return render(
            request,
            "usage/summary.html",
            {
                "summary": summary,
                "quotas": quotas,
                "alerts": quota_alerts(self.tenant),
                "can_set": self.can("usage.quotas"),
            },
        )


class PlatformUsageView(LoginRequiredMixin, UserPassesTestMixin, View):
    """Every tenant's usage this month, for platform staff (is_staff) only: others get 403."""

    raise_exception = True

    def test_func(self) -> bool:
        return bool(getattr(self.request.user, "is_staff", False))

    def get(self, request: HttpRequest) -> HttpResponse:
        now = timezone.now()
        rows = platform_usage(since=month_start(now), until=now + timedelta(hours=1))
        return render(request, "usage/platform.html", {"rows": rows, "since": month_start(now)})
