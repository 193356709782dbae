"""Usage API: the summary's shape and prices, series and CSV, bad periods, cross-tenant isolation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.factories.documents import document
from tests.support.api_mixins import CrossTenantAPITests
from usage import meter
from usage.models import TenantQuota, UsageHour

SUMMARY = "/api/v1/usage/summary/"
SERIES = "/api/v1/usage/"
EXPORT = "/api/v1/usage/export/"


def _this_hour() -> datetime:
    return timezone.now().astimezone(UTC).replace(minute=5, second=0, microsecond=0)


@pytest.fixture
def metered(tenant_a, tenant_b):
    now = _this_hour()
    meter.record(
        tenant_a.pk,
        "qa",
        token_id=1,
        model="smollm2",
        now=now,
        requests=4,
        prompt_tokens=1000,
        completion_tokens=200,
        inference_ms=3000,
    )
    meter.record(tenant_a.pk, "recommendations", now=now, requests=100)
    meter.record(tenant_a.pk, "embedding", model="minilm", now=now, chunks=64, inference_ms=1500)
    meter.record(tenant_b.pk, "qa", now=now, requests=999)
    return now


def test_summary_has_the_documented_shape_and_prices(metered, admin_a, make_token, api, settings):
    document(tenant_a := admin_a.tenant, title="one", with_chunk=True)
    body = api(make_token(admin_a)).get(SUMMARY).json()
    assert set(body) >= {"period", "features", "total_cost_usd", "projected_month_usd"}
    f = body["features"]
    assert set(f) == {"qa", "recommendations", "embedding", "storage", "training", "rollouts"}
    assert f["qa"]["requests"] == 4 and f["qa"]["prompt_tokens"] == 1000 and f["qa"]["completion_tokens"] == 200
    assert f["qa"]["inference_s"] == 3.0
    assert f["recommendations"]["requests"] == 100
    assert f["embedding"] == {**f["embedding"], "chunks": 64, "inference_s": 1.5}
    assert f["storage"]["documents"] == 1 and f["storage"]["bytes"] == 3 and f["storage"]["vectors"] == 1
    # Inference seconds priced from the capacity planner's catalog (L4: 0.8048 USD per GPU-hour).
    assert body["prices"] == {
        "gpu": "L4",
        "gpu_second_usd": pytest.approx(0.8048 / 3600),
        "gpu_price_source": "catalog",
    }
    p = settings.USAGE_PRICES
    qa_cost = 4 * p["qa.requests"] + 1000 * p["qa.prompt_tokens"] + 200 * p["qa.completion_tokens"] + 3 * 0.8048 / 3600
    assert f["qa"]["cost_usd"] == pytest.approx(qa_cost, abs=1e-6)
    assert f["qa"]["cost_per_request_usd"] == pytest.approx(qa_cost / 4, abs=1e-6)
    assert f["recommendations"]["cost_usd"] == pytest.approx(100 * p["recommendations.requests"], abs=1e-6)
    assert body["total_cost_usd"] == pytest.approx(sum(x["cost_usd"] for x in f.values()), abs=1e-5)
    assert body["projected_month_usd"] >= body["month_to_date_usd"] > 0
    assert tenant_a.slug == "acme"


def test_operator_prices_override_the_catalog(metered, admin_a, make_token, api, settings):
    settings.USAGE_PRICES = {**settings.USAGE_PRICES, "gpu_second": 0.01, "qa.requests": 1.0}
    f = api(make_token(admin_a)).get(SUMMARY).json()["features"]
    assert f["qa"]["cost_usd"] == pytest.approx(4 + 1000 * 2e-7 + 200 * 8e-7 + 3 * 0.01, abs=1e-6)
    assert f["embedding"]["cost_usd"] == pytest.approx(64 * 5e-6 + 1.5 * 0.01, abs=1e-6)


def test_summary_never_shows_another_tenants_usage(metered, owner_b, admin_a, make_token, api):
    a = api(make_token(admin_a)).get(SUMMARY).json()
    b = api(make_token(owner_b)).get(SUMMARY).json()
    assert a["features"]["qa"]["requests"] == 4
    assert b["features"]["qa"]["requests"] == 999 and b["features"]["recommendations"]["requests"] == 0
    # A token of tenant A asking for tenant B: 404, nothing counted or shown.
    resp = api(make_token(admin_a), tenant="globex").get(SUMMARY)
    assert resp.status_code == 404 and "999" not in resp.content.decode()
    assert UsageHour.objects.for_tenant(owner_b.tenant).get(metric="requests").value == 999


def test_series_by_hour_and_day_and_feature_filter(metered, admin_a, make_token, api):
    client = api(make_token(admin_a))
    day = client.get(SERIES, {"granularity": "day"}).json()
    assert day["granularity"] == "day"
    assert {(p["feature"], p["metric"]): p["value"] for p in day["points"]}[("recommendations", "requests")] == 100
    hour = client.get(SERIES, {"granularity": "hour", "feature": "qa"}).json()["points"]
    assert {p["feature"] for p in hour} == {"qa"}
    assert {p["metric"]: p["value"] for p in hour}["requests"] == 4
    assert hour[0]["start"].startswith(metered.strftime("%Y-%m-%dT%H:00:00"))


def test_csv_export_is_neutralised_and_matches_the_series(metered, admin_a, make_token, api):
    resp = api(make_token(admin_a)).get(EXPORT, {"granularity": "day"})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
    assert {(r["feature"], r["metric"]): int(r["value"]) for r in rows}[("qa", "requests")] == 4
    assert all(r["value"] != "999" for r in rows)
    assert resp.content.decode().startswith('"start","feature","metric","value"')


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"since": "2026-05-10", "until": "2026-05-01"}, "must be before until"),
        ({"since": "2026-05-01", "until": "2026-05-01"}, "must be before until"),
        ({"since": "2016-01-01", "until": "2026-01-01"}, "longer than 400 days"),
        ({"since": "yesterday"}, "not an ISO 8601 date"),
        ({"until": "2026-13-45"}, "not an ISO 8601 date"),
    ],
)
def test_bad_periods_are_400_with_a_sentence(admin_a, make_token, api, params, needle):
    client = api(make_token(admin_a))
    for url in (SUMMARY, SERIES, EXPORT):
        resp = client.get(url, params)
        assert resp.status_code == 400, (url, resp.content)
        assert needle in resp.json()["detail"], resp.json()


def test_bad_series_parameters_are_400(admin_a, make_token, api):
    client = api(make_token(admin_a))
    assert "granularity must be" in client.get(SERIES, {"granularity": "week"}).json()["detail"]
    assert "Unknown feature" in client.get(SERIES, {"feature": "bitcoin"}).json()["detail"]
    # Hourly points over a year would be a huge answer: hourly ranges are shorter.
    resp = client.get(SERIES, {"granularity": "hour", "since": "2025-01-01", "until": "2025-12-01"})
    assert resp.status_code == 400 and "longer than 93 days" in resp.json()["detail"]


def test_summary_period_bounds_are_respected(tenant_a, admin_a, make_token, api):
    old = datetime(2025, 3, 10, 12, tzinfo=UTC)
    meter.record(tenant_a.pk, "qa", now=old, requests=7)
    meter.record(tenant_a.pk, "qa", now=old + timedelta(days=1), requests=5)
    client = api(make_token(admin_a))
    body = client.get(SUMMARY, {"since": "2025-03-10", "until": "2025-03-11"}).json()
    assert body["features"]["qa"]["requests"] == 7
    body = client.get(SUMMARY, {"since": "2025-03-10T00:00:00Z", "until": "2025-03-12T00:00:00Z"}).json()
    assert body["features"]["qa"]["requests"] == 12


# -- cross-tenant coverage of every route (tests/support/api_mixins) -----------------------------


def _usage_row(tenant, membership):
    meter.record(tenant.pk, "qa", requests=1)
    return UsageHour.objects.for_tenant(tenant).get()


class _UsageCrossTenant(CrossTenantAPITests):
    model = UsageHour

    def make_object(self, tenant, membership):
        return _usage_row(tenant, membership)

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        from django.urls import reverse

        meter.record(two_tenants["tb"].pk, "qa", requests=41)
        resp = api(two_tenants["token_a"]).get(reverse(self.list_url))
        assert resp.status_code == 200, resp.content
        assert self.qa_requests(resp) == 1  # tenant A's one request; B's 42 are not visible

    def qa_requests(self, resp) -> int:
        raise NotImplementedError


class TestUsageSummaryCrossTenant(_UsageCrossTenant):
    list_url = "api:usage-summary"
    covers_routes = ["api:usage-summary"]

    def qa_requests(self, resp) -> int:
        return resp.json()["features"]["qa"]["requests"]


class TestUsageSeriesCrossTenant(_UsageCrossTenant):
    list_url = "api:usage-series"
    covers_routes = ["api:usage-series"]

    def qa_requests(self, resp) -> int:
        return sum(p["value"] for p in resp.json()["points"] if (p["feature"], p["metric"]) == ("qa", "requests"))


class TestUsageExportCrossTenant(_UsageCrossTenant):
    list_url = "api:usage-export"
    covers_routes = ["api:usage-export"]

    def qa_requests(self, resp) -> int:
        rows = csv.DictReader(io.StringIO(resp.content.decode()))
        return sum(int(r["value"]) for r in rows if (r["feature"], r["metric"]) == ("qa", "requests"))


class TestQuotasCrossTenant(CrossTenantAPITests):
    list_url = "api:quotas"
    covers_routes = ["api:quotas"]
    model = TenantQuota
    write = ("patch", "api:quotas", None, {"qa_requests_per_day": 100})
    write_role_too_low = "editor"

    def make_object(self, tenant, membership):
        return TenantQuota.objects.create(tenant=tenant, qa_requests_per_day=500 + tenant.pk)

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        from django.urls import reverse

        body = api(two_tenants["token_a"]).get(reverse(self.list_url)).json()
        assert body["limits"]["qa_requests_per_day"] == 500 + two_tenants["ta"].pk
