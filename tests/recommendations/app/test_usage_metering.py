"""Recommendation serving is metered per tenant, token and model, and limited per minute."""

from __future__ import annotations

import math

import pytest

from usage.models import TenantQuota, UsageHour
from usage.services import quota_cache_clear

URL = "/api/v1/recommendations/"


@pytest.fixture
def served_a(tenant_a, seed, trained):
    seed(tenant_a)
    run = trained(tenant_a)
    assert run.status == "ready", run.error
    return run


def test_requests_are_metered_per_token_and_model(served_a, api, make_token, owner_a, tenant_a):
    client = api(make_token(owner_a, ["recommend"]))
    for _ in range(3):
        assert client.post(URL, {"user_id": "user005", "k": 3}, format="json").status_code == 200
    assert client.post(URL, {"user_id": "user005", "k": 0}, format="json").status_code == 400  # not billed
    (row,) = UsageHour.objects.for_tenant(tenant_a).filter(feature="recommendations", metric="requests")
    assert row.metric == "requests" and row.value == 3
    assert row.token_id > 0 and row.model == f"recommender-v{served_a.version}"


def test_per_minute_quota_is_429_with_retry_after(served_a, api, make_token, owner_a, tenant_a):
    TenantQuota.objects.create(tenant=tenant_a, recs_requests_per_minute=2)
    quota_cache_clear()
    client = api(make_token(owner_a, ["recommend"]))
    codes = [client.post(URL, {"user_id": "user005", "k": 3}, format="json").status_code for _ in range(3)]
    # Two pass; the third is refused unless the minute turned between them (then it starts fresh).
    refused = client.post(URL, {"user_id": "user005", "k": 3}, format="json") if codes[2] == 200 else None
    resp = refused or client.post(URL, {"user_id": "user005", "k": 3}, format="json")
    assert codes[:2] == [200, 200]
    assert resp.status_code == 429, resp.content
    assert "recommendation requests per minute" in resp.json()["detail"] and 1 <= int(resp["Retry-After"]) <= 60


def test_training_runs_and_seconds_are_metered(served_a, tenant_a):
    rows = {r.metric: r for r in UsageHour.objects.for_tenant(tenant_a).filter(feature="training")}
    assert rows["runs"].value == 1 and rows["runs"].model == f"recommender-v{served_a.version}"
    assert rows["seconds"].value == math.ceil((served_a.finished_at - served_a.started_at).total_seconds())
