"""Dashboard chart: ingestion throughput per hour and the queue (documents not yet done)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from documents.selectors import document_counts, ingestion_hourly
from tenants.console.charts import Chart, Series, line_chart
from tenants.models import Tenant

WINDOW = timedelta(days=2)


def documents_dashboard_charts(tenant: Tenant) -> list[Chart]:
    hourly = ingestion_hourly(tenant=tenant, since=timezone.now() - WINDOW)
    counts = document_counts(tenant=tenant)
    queued = sum(counts.values()) - counts.get("ready", 0) - counts.get("failed", 0)
    hours = sorted(set().union(*hourly.values()))
    series = [
        Series(label, [(h, float(hourly[key].get(h, 0))) for h in hours])
        for key, label in (("uploaded", "uploaded"), ("ready", "ingested"), ("failed", "failed"))
    ]
    chart = line_chart(
        chart_id="chart-ingestion",
        title=f"Ingestion per hour (last 48 h); in the queue now: {queued}",
        series=series,
        y_label="documents per hour",
    )
    chart.extra["queued"] = str(queued)
    return [chart]
