"""Charts from the hourly usage rows: request outcomes and latency recorded for every API request
(through portal.metrics' request observers), requests per feature, cost against the budget."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from usage import meter
from usage.models import TenantQuota, UsageHour
from usage.observe import LATENCY_BUCKETS_MS, OVERFLOW, bucket_counts, latency_metric, quantile_ms


def figure(html: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart" id="{chart_id}".*?</figure>', html, re.S)
    assert match, f"{chart_id} missing"
    return match.group(0)


def test_latency_buckets_and_quantiles():
    assert latency_metric(3) == "lat_le_5ms" and latency_metric(5) == "lat_le_5ms"
    assert latency_metric(5.1) == "lat_le_10ms" and latency_metric(70_000) == OVERFLOW
    counts = bucket_counts({"lat_le_10ms": 50, "lat_le_25ms": 50})
    assert len(counts) == len(LATENCY_BUCKETS_MS) + 1
    assert quantile_ms(0.5, counts) == 10.0  # the 50th of 100 is the top of the 5-10 ms bucket
    assert quantile_ms(0.95, counts) == pytest.approx(10 + 15 * 45 / 50)
    assert quantile_ms(0.5, bucket_counts({OVERFLOW: 3})) == 60_000.0
    assert quantile_ms(0.5, bucket_counts({})) is None


@pytest.mark.django_db
def test_api_requests_are_recorded_per_outcome_and_charted(api, make_token, admin_a, viewer_a, tenant_a, owner_b):
    token = make_token(admin_a, ["recommend"], rate_limit_per_minute=2)
    statuses = [
        api(token).post("/api/v1/recommendations/", {"user_id": "u1"}, format="json").status_code for _ in range(4)
    ]
    assert statuses == [409, 409, 429, 429], statuses  # no recommender yet; then the token's own limit
    rows = {
        r.metric: r.value
        for r in UsageHour.objects.for_tenant(tenant_a).filter(feature="recommendations")
        if r.metric.startswith(("outcome_", "lat_"))
    }
    assert rows["outcome_client_error"] == 2 and rows["outcome_rate_limited"] == 2
    assert sum(v for k, v in rows.items() if k.startswith("lat_")) == 4
    assert not UsageHour.objects.for_tenant(owner_b.tenant).exists()

    client = Client()
    client.force_login(viewer_a.user)
    html = client.get("/t/acme/").content.decode()
    errors = figure(html, "chart-errors")
    assert 'data-series="recommendations 429s"' in errors and "recommendations 429s: 2 at" in errors
    latency = figure(html, "chart-latency-recommendations")
    assert latency.count('<circle class="point"') == 2  # p50 and p95 of this hour
    other = Client()
    other.force_login(owner_b.user)
    assert 'class="point"' not in figure(other.get("/t/globex/").content.decode(), "chart-errors")


@pytest.mark.django_db
def test_requests_and_cost_charts_from_usage_rows(viewer_a, tenant_a, settings):
    settings.USAGE_PRICES = {**settings.USAGE_PRICES, "qa.requests": 0.01, "recommendations.requests": 0.001}
    now = timezone.now()
    for h in range(1, 6):
        meter.record(tenant_a.pk, "qa", None, "m", now=now - timedelta(hours=h), requests=10 * h)
        meter.record(tenant_a.pk, "recommendations", None, None, now=now - timedelta(hours=h), requests=100)
    TenantQuota.objects.create(tenant=tenant_a, monthly_budget_usd=50)
    client = Client()
    client.force_login(viewer_a.user)
    html = client.get("/t/acme/").content.decode()
    requests = figure(html, "chart-requests")
    assert 'data-series="Q&amp;A"' in requests and 'data-series="recommendations"' in requests
    assert "Q&amp;A: 50 at" in requests and "recommendations: 100 at" in requests
    cost = figure(html, "chart-cost")
    assert "budget $50.00" in cost and 'data-series="budget"' in cost and 'data-series="projection"' in cost
    assert "so far" in cost and 'class="point"' in cost


@pytest.mark.django_db
def test_cost_and_requests_charts_say_no_data_yet(viewer_a):
    client = Client()
    client.force_login(viewer_a.user)
    html = client.get("/t/acme/").content.decode()
    for chart_id in (
        "chart-requests",
        "chart-latency-qa",
        "chart-latency-recommendations",
        "chart-errors",
        "chart-cost",
    ):
        assert "No data yet" in figure(html, chart_id), chart_id
