"""Dashboard chart: Q&A answer latency p50/p95 per hour (from the Q&A log rows)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from qa.selectors import qa_latency_hourly
from tenants.console.charts import Chart, Series, line_chart, percentile
from tenants.models import Tenant

WINDOW = timedelta(days=2)


def qa_dashboard_charts(tenant: Tenant) -> list[Chart]:
    hours = qa_latency_hourly(tenant=tenant, since=timezone.now() - WINDOW)
    p50, p95 = [], []
    for hour, values in hours:
        values.sort()
        p50.append((hour, percentile(values, 0.50)))
        p95.append((hour, percentile(values, 0.95)))
    return [
        line_chart(
            chart_id="chart-qa-latency",
            title="Q&A answer pipeline time p50 / p95 per hour, from the Q&A log (last 48 h)",
            series=[Series("p50", p50), Series("p95", p95)],
            y_label="answer time",
            unit="ms",
        )
    ]
