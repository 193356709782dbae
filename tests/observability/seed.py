"""Rows the dashboard charts read: Q&A log, documents, an experiment with exposures and clicks."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from documents.models import Document
from qa.models import QaRecord
from recommendations.models import CatalogItem, Event, Experiment, Exposure
from tenants.models import Tenant
from tests.factories.documents import document
from usage import meter
from usage.models import TenantQuota

HOURS = 6


def seed_dashboard(tenant: Tenant) -> None:
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    for h in range(HOURS):
        at = now - timedelta(hours=HOURS - h)
        for i in range(5):
            rec = QaRecord.objects.create(
                tenant=tenant, question=f"q{h}.{i}", latency_ms={"retrieve": 20.0, "total": 200.0 + 100 * i + 10 * h}
            )
            QaRecord.objects.for_tenant(tenant).filter(pk=rec.pk).update(created_at=at)
        # What the API requests of that hour left in the usage rows (requests, outcomes, latency).
        meter.record(tenant.pk, "qa", None, None, now=at, requests=5, outcome_ok=5, lat_le_500ms=3, lat_le_1000ms=2)
        meter.record(
            tenant.pk,
            "recommendations",
            None,
            None,
            now=at,
            requests=90,
            outcome_ok=90,
            outcome_rate_limited=h,
            lat_le_10ms=60,
            lat_le_25ms=30,
        )
        for i in range(2):
            doc = document(tenant, title=f"d{h}-{i}")
            Document.objects.for_tenant(tenant).filter(pk=doc.pk).update(
                created_at=at - timedelta(minutes=5), ingested_at=at
            )
    for i in range(3):
        document(tenant, title=f"waiting-{i}", status=Document.Status.QUEUED)
    TenantQuota.objects.create(tenant=tenant, monthly_budget_usd=25)

    items = [CatalogItem.objects.create(tenant=tenant, external_id=f"i{n}", title=f"Item {n}") for n in range(4)]
    exp = Experiment.objects.create(
        tenant=tenant,
        key="ranker-v2",
        variants=[
            {"name": "control", "weight": 1, "strategy": "popularity"},
            {"name": "v2", "weight": 1, "strategy": "popularity"},
        ],
    )
    for variant, clicked_every in (("control", 4), ("v2", 2)):
        for u in range(20):
            user = f"{variant}-u{u}"
            Exposure.objects.create(tenant=tenant, experiment=exp, variant=variant, user_id=user, item_ids=["i1", "i2"])
            if u % clicked_every == 0:
                Event.objects.create(tenant=tenant, user_id=user, item=items[1], type="click", timestamp=timezone.now())
