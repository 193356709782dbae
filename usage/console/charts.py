"""Dashboard charts from the hourly usage rows: requests per feature, API latency p50/p95,
errors and 429s, and cost this month against the budget with the projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from tenants.console.charts import Chart, Series, line_chart
from tenants.models import Tenant
from usage.observe import OUTCOME_PREFIX, bucket_counts, quantile_ms
from usage.selectors import metered_cost_daily, month_seconds, month_start, month_to_date, quota_effective, usage_hourly

WINDOW = timedelta(days=2)
FEATURE_LABELS = {"qa": "Q&A", "recommendations": "recommendations", "embedding": "embedding", "training": "training"}


def _hours(now: datetime) -> list[datetime]:
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [end - timedelta(hours=h) for h in range(int(WINDOW.total_seconds() // 3600), -1, -1)]


def usage_dashboard_charts(tenant: Tenant) -> list[Chart]:
    now = timezone.now()
    hourly = usage_hourly(tenant=tenant, since=now - WINDOW, until=now + timedelta(hours=1))
    return [
        _requests_chart(hourly, now),
        _latency_chart(hourly, "recommendations"),
        _latency_chart(hourly, "qa"),
        _errors_chart(hourly, now),
        _cost_chart(tenant, now),
    ]


def _requests_chart(hourly: dict, now: datetime) -> Chart:
    hours = _hours(now)
    features = sorted({f for f, m in hourly if m == "requests"})
    series = [
        Series(FEATURE_LABELS.get(f, f), [(h, float(hourly[(f, "requests")].get(h, 0))) for h in hours])
        for f in features
        if any(hourly[(f, "requests")].values())
    ]
    return line_chart(
        chart_id="chart-requests", title="Requests per feature per hour (last 48 h)", series=series, y_label="requests"
    )


def _latency_chart(hourly: dict, feature: str) -> Chart:
    """p50/p95 per hour of one feature's API requests, from its latency-bucket counts."""
    per_hour: dict[datetime, dict[str, int]] = {}
    for (f, metric), values in hourly.items():
        if f == feature and metric.startswith("lat_"):
            for hour, n in values.items():
                per_hour.setdefault(hour, {})[metric] = n
    series = [
        Series(name, [(h, quantile_ms(q, bucket_counts(per_hour[h]))) for h in sorted(per_hour)])
        for q, name in ((0.5, "p50"), (0.95, "p95"))
    ]
    return line_chart(
        chart_id=f"chart-latency-{feature}",
        title=f"{FEATURE_LABELS[feature]} API latency p50 / p95 per hour (last 48 h)",
        series=series,
        y_label="latency",
        unit="ms",
    )


def _errors_chart(hourly: dict, now: datetime) -> Chart:
    hours = _hours(now)
    series = []
    for feature in ("qa", "recommendations"):
        for outcome, label in (("server_error", "errors (5xx)"), ("rate_limited", "429s")):
            values = hourly.get((feature, f"{OUTCOME_PREFIX}{outcome}"), {})
            requests = sum(
                sum(v.values()) for (f, m), v in hourly.items() if f == feature and m.startswith(OUTCOME_PREFIX)
            )
            if requests:
                series.append(
                    Series(f"{FEATURE_LABELS[feature]} {label}", [(h, float(values.get(h, 0))) for h in hours])
                )
    return line_chart(
        chart_id="chart-errors", title="Errors and 429s per hour (last 48 h)", series=series, y_label="responses"
    )


def _cost_chart(tenant: Tenant, now: datetime) -> Chart:
    start = month_start(now)
    end = start + timedelta(seconds=month_seconds(now))
    mtd = month_to_date(tenant=tenant, now=now)
    budget = quota_effective(tenant=tenant).values.get("monthly_budget_usd")
    spent, total = [], 0.0
    for day, usd in metered_cost_daily(tenant=tenant, since=start, until=now + timedelta(hours=1)):
        total += usd
        spent.append((min(day + timedelta(days=1), now), total))
    title = f"Cost this month: ${mtd['month_to_date_usd']:,.2f} so far, ${mtd['projected_month_usd']:,.2f} projected"
    if budget:
        title += f", budget ${float(budget):,.2f}"
    if not spent and not mtd["month_to_date_usd"]:
        return line_chart(chart_id="chart-cost", title=title, series=[], y_label="USD", unit="$")
    series = [
        Series("metered spend", [(start, 0.0), *spent]),
        Series("projection", [(now, mtd["month_to_date_usd"]), (end, mtd["projected_month_usd"])], dashed=True),
    ]
    if budget:
        series.append(Series("budget", [(start, float(budget)), (end, float(budget))], dashed=True))
    return line_chart(
        chart_id="chart-cost", title=title, series=series, y_label="USD (cumulative)", unit="$", time_format="%d %b"
    )
