"""Each finished Q&A / recommendation API request's outcome and latency, into the hourly usage
rows, so the dashboard charts errors, 429s and p50/p95 per hour from the database.

``portal.metrics`` calls ``observe_request`` (registered in ``usage.apps``) for every request
resolved to a tenant, including the ones a throttle or quota refused before the view ran.
Latency is kept as a histogram: one counter per bucket (``lat_le_<ms>ms``; the fixed buckets
below), so a percentile per hour is read back like Prometheus' ``histogram_quantile``. The
metrics are unpriced (``usage.selectors`` prices only billable units).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

from portal.metrics import RequestObservation
from usage import meter

LATENCY_BUCKETS_MS: tuple[int, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
OVERFLOW = "lat_gt_60000ms"
OUTCOME_PREFIX = "outcome_"


def latency_metric(ms: float) -> str:
    i = bisect.bisect_left(LATENCY_BUCKETS_MS, ms)
    return f"lat_le_{LATENCY_BUCKETS_MS[i]}ms" if i < len(LATENCY_BUCKETS_MS) else OVERFLOW


def observe_request(observation: RequestObservation) -> None:
    counts: dict[str, Any] = {
        f"{OUTCOME_PREFIX}{observation.outcome}": 1,
        latency_metric(observation.seconds * 1000): 1,
    }
    meter.record(observation.tenant_id, observation.feature, observation.token_id or None, None, **counts)


def bucket_counts(metrics: Mapping[str, int]) -> list[int]:
    """Per-bucket counts (the overflow last) from ``{metric: count}`` of one hour."""
    counts = [int(metrics.get(f"lat_le_{b}ms", 0)) for b in LATENCY_BUCKETS_MS]
    return [*counts, int(metrics.get(OVERFLOW, 0))]


def quantile_ms(q: float, counts: Sequence[int]) -> float | None:
    """``histogram_quantile`` over per-bucket counts: linear inside the bucket holding rank q*n;
    the overflow bucket answers its lower bound (the largest finite bucket), as Prometheus does."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i == len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            lower = LATENCY_BUCKETS_MS[i - 1] if i else 0
            upper = LATENCY_BUCKETS_MS[i]
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
    return float(LATENCY_BUCKETS_MS[-1])
