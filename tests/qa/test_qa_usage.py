"""Q&A metering and quotas through POST /api/v1/qa/ (embedded default, extractive answers)."""

from __future__ import annotations

import pytest

from qa.models import QaRecord
from tests.qa.conftest import DMCA_PAGES
from usage.models import TenantQuota, UsageHour
from usage.services import quota_cache_clear

pytestmark = [pytest.mark.usefixtures("qa_settings"), pytest.mark.django_db]

QA = "/api/v1/qa/"


@pytest.fixture(autouse=True)
def dmca(index_document, tenant_a):  # type: ignore[no-untyped-def]
    return index_document(tenant_a, "DMCA summary", DMCA_PAGES)


def _qa_usage(tenant, *, billed: bool = True) -> dict[tuple[str, int, str], int]:
    """Billed counters, or (billed=False) the outcome and latency-bucket rows the dashboard reads."""
    rows = UsageHour.objects.for_tenant(tenant).filter(feature="qa")
    observed = rows.filter(metric__startswith="outcome_") | rows.filter(metric__startswith="lat_le_")
    rows = rows.exclude(pk__in=observed.values("pk")) if billed else observed
    return {(r.metric, r.token_id, r.model): r.value for r in rows}


def test_each_answer_is_metered_once_per_token_and_model(api, make_token, owner_a, tenant_a, tenant_b):
    client = api(make_token(owner_a, ["qa", "read"]))
    for _ in range(2):
        assert client.post(QA, {"question": "Who signed the DMCA?"}, format="json").status_code == 200
    token_id = QaRecord.objects.for_tenant(tenant_a).first().asked_by_token_id
    assert _qa_usage(tenant_a) == {("requests", token_id, "extractive-v1"): 2}
    assert _qa_usage(tenant_a, billed=False)[("outcome_ok", token_id, "")] == 2
    # A refused question (400) is not billed; another tenant saw nothing.
    assert client.post(QA, {"question": ""}, format="json").status_code == 400
    assert _qa_usage(tenant_a)[("requests", token_id, "extractive-v1")] == 2
    assert _qa_usage(tenant_b) == {}


def test_over_the_daily_quota_nothing_is_answered_or_counted(api, make_token, owner_a, tenant_a):
    TenantQuota.objects.create(tenant=tenant_a, qa_requests_per_day=1)
    quota_cache_clear()
    client = api(make_token(owner_a, ["qa", "read"]))
    assert client.post(QA, {"question": "Who signed the DMCA?"}, format="json").status_code == 200
    resp = client.post(QA, {"question": "Who signed the DMCA?"}, format="json")
    assert resp.status_code == 429 and resp.json()["code"] == "quota_exceeded"
    assert QaRecord.objects.for_tenant(tenant_a).count() == 1
    assert sum(_qa_usage(tenant_a).values()) == 1
