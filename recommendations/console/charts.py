"""Dashboard chart: click-through rate per variant of the current (or latest) experiment."""

from __future__ import annotations

from recommendations.selectors import experiment_list
from recommendations.services.experiments import experiment_results
from tenants.console.charts import Bar, Chart, bar_chart, empty_chart
from tenants.models import Tenant


def recommendations_dashboard_charts(tenant: Tenant) -> list[Chart]:
    experiment = experiment_list(tenant=tenant).order_by("-started_at", "-id").first()
    title = "Recommendation CTR per experiment variant"
    if experiment is None:
        return [Chart("chart-recs-ctr", title, empty_chart("chart-recs-ctr", title, "No experiment yet"))]
    results = experiment_results(tenant=tenant, experiment=experiment)
    bars = [
        Bar(
            v["variant"],
            v["ctr"],
            low=v["ctr_ci95"][0],
            high=v["ctr_ci95"][1],
            note=f"{v['exposures']} exposures, {v['clicks']} clicks",
        )
        for v in results["variants"]
        if v["exposures"]
    ]
    return [
        bar_chart(
            chart_id="chart-recs-ctr",
            title=f"{title}: {experiment.key} ({experiment.status})",
            bars=bars,
            y_label="click-through rate",
            unit="%",
        )
    ]
