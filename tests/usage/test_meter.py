"""Metering: counts land in hourly rows exactly once, on the database backend and on real Redis,
including when the flush dies between its steps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from tests.factories.tenants import TenantFactory
from usage import meter
from usage.models import UsageFlushBatch, UsageHour

T0 = datetime(2026, 5, 4, 10, 15, tzinfo=UTC)


def _totals(tenant) -> dict[tuple[str, int, str, str], int]:
    return {(r.feature, r.token_id, r.model, r.metric): r.value for r in UsageHour.objects.for_tenant(tenant)}


@pytest.mark.django_db
def test_db_backend_counts_per_tenant_token_model_and_hour():
    a, b = TenantFactory(), TenantFactory()
    meter.record(a.pk, "qa", token_id=7, model="smollm2", now=T0, requests=1, prompt_tokens=800, completion_tokens=40)
    meter.record(a.pk, "qa", token_id=7, model="smollm2", now=T0, requests=1, prompt_tokens=200, completion_tokens=0)
    meter.record(a.pk, "qa", token_id=None, model="smollm2", now=T0, requests=1)
    meter.record(b.pk, "recommendations", now=T0, requests=5)
    assert _totals(a) == {
        ("qa", 7, "smollm2", "requests"): 2,
        ("qa", 7, "smollm2", "prompt_tokens"): 1000,
        ("qa", 7, "smollm2", "completion_tokens"): 40,
        ("qa", 0, "smollm2", "requests"): 1,
    }
    assert _totals(b) == {("recommendations", 0, "", "requests"): 5}
    assert {r.hour for r in UsageHour.objects.for_tenant(a)} == {T0.replace(minute=0)}
    assert meter.window_count(a.pk, "qa_requests_per_day", "day", T0) == 3
    assert meter.window_count(b.pk, "recs_requests_per_minute", "minute", T0) == 5


@pytest.mark.django_db
def test_negative_or_non_numeric_counts_are_refused():
    a = TenantFactory()
    with pytest.raises(ValueError):
        meter.record(a.pk, "qa", requests=-1)
    with pytest.raises(ValueError):
        meter.record(a.pk, "qa", requests="3")  # type: ignore[arg-type]
    assert not UsageHour.objects.for_tenant(a).exists()


@pytest.mark.django_db
def test_redis_backend_flushes_into_rows_once(usage_redis):
    a = TenantFactory()
    for _ in range(3):
        meter.record(a.pk, "recommendations", token_id=3, now=T0, requests=1)
    meter.record(a.pk, "embedding", model="minilm", now=T0, chunks=64, inference_ms=812.4)
    assert not UsageHour.objects.for_tenant(a).exists()  # not flushed yet
    result = meter.flush()
    assert result.keys == 1 and result.counters == 3
    assert _totals(a) == {
        ("recommendations", 3, "", "requests"): 3,
        ("embedding", 0, "minilm", "chunks"): 64,
        ("embedding", 0, "minilm", "inference_ms"): 812,
    }
    # More traffic into the same hour adds to the same rows; a second flush of nothing adds nothing.
    meter.record(a.pk, "recommendations", token_id=3, now=T0, requests=2)
    meter.flush()
    meter.flush()
    assert _totals(a)[("recommendations", 3, "", "requests")] == 5
    assert not list(usage_redis.scan_iter("usage:[bp]:*"))


@pytest.mark.django_db
def test_flush_dies_after_claiming_the_bucket_nothing_lost(usage_redis):
    a = TenantFactory()
    meter.record(a.pk, "qa", now=T0, requests=4)
    bucket = next(iter(usage_redis.scan_iter("usage:b:*")))
    processing = meter.claim_bucket(usage_redis, bucket)  # step 1, then the worker "dies"
    assert processing and usage_redis.exists(processing)
    meter.record(a.pk, "qa", now=T0, requests=1)  # traffic goes on into a fresh bucket
    result = meter.flush()  # the next beat: the leftover processing key and the new bucket
    assert result.keys == 2
    assert _totals(a) == {("qa", 0, "", "requests"): 5}


@pytest.mark.django_db
def test_flush_dies_after_commit_before_delete_nothing_counted_twice(usage_redis):
    a = TenantFactory()
    meter.record(a.pk, "qa", now=T0, requests=4, prompt_tokens=100)
    bucket = next(iter(usage_redis.scan_iter("usage:b:*")))
    processing = meter.claim_bucket(usage_redis, bucket)
    applied, _ = meter.apply_processing_key(usage_redis, processing)  # step 2 committed; no DEL
    assert applied and usage_redis.exists(processing)
    result = meter.flush()
    assert result.skipped == 1 and result.keys == 0  # found in the ledger: only deleted
    assert not usage_redis.exists(processing)
    assert _totals(a) == {("qa", 0, "", "requests"): 4, ("qa", 0, "", "prompt_tokens"): 100}
    assert UsageFlushBatch.objects.filter(key=processing).exists()


@pytest.mark.django_db
def test_flush_dies_inside_the_transaction_rolls_back_and_retries(usage_redis):
    a = TenantFactory()
    meter.record(a.pk, "qa", now=T0, requests=2)
    bucket = next(iter(usage_redis.scan_iter("usage:b:*")))
    processing = meter.claim_bucket(usage_redis, bucket)
    # A crash mid-transaction = the transaction never commits: simulate with a failing write.
    usage_redis.hset(processing, "qa|0||requests", "not-a-number")
    with pytest.raises(ValueError):
        meter.apply_processing_key(usage_redis, processing)
    assert not UsageFlushBatch.objects.filter(key=processing).exists()
    assert not UsageHour.objects.for_tenant(a).exists()
    usage_redis.hset(processing, "qa|0||requests", "2")  # the data the dead worker had
    meter.flush()
    assert _totals(a) == {("qa", 0, "", "requests"): 2}


@pytest.mark.django_db(transaction=True)
def test_concurrent_records_and_flushes_count_everything_once(usage_redis):
    """Writers and a flusher at once (threads): every count lands exactly once. (Two flushers
    racing on one processing key are covered by the ledger test above: the second only deletes.)"""
    a = TenantFactory()
    n_threads, per_thread = 4, 250
    stop = threading.Event()

    def write() -> None:
        for _ in range(per_thread):
            meter.record(a.pk, "recommendations", token_id=1, requests=1)

    def flusher() -> None:
        from django.db import connections

        try:
            while not stop.is_set():
                meter.flush()
        finally:
            connections.close_all()

    flushers = [threading.Thread(target=flusher)]
    writers = [threading.Thread(target=write) for _ in range(n_threads)]
    for t in flushers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in flushers:
        t.join()
    meter.flush()
    total = sum(r.value for r in UsageHour.objects.for_tenant(a))
    assert total == n_threads * per_thread


@pytest.mark.django_db
def test_usage_of_a_deleted_tenant_is_dropped_not_stuck(usage_redis):
    a = TenantFactory()
    meter.record(a.pk, "qa", now=T0, requests=1)
    a.delete()
    result = meter.flush()
    assert result.keys == 1
    assert not list(usage_redis.scan_iter("usage:[bp]:*"))


@pytest.mark.django_db
def test_the_beat_task_flushes(usage_redis):
    from usage.tasks import usage_flush_task

    a = TenantFactory()
    meter.record(a.pk, "rollouts", model="web", now=T0, rollouts=1)
    usage_flush_task()
    assert _totals(a) == {("rollouts", 0, "web", "rollouts"): 1}
