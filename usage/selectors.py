"""Reads of metered usage: totals, time series, the priced summary, quotas, platform overview.

Every tenant read is scoped with ``.for_tenant(tenant)``; ``platform_usage`` is the one
cross-tenant read (platform staff page). Periods are half-open [since, until) over UTC hours.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from tenants.models import Tenant
from usage import registry
from usage.models import TenantQuota, UsageHour
from usage.pricing import GB, Prices, current_prices

# The summary's features and the metrics each reports (metric -> output name).
FEATURES: dict[str, dict[str, str]] = {
    "qa": {
        "requests": "requests",
        "prompt_tokens": "prompt_tokens",
        "completion_tokens": "completion_tokens",
        "inference_ms": "inference_s",
    },
    "recommendations": {"requests": "requests"},
    "embedding": {"chunks": "chunks", "inference_ms": "inference_s"},
    "training": {"runs": "runs", "seconds": "seconds"},
    "rollouts": {"rollouts": "rollouts"},
}
QUOTA_FIELDS = (
    "qa_requests_per_day",
    "recs_requests_per_minute",
    "embedding_chunks_per_day",
    "max_documents",
    "max_storage_bytes",
    "monthly_budget_usd",
)


def usage_rows(*, tenant: Tenant, since: datetime, until: datetime):  # type: ignore[no-untyped-def]
    return UsageHour.objects.for_tenant(tenant).filter(hour__gte=since, hour__lt=until)


def usage_totals(*, tenant: Tenant, since: datetime, until: datetime) -> dict[tuple[str, str], int]:
    """(feature, metric) -> total over the period, one GROUP BY on the (tenant, hour) index."""
    rows = (
        usage_rows(tenant=tenant, since=since, until=until)
        .values_list("feature", "metric")
        .annotate(total=Sum("value"))
        .order_by()
    )
    return {(f, m): int(t or 0) for f, m, t in rows}


def usage_series(
    *, tenant: Tenant, since: datetime, until: datetime, granularity: str, feature: str | None = None
) -> list[dict[str, Any]]:
    """[{"start", "feature", "metric", "value"}] per hour or per day (UTC), oldest first.

    Grouped by the stored hour (no date truncation in SQL: on SQLite a Trunc per row was 7x
    slower, bench/usage_summary.py) and folded into days here.
    """
    qs = usage_rows(tenant=tenant, since=since, until=until)
    if feature:
        qs = qs.filter(feature=feature)
    rows = qs.values_list("hour", "feature", "metric").annotate(total=Sum("value")).order_by()
    folded: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for hour, f, m, total in rows:
        hour = hour.astimezone(UTC)
        start = hour if granularity == "hour" else hour.replace(hour=0)
        folded[(start, f, m)] += int(total or 0)
    return [{"start": s, "feature": f, "metric": m, "value": v} for (s, f, m), v in sorted(folded.items())]


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_seconds(now: datetime) -> float:
    now = now.astimezone(UTC)
    return calendar.monthrange(now.year, now.month)[1] * 86400.0


def _money(x: float) -> float:
    return round(x, 6)


def _feature_costs(totals: dict[tuple[str, str], int], prices: Prices) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for feature, metrics in FEATURES.items():
        entry: dict[str, Any] = {}
        cost = 0.0
        for metric, name in metrics.items():
            value = totals.get((feature, metric), 0)
            entry[name] = round(value / 1000, 3) if metric == "inference_ms" else value
            cost += value * prices.unit(feature, metric)
        entry["cost_usd"] = _money(cost)
        if "requests" in entry:
            entry["cost_per_request_usd"] = _money(cost / entry["requests"]) if entry["requests"] else 0.0
        out[feature] = entry
    return out


def _storage(tenant: Tenant, prices: Prices, seconds: float, month_s: float) -> dict[str, Any]:
    stored = registry.storage_of(tenant)
    months = seconds / month_s
    cost = (stored["bytes"] / GB) * prices.units.get("storage.gb_month", 0.0) * months + (
        stored["vectors"] / 1e6
    ) * prices.units.get("storage.million_vectors_month", 0.0) * months
    return {**stored, "cost_usd": _money(cost)}


def metered_cost(*, tenant: Tenant, since: datetime, until: datetime, prices: Prices | None = None) -> float:
    """Cost of the metered features (not storage) over [since, until)."""
    prices = prices or current_prices()
    costs = _feature_costs(usage_totals(tenant=tenant, since=since, until=until), prices)
    return sum(c["cost_usd"] for c in costs.values())


def month_to_date(*, tenant: Tenant, now: datetime | None = None) -> dict[str, float]:
    """Month-to-date cost (metered + storage so far) and a linear projection to month end."""
    now = now or timezone.now()
    prices = current_prices()
    start = month_start(now)
    month_s = month_seconds(now)
    elapsed = max((now - start).total_seconds(), 3600.0)  # the first hour projects from one hour
    metered = metered_cost(tenant=tenant, since=start, until=now + timedelta(hours=1), prices=prices)
    storage = _storage(tenant, prices, elapsed, month_s)["cost_usd"]
    storage_month = _storage(tenant, prices, month_s, month_s)["cost_usd"]
    return {
        "month_to_date_usd": _money(metered + storage),
        "projected_month_usd": _money(metered * month_s / elapsed + storage_month),
    }


def usage_summary(*, tenant: Tenant, since: datetime, until: datetime, now: datetime | None = None) -> dict[str, Any]:
    """The priced summary of ``GET /api/v1/usage/summary/`` (docs/usage.md)."""
    now = now or timezone.now()
    prices = current_prices()
    features: dict[str, Any] = _feature_costs(usage_totals(tenant=tenant, since=since, until=until), prices)
    # Storage is priced for the part of the period that has passed, at today's volume.
    seconds = max(0.0, (min(until, now) - since).total_seconds())
    features["storage"] = _storage(tenant, prices, seconds, month_seconds(now))
    mtd = month_to_date(tenant=tenant, now=now)
    return {
        "period": {"since": since, "until": until},
        "features": features,
        "total_cost_usd": _money(sum(f["cost_usd"] for f in features.values())),
        "month_to_date_usd": mtd["month_to_date_usd"],
        "projected_month_usd": mtd["projected_month_usd"],
        "prices": {"gpu": prices.gpu, "gpu_second_usd": prices.gpu_second_usd, "gpu_price_source": prices.gpu_source},
    }


# ------------------------------------------------------------------------------------------------
# quotas
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveQuota:
    values: dict[str, float | None]  # field -> limit in force (None = unlimited)
    overridden: dict[str, bool]  # field -> set by the tenant (else the platform default)
    budget_exhausted_month: str


def quota_row(*, tenant: Tenant) -> TenantQuota | None:
    return TenantQuota.objects.for_tenant(tenant).first()


def quota_effective(*, tenant: Tenant) -> EffectiveQuota:
    row = quota_row(tenant=tenant)
    defaults = settings.USAGE_QUOTA_DEFAULTS
    values: dict[str, float | None] = {}
    overridden: dict[str, bool] = {}
    for name in QUOTA_FIELDS:
        own = getattr(row, name) if row is not None else None
        overridden[name] = own is not None
        value = own if own is not None else defaults.get(name)
        values[name] = float(value) if isinstance(value, Decimal) else value
    return EffectiveQuota(values, overridden, row.budget_exhausted_month if row else "")


def platform_usage(*, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Every tenant's metered totals and cost over the period (platform staff only)."""
    prices = current_prices()
    per_tenant: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    rows = (
        UsageHour.objects.all_tenants()
        .filter(hour__gte=since, hour__lt=until)
        .values_list("tenant_id", "feature", "metric")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for tenant_id, feature, metric, total in rows:
        per_tenant[tenant_id][(feature, metric)] = int(total or 0)
    out = []
    for tenant in Tenant.objects.order_by("slug"):
        costs = _feature_costs(per_tenant.get(tenant.pk, {}), prices)
        out.append(
            {
                "tenant": tenant,
                "qa_requests": costs["qa"]["requests"],
                "recs_requests": costs["recommendations"]["requests"],
                "embedding_chunks": costs["embedding"]["chunks"],
                "cost_usd": _money(sum(c["cost_usd"] for c in costs.values())),
            }
        )
    return out


# ------------------------------------------------------------------------------------------------
# dashboard charts (usage/console/charts.py)
# ------------------------------------------------------------------------------------------------


def usage_hourly(*, tenant: Tenant, since: datetime, until: datetime) -> dict[tuple[str, str], dict[datetime, int]]:
    """(feature, metric) -> {UTC hour: total}: one GROUP BY for every hourly chart."""
    out: dict[tuple[str, str], dict[datetime, int]] = defaultdict(dict)
    rows = (
        usage_rows(tenant=tenant, since=since, until=until)
        .values_list("hour", "feature", "metric")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for hour, feature, metric, total in rows:
        out[(feature, metric)][hour] = int(total or 0)
    return dict(out)


def metered_cost_daily(*, tenant: Tenant, since: datetime, until: datetime) -> list[tuple[datetime, float]]:
    """Priced billable units per UTC day (storage not included), oldest first."""
    prices = current_prices()
    days: dict[datetime, float] = defaultdict(float)
    # Grouped by the stored hour and folded into days here (no SQL date truncation; see usage_series).
    rows = (
        usage_rows(tenant=tenant, since=since, until=until)
        .values_list("hour", "feature", "metric")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for hour, feature, metric, total in rows:
        if metric in FEATURES.get(feature, {}):
            day = hour.astimezone(UTC).replace(hour=0)
            days[day] += int(total or 0) * prices.unit(feature, metric)
    return sorted(days.items())


def metered_cost_per_request(
    *, tenant: Tenant, models: Sequence[str], since: datetime, until: datetime
) -> tuple[float, int] | None:
    """(USD per request, requests) of the metered usage recorded for any of ``models`` (plan vs
    actual on a deployment's page), or None when no request of those models was metered."""
    prices = current_prices()
    rows = (
        usage_rows(tenant=tenant, since=since, until=until)
        .filter(model__in=list(models))
        .values_list("feature", "metric")
        .annotate(total=Sum("value"))
        .order_by()
    )
    cost, requests = 0.0, 0
    for feature, metric, total in rows:
        if metric == "requests":
            requests += int(total or 0)
        if metric in FEATURES.get(feature, {}):
            cost += int(total or 0) * prices.unit(feature, metric)
    return (_money(cost / requests), requests) if requests else None
