"""/metrics: per-tenant feature counters and latency, bounded labels, ingestion stages, queue
depth from a real Redis broker, backend health from the readiness checks."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from documents.models import Document
from documents.services import document_upload
from documents.tasks import document_ingest_task
from portal import metrics
from tenants.actors import Actor


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape() -> dict[str, list]:
    body = Client().get("/metrics").content.decode()
    return {f.name: f.samples for f in text_string_to_metric_families(body)}


@pytest.mark.django_db
def test_feature_requests_are_counted_per_tenant_and_outcome(api, admin_a, make_token, tenant_b, owner_b):
    token = make_token(admin_a, ["read", "recommend"])
    labels = {"tenant": "acme", "feature": "recommendations"}
    before_ok = value("portal_feature_requests_total", **labels, outcome="ok")
    before_4xx = value("portal_feature_requests_total", **labels, outcome="client_error")
    before_count = value("portal_feature_request_duration_seconds_count", **labels)

    response = api(token).post("/api/v1/recommendations/", {"user_id": "u1", "k": 3}, format="json")
    assert response.status_code == 409, response.content  # no recommender trained yet
    outcome = "client_error"
    assert value("portal_feature_requests_total", **labels, outcome=outcome) == 1 + (
        before_ok if outcome == "ok" else before_4xx
    )
    assert value("portal_feature_request_duration_seconds_count", **labels) == before_count + 1

    # A tenant slug nobody resolved (404) never becomes a label: it is "unknown".
    before_unknown = value("portal_feature_requests_total", tenant="unknown", feature="qa", outcome="client_error")
    missing = api(user=owner_b.user, tenant=f"no-such-{uuid.uuid4().hex}").post("/api/v1/qa/", {"question": "hi"})
    assert missing.status_code == 404
    assert (
        value("portal_feature_requests_total", tenant="unknown", feature="qa", outcome="client_error")
        == before_unknown + 1
    )
    exported = {s.labels.get("tenant") for s in scrape()["portal_feature_requests"]}
    assert "acme" in exported and not any(t and t.startswith("no-such-") for t in exported)


def test_tenant_label_is_capped(settings, monkeypatch):
    monkeypatch.setattr(metrics, "_tenant_labels", set())
    settings.METRICS_MAX_TENANT_LABELS = 2
    assert [metrics.tenant_label(s) for s in ("a", "b", "c", "a", None)] == ["a", "b", "other", "a", "unknown"]
    with pytest.raises(ValueError):
        metrics.observe_feature_request(tenant_slug="a", feature="billing", status=200, seconds=0.1)
    with pytest.raises(ValueError):
        metrics.set_quota_usage(tenant_slug="a", quota="anything", ratio=0.5)


@pytest.mark.django_db
def test_ingestion_stage_durations_and_results(ingest_env, tenant_a, editor_a):
    before_failed = value("portal_ingest_documents_total", result="failed")
    before_ready = value("portal_ingest_documents_total", result="ready")
    before_extract = value("portal_ingest_stage_duration_seconds_count", stage="extract")
    actor = Actor.for_user(editor_a.user, editor_a)
    good = document_upload(tenant=tenant_a, actor=actor, file=SimpleUploadedFile("a.txt", b"Pumps need oil. " * 40))
    bad = document_upload(tenant=tenant_a, actor=actor, file=SimpleUploadedFile("x.pdf", b"%PDF-1.4 broken"))
    for doc in (good, bad):
        document_ingest_task(tenant_id=tenant_a.pk, document_id=doc.pk)
    assert Document.objects.for_tenant(tenant_a).get(pk=good.pk).status == "ready"
    assert value("portal_ingest_documents_total", result="ready") == before_ready + 1
    assert value("portal_ingest_documents_total", result="failed") == before_failed + 1
    assert value("portal_ingest_stage_duration_seconds_count", stage="extract") == before_extract + 2
    assert value("portal_ingest_stage_duration_seconds_sum", stage="embed") > 0


def test_queue_depth_reads_the_redis_broker(settings):
    # Queue names of our own, so no Celery worker of another process on this Redis consumes them.
    suffix = uuid.uuid4().hex[:8]
    default, ingestion = f"obs-default-{suffix}", f"obs-ingestion-{suffix}"
    settings.CELERY_TASK_DEFAULT_QUEUE = default
    settings.CELERY_TASK_ROUTES = {"documents.*": {"queue": ingestion}}
    settings.CELERY_BROKER_URL = "redis://localhost:6379/13"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.rpush(ingestion, "m1", "m2", "m3")
        assert metrics.broker_queue_depths() == {default: 0, ingestion: 3}
        family = metrics.QueueDepthCollector().read()[0]
        assert {s.labels["queue"]: s.value for s in family.samples}[ingestion] == 3
    finally:
        client.delete(ingestion, default)
    settings.CELERY_BROKER_URL = "memory://"
    assert metrics.broker_queue_depths() is None  # skipped, not guessed


@pytest.mark.django_db
def test_backend_health_gauges_follow_the_readiness_checks():
    collector = metrics.BackendHealthCollector(
        lambda: {"database": lambda: (True, "ok"), "triton": lambda: (_ for _ in ()).throw(OSError("refused"))}
    )
    up = {s.labels["backend"]: s.value for s in collector.read()[0].samples}
    assert up == {"database": 1.0, "triton": 0.0}
    exported = {s.labels["backend"]: s.value for s in scrape()["portal_backend_up"]}
    assert exported["database"] == 1.0


@pytest.mark.django_db
def test_metrics_only_for_allowed_networks(settings):
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    public = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert public.status_code == 404 and b"portal_" not in public.content
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404


@pytest.mark.django_db
def test_request_observers_get_resolved_requests_only(api, admin_a, make_token, owner_b, monkeypatch):
    seen: list[metrics.RequestObservation] = []
    monkeypatch.setattr(metrics, "_observers", [])

    def broken(observation: metrics.RequestObservation) -> None:
        raise RuntimeError("observer down")

    metrics.register_request_observer(broken)
    metrics.register_request_observer(seen.append)
    metrics.register_request_observer(seen.append)  # idempotent
    token = make_token(admin_a, ["recommend"])
    response = api(token).post("/api/v1/recommendations/", {"user_id": "u1"}, format="json")
    assert response.status_code == 409  # a failing observer does not change the response
    api(user=owner_b.user, tenant="no-such-tenant").post("/api/v1/qa/", {"question": "hi"})  # 404, unattributed
    assert len(seen) == 1
    obs = seen[0]
    assert (obs.tenant_id, obs.feature, obs.outcome) == (admin_a.tenant_id, "recommendations", "client_error")
    assert obs.token_id > 0 and 0 < obs.seconds < 30
