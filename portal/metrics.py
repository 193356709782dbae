"""Every Prometheus metric the portal exports beyond django-prometheus' own, in one module.

``/metrics`` (portal.metrics_view) serves the default registry, so defining a metric here is
enough to export it. Label cardinality is bounded by construction, because one unbounded label
(a user id, a document name) multiplies every series and takes Prometheus down:

- ``tenant``: the slug of a tenant the request was resolved to (so it exists in the database),
  and only the first ``METRICS_MAX_TENANT_LABELS`` distinct slugs one process sees; later ones
  are counted as ``other``. A request whose tenant was never resolved counts as ``unknown``.
- ``feature``, ``outcome``, ``stage``, ``queue``, ``backend``, ``quota``: fixed sets below (or the
  names apps register in code, e.g. readiness checks), never request input.

Lower layers (documents, qa, recommendations) import this module; it imports nothing of theirs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

FEATURES = ("qa", "recommendations")
OUTCOMES = ("ok", "client_error", "rate_limited", "server_error")
INGEST_STAGES = ("read", "extract", "chunk", "embed", "index", "db", "total")
# The quota fields of usage.models.TenantQuota (the usage app sets the gauge).
QUOTAS = (
    "qa_requests_per_day",
    "recs_requests_per_minute",
    "embedding_chunks_per_day",
    "max_documents",
    "max_storage_bytes",
    "monthly_budget_usd",
)
OTHER = "other"
UNKNOWN = "unknown"

# Recommendation serving answers in ~10-30 ms, Q&A in 0.1-30 s: one bucket set covers both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

REQUESTS_SHED = Counter(
    "portal_requests_shed",
    "API requests answered 503 by load shedding (portal.overload), by the bound that shed them",
    ["reason"],
)
FEATURE_REQUESTS = Counter(
    "portal_feature_requests",
    "API requests to a tenant-facing feature, by tenant and outcome",
    ["tenant", "feature", "outcome"],
)
FEATURE_LATENCY = Histogram(
    "portal_feature_request_duration_seconds",
    "Wall time of API requests to a tenant-facing feature (all outcomes)",
    ["tenant", "feature"],
    buckets=LATENCY_BUCKETS,
)
INGEST_STAGE_SECONDS = Histogram(
    "portal_ingest_stage_duration_seconds",
    "Seconds one document ingestion run spent in each stage",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
INGEST_DOCUMENTS = Counter(
    "portal_ingest_documents",
    "Document ingestion runs that ended, by result (ready, failed, unfinished: retried or taken over)",
    ["result"],
)
TENANT_QUOTA_USAGE = Gauge(
    "portal_tenant_quota_usage_ratio",
    "Share of a tenant's quota used in its current window (1.0 = at the hard limit)",
    ["tenant", "quota"],
)

_tenant_labels: set[str] = set()
_tenant_lock = threading.Lock()


def tenant_label(slug: str | None) -> str:
    """The ``tenant`` label for a resolved tenant's slug, capped (see the module docstring)."""
    if not slug:
        return UNKNOWN
    if slug in _tenant_labels:
        return slug
    with _tenant_lock:
        if slug in _tenant_labels:
            return slug
        if len(_tenant_labels) >= int(getattr(settings, "METRICS_MAX_TENANT_LABELS", 200)):
            return OTHER
        _tenant_labels.add(slug)
        return slug


def outcome_for_status(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


@dataclass(frozen=True)
class RequestObservation:
    """One finished feature request, for observers that keep their own (database) series."""

    tenant_id: int
    token_id: int  # 0 for a session (console) request
    feature: str
    outcome: str
    seconds: float


RequestObserver = Callable[[RequestObservation], None]
_observers: list[RequestObserver] = []


def register_request_observer(observer: RequestObserver) -> None:
    """Called from an app's ready() (e.g. usage: hourly outcome and latency rows); idempotent."""
    if observer not in _observers:
        _observers.append(observer)


def observe_feature_request(
    *,
    tenant_slug: str | None,
    feature: str,
    status: int,
    seconds: float,
    tenant_id: int | None = None,
    token_id: int | None = None,
) -> None:
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}")
    tenant = tenant_label(tenant_slug)
    outcome = outcome_for_status(status)
    FEATURE_REQUESTS.labels(tenant=tenant, feature=feature, outcome=outcome).inc()
    FEATURE_LATENCY.labels(tenant=tenant, feature=feature).observe(seconds)
    if tenant_id is None:
        return  # never resolved to a tenant: nothing to attribute
    observation = RequestObservation(tenant_id, token_id or 0, feature, outcome, seconds)
    for observer in _observers:
        try:
            observer(observation)
        except Exception:  # an observer never turns a served request into an error
            logger.exception("request observer %r failed", observer)


def observe_ingest_stages(stage_seconds: dict[str, float], *, result: str) -> None:
    """Record one ingestion run: seconds per stage (unknown stages are refused) and its result."""
    for stage, seconds in stage_seconds.items():
        if stage not in INGEST_STAGES:
            raise ValueError(f"unknown ingestion stage {stage!r}")
        INGEST_STAGE_SECONDS.labels(stage=stage).observe(max(0.0, seconds))
    INGEST_DOCUMENTS.labels(result=result).inc()


def set_quota_usage(*, tenant_slug: str, quota: str, ratio: float) -> None:
    if quota not in QUOTAS:
        raise ValueError(f"unknown quota {quota!r}")
    TENANT_QUOTA_USAGE.labels(tenant=tenant_label(tenant_slug), quota=quota).set(ratio)


# -- scrape-time gauges -------------------------------------------------------------------------


def broker_queue_depths() -> dict[str, int] | None:
    """Messages waiting per Celery queue, or None where the broker cannot say cheaply.

    Only the Redis transport is read: kombu keeps each queue as a Redis list named after it.
    The filesystem and memory brokers (development, tests) are skipped, not guessed.
    """
    url = str(getattr(settings, "CELERY_BROKER_URL", ""))
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    queues = {str(getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"))}
    queues.update(str(r["queue"]) for r in getattr(settings, "CELERY_TASK_ROUTES", {}).values() if "queue" in r)
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        pipe = client.pipeline(transaction=False)
        for name in sorted(queues):
            pipe.llen(name)
        return dict(zip(sorted(queues), (int(n) for n in pipe.execute()), strict=True))
    finally:
        client.close()


class _CachedCollector(Collector):
    """A collector whose (possibly slow) readings are reused for ``ttl_s`` between scrapes."""

    ttl_s = 15.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = 0.0
        self._families: list[GaugeMetricFamily] = []

    def read(self) -> list[GaugeMetricFamily]:
        raise NotImplementedError

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []  # no describe: registration must not run the (slow) checks

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl_s or not self._at:
                try:
                    self._families = self.read()
                except Exception:  # a scrape never fails because a dependency is down
                    self._families = []
                self._at = time.monotonic()
            return list(self._families)


class QueueDepthCollector(_CachedCollector):
    ttl_s = 5.0

    def read(self) -> list[GaugeMetricFamily]:
        depths = broker_queue_depths()
        if depths is None:
            return []
        family = GaugeMetricFamily("portal_queue_depth", "Celery messages waiting in a broker queue", labels=["queue"])
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        return [family]


class BackendHealthCollector(_CachedCollector):
    """``portal_backend_up{backend}``: 1/0 per readiness check of portal.health (Milvus, Triton, ...)."""

    def __init__(self, checks: Callable[[], dict[str, Callable[[], tuple[bool, str]]]]) -> None:
        super().__init__()
        self._checks = checks

    def read(self) -> list[GaugeMetricFamily]:
        up = GaugeMetricFamily("portal_backend_up", "1 if the readiness check of a backend passes", labels=["backend"])
        seconds = GaugeMetricFamily(
            "portal_backend_check_duration_seconds", "Seconds the readiness check took", labels=["backend"]
        )
        for name, check in self._checks().items():
            started = time.perf_counter()
            try:
                passed, _ = check()
            except Exception:
                passed = False
            up.add_metric([name], 1.0 if passed else 0.0)
            seconds.add_metric([name], time.perf_counter() - started)
        return [up, seconds]


_registered = False


def register_collectors(checks: Callable[[], dict[str, Callable[[], tuple[bool, str]]]]) -> None:
    """Add the scrape-time collectors to the default registry once per process."""
    global _registered
    if _registered:
        return
    REGISTRY.register(QueueDepthCollector())
    REGISTRY.register(BackendHealthCollector(checks))
    _registered = True
