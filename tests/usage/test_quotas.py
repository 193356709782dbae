"""Quotas and budgets: setting them (bounds, roles, audit), enforcing them (429 with the limit
named and Retry-After), soft alerts at 80 %, per-token rates, the console banner, platform page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from portal.exceptions import QuotaExceeded
from tenants.models import AuditEvent
from tests.factories.documents import document
from tests.tenants.helpers import events
from usage import meter
from usage.models import TenantQuota
from usage.services import quota_cache_clear, quota_check, usage_flush

QUOTAS = "/api/v1/quotas/"


# -- setting quotas -------------------------------------------------------------------------------


def test_admin_sets_a_quota_within_bounds_and_it_is_audited(admin_a, make_token, api):
    client = api(make_token(admin_a, ["admin"]))
    resp = client.patch(QUOTAS, {"qa_requests_per_day": 1000, "monthly_budget_usd": 250.5}, format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["limits"]["qa_requests_per_day"] == 1000 and body["limits"]["monthly_budget_usd"] == 250.5
    assert body["tenant_set"]["qa_requests_per_day"] is True and body["tenant_set"]["max_documents"] is False
    (event,) = events("usage.quota.updated", admin_a.tenant)
    assert event.changes["qa_requests_per_day"] == [None, "1000"]
    # null goes back to the platform default
    resp = client.patch(QUOTAS, {"qa_requests_per_day": None}, format="json")
    assert resp.json()["tenant_set"]["qa_requests_per_day"] is False
    assert resp.json()["limits"]["qa_requests_per_day"] == 10_000


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"qa_requests_per_day": 0}, "must be between 1 and 1,000,000"),
        ({"recs_requests_per_minute": -5}, "must be between 1 and 600,000"),
        ({"max_storage_bytes": 10**30}, "the platform's bounds"),
        ({"monthly_budget_usd": "NaN"}, "finite"),
        ({"monthly_budget_usd": "1e400"}, "the platform's bounds"),
        ({"qa_requests_per_day": 12.5}, "whole number"),
        ({"qa_requests_per_day": True}, "expected a number"),
        ({"qa_requests_per_day": "lots"}, "is not a number"),
        ({"qa_requests_per_day": [1]}, "expected a number"),
        ({"free_lunch": 1}, "Unknown quota"),
        ({}, "Send a JSON object"),
    ],
)
def test_bad_quota_values_are_400_and_change_nothing(owner_a, make_token, api, payload, needle):
    resp = api(make_token(owner_a, ["admin"])).patch(QUOTAS, payload, format="json")
    assert resp.status_code == 400, resp.content
    assert needle in resp.json()["detail"], resp.json()
    assert not TenantQuota.objects.for_tenant(owner_a.tenant).exists()
    assert not events("usage.quota.updated", owner_a.tenant)


def test_editor_cannot_set_quotas_and_the_attempt_is_audited(editor_a, api):
    resp = api(user=editor_a.user, tenant="acme").patch(QUOTAS, {"qa_requests_per_day": 5}, format="json")
    assert resp.status_code == 403 and "usage.quotas" in resp.json()["detail"]
    denied = events("tenants.permission.denied", editor_a.tenant)
    assert denied and "usage.quotas" in denied[-1].changes["reason"]
    assert not TenantQuota.objects.for_tenant(editor_a.tenant).exists()
    # Reading is allowed to every member.
    assert api(user=editor_a.user, tenant="acme").get(QUOTAS).status_code == 200


def test_operator_bounds_come_from_settings(owner_a, make_token, api, settings):
    settings.USAGE_QUOTA_BOUNDS = {**settings.USAGE_QUOTA_BOUNDS, "qa_requests_per_day": (10, 50)}
    client = api(make_token(owner_a, ["admin"]))
    assert client.patch(QUOTAS, {"qa_requests_per_day": 60}, format="json").status_code == 400
    assert client.patch(QUOTAS, {"qa_requests_per_day": 50}, format="json").status_code == 200
    assert client.get(QUOTAS).json()["bounds"]["qa_requests_per_day"] == [10, 50]


# -- enforcing them ---------------------------------------------------------------------------------


def _set(tenant, **values):
    TenantQuota.objects.update_or_create(tenant=tenant, defaults=values)
    quota_cache_clear()  # as quota_update does; the test writes the row directly


def test_qa_over_its_daily_quota_is_429_naming_the_limit(viewer_a, make_token, api):
    _set(viewer_a.tenant, qa_requests_per_day=3)
    meter.record(viewer_a.tenant.pk, "qa", requests=3)
    resp = api(make_token(viewer_a, ["qa"])).post(
        "/api/v1/qa/", {"question": "What is in my documents?"}, format="json"
    )
    assert resp.status_code == 429, resp.content
    body = resp.json()
    assert body["code"] == "quota_exceeded" and body["quota"] == "qa_requests_per_day"
    assert "limit of 3 Q&A requests per day" in body["detail"]
    now = timezone.now().astimezone(UTC)
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    assert abs(int(resp["Retry-After"]) - to_midnight) <= 2 and body["retry_after_s"] == int(resp["Retry-After"])


def test_quota_of_another_tenant_is_not_consumed(viewer_a, owner_b):
    _set(viewer_a.tenant, qa_requests_per_day=3)
    meter.record(owner_b.tenant.pk, "qa", requests=50)
    quota_check(tenant=viewer_a.tenant, feature="qa")  # tenant B's traffic does not count for A
    meter.record(viewer_a.tenant.pk, "qa", requests=3)
    with pytest.raises(QuotaExceeded):
        quota_check(tenant=viewer_a.tenant, feature="qa")


def test_soft_alert_once_per_period_at_80_percent(tenant_a):
    _set(tenant_a, qa_requests_per_day=10)
    meter.record(tenant_a.pk, "qa", requests=6)
    quota_check(tenant=tenant_a, feature="qa")  # 7 of 10: no alert
    assert not events("usage.quota.soft_limit", tenant_a)
    meter.record(tenant_a.pk, "qa", requests=1)
    quota_check(tenant=tenant_a, feature="qa")  # 8 of 10: the alert
    meter.record(tenant_a.pk, "qa", requests=1)
    quota_check(tenant=tenant_a, feature="qa")  # 9 of 10: not again this day
    (alert,) = events("usage.quota.soft_limit", tenant_a)
    assert alert.changes["quota"] == "qa_requests_per_day" and alert.changes["limit"] == 10


def test_recommendations_per_minute_window(tenant_a):
    _set(tenant_a, recs_requests_per_minute=5)
    meter.record(tenant_a.pk, "recommendations", requests=5)
    with pytest.raises(QuotaExceeded) as exc:
        quota_check(tenant=tenant_a, feature="recommendations")
    assert "5 recommendation requests per minute" in exc.value.message and 1 <= exc.value.retry_after_s <= 60
    # The next minute is a fresh window.
    later = timezone.now().replace(second=0, microsecond=0) + timezone.timedelta(minutes=1)
    assert meter.window_count(tenant_a.pk, "recs_requests_per_minute", "minute", later) == 0


def test_document_and_storage_limits_are_checked_on_upload(tenant_a):
    _set(tenant_a, max_documents=1, max_storage_bytes=1024**2)
    quota_check(tenant=tenant_a, feature="embedding", add_documents=1, add_bytes=10)
    document(tenant_a)
    with pytest.raises(QuotaExceeded) as exc:
        quota_check(tenant=tenant_a, feature="embedding", add_documents=1, add_bytes=10)
    assert "limit of 1 documents stored" in exc.value.message
    _set(tenant_a, max_documents=100)
    with pytest.raises(QuotaExceeded) as exc:
        quota_check(tenant=tenant_a, feature="embedding", add_documents=1, add_bytes=1024**2)
    assert "bytes stored" in exc.value.message


def test_document_upload_over_quota_is_429(editor_a, make_token, api):
    _set(editor_a.tenant, max_documents=1)
    document(editor_a.tenant)
    from django.core.files.uploadedfile import SimpleUploadedFile

    resp = api(make_token(editor_a, ["write"])).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile("a.txt", b"hello world", "text/plain")}, format="multipart"
    )
    assert resp.status_code == 429, resp.content
    assert resp.json()["code"] == "quota_exceeded" and "Retry-After" in resp


def test_monthly_budget_stops_billable_requests_after_the_flush(tenant_a, viewer_a, make_token, api, settings):
    _set(tenant_a, monthly_budget_usd=1)
    settings.USAGE_PRICES = {**settings.USAGE_PRICES, "qa.requests": 0.5}
    meter.record(tenant_a.pk, "qa", requests=2)  # 1.00 USD: the whole budget
    quota_check(tenant=tenant_a, feature="qa")  # not re-priced before the flush
    usage_flush()
    row = TenantQuota.objects.for_tenant(tenant_a).get()
    assert row.budget_exhausted_month == f"{timezone.now():%Y-%m}"
    assert events("usage.quota.exceeded", tenant_a) and events("usage.quota.soft_limit", tenant_a)
    quota_cache_clear()
    resp = api(make_token(viewer_a, ["qa"])).post("/api/v1/qa/", {"question": "anything?"}, format="json")
    assert resp.status_code == 429 and "monthly budget of 1 USD" in resp.json()["detail"]
    assert int(resp["Retry-After"]) > 0
    # Raising the budget lifts the stop at once.
    api(make_token(viewer_a.tenant.memberships.get(role="owner"), ["admin"])).patch(
        QUOTAS, {"monthly_budget_usd": 100}, format="json"
    )
    quota_cache_clear()
    quota_check(tenant=tenant_a, feature="qa")


# -- per-token rates --------------------------------------------------------------------------------


def test_token_over_its_own_rate_is_429_while_the_tenant_is_under_quota(viewer_a, make_token, api):
    slow = make_token(viewer_a, ["read"], rate_limit_per_minute=2)
    client = api(slow)
    assert [client.get(QUOTAS).status_code for _ in range(2)] == [200, 200]
    resp = client.get(QUOTAS)
    assert resp.status_code == 429, resp.content
    assert resp.json()["code"] == "quota_exceeded"
    assert "API token's rate limit of 2 requests per minute" in resp.json()["detail"]
    assert 0 < int(resp["Retry-After"]) <= 60
    # Another token of the same member, on the generous default, is not affected.
    assert api(make_token(viewer_a, ["read"])).get(QUOTAS).status_code == 200


def test_token_rate_is_shown_on_the_token_and_validated(viewer_a, make_token, api, settings):
    make_token(viewer_a, ["read"])
    make_token(viewer_a, ["read"], rate_limit_per_minute=36_000, name="shop backend")
    rows = api(user=viewer_a.user, tenant="acme").get("/api/v1/tokens/").json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    by_name = {r["name"]: r for r in rows}
    assert by_name["test"]["rate_limit_per_minute"] is None
    assert by_name["test"]["effective_rate_per_minute"] == settings.API_TOKEN_RATE_DEFAULT_PER_MIN >= 36_000
    assert by_name["shop backend"]["effective_rate_per_minute"] == 36_000
    with pytest.raises(Exception) as exc:
        make_token(viewer_a, ["read"], rate_limit_per_minute=0)
    assert "rate_limit_per_minute must be" in str(exc.value)


# -- console --------------------------------------------------------------------------------------


def test_dashboard_banner_at_80_percent_and_usage_page(client, viewer_a):
    _set(viewer_a.tenant, qa_requests_per_day=10)
    meter.record(viewer_a.tenant.pk, "qa", requests=9)
    client.force_login(viewer_a.user)
    html = client.get("/t/acme/").content.decode()
    assert "90% of the Q&amp;A requests per day quota used" in html
    page = client.get("/t/acme/usage/")
    assert page.status_code == 200 and "Usage and cost" in page.content.decode()


def test_platform_usage_page_is_for_staff_only(client, viewer_a, owner_b):
    meter.record(owner_b.tenant.pk, "recommendations", requests=1234)
    client.force_login(viewer_a.user)
    assert client.get("/platform/usage/").status_code == 403
    viewer_a.user.is_staff = True
    viewer_a.user.save()
    html = client.get("/platform/usage/").content.decode()
    assert "globex" in html and "1234" in html and "acme" in html


def test_audit_events_are_written_only_for_real_changes(owner_a, make_token, api):
    client = api(make_token(owner_a, ["admin"]))
    client.patch(QUOTAS, {"max_documents": 10}, format="json")
    client.patch(QUOTAS, {"max_documents": 10}, format="json")
    assert len(events("usage.quota.updated", owner_a.tenant)) == 1
    assert AuditEvent.objects.for_tenant(owner_a.tenant).filter(action="usage.quota.updated").count() == 1


def test_window_keys_are_per_utc_day():
    a = datetime(2026, 5, 4, 23, 59, 59, tzinfo=UTC)
    assert meter.window_key(1, "q", "day", a) != meter.window_key(1, "q", "day", a.replace(day=5, hour=0, second=0))
    assert meter.window_retry_after("day", a) == 1


def test_token_rate_set_through_the_api_and_bad_rates_are_400(viewer_a, api, settings):
    client = api(user=viewer_a.user, tenant="acme")
    resp = client.post("/api/v1/tokens/", {"name": "shop", "scopes": ["recommend"], "rate_limit_per_minute": 36000})
    assert resp.status_code == 201, resp.content
    assert resp.json()["rate_limit_per_minute"] == 36000 and resp.json()["effective_rate_per_minute"] == 36000
    (created,) = events("tenants.apitoken.created", viewer_a.tenant)
    assert created.changes["rate_limit_per_minute"] == [None, 36000]
    for bad in (0, -1, settings.API_TOKEN_RATE_MAX_PER_MIN + 1):
        resp = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"], "rate_limit_per_minute": bad})
        assert resp.status_code == 400 and "rate_limit_per_minute" in resp.json()["detail"], resp.content


def test_console_quota_form_for_admins_only(client, admin_a, editor_a):
    client.force_login(admin_a.user)
    resp = client.post("/t/acme/usage/", {"qa_requests_per_day": "250", "max_documents": ""}, follow=True)
    assert "Quotas saved." in resp.content.decode()
    row = TenantQuota.objects.for_tenant(admin_a.tenant).get()
    assert row.qa_requests_per_day == 250 and row.max_documents is None
    resp = client.post("/t/acme/usage/", {"qa_requests_per_day": "0"}, follow=True)
    assert "must be between 1 and" in resp.content.decode()
    assert TenantQuota.objects.for_tenant(admin_a.tenant).get().qa_requests_per_day == 250
    client.force_login(editor_a.user)
    assert client.post("/t/acme/usage/", {"qa_requests_per_day": "5"}).status_code == 403
    assert TenantQuota.objects.for_tenant(admin_a.tenant).get().qa_requests_per_day == 250


def test_quota_checks_set_the_prometheus_gauge(tenant_a):
    from prometheus_client import REGISTRY

    _set(tenant_a, qa_requests_per_day=10)
    meter.record(tenant_a.pk, "qa", requests=4)
    quota_check(tenant=tenant_a, feature="qa")
    ratio = REGISTRY.get_sample_value(
        "portal_tenant_quota_usage_ratio", {"tenant": "acme", "quota": "qa_requests_per_day"}
    )
    assert ratio == pytest.approx(0.5)  # 4 used + this request, of 10
