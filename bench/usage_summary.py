"""Usage summary query time for a tenant with 1M metered requests in a month.

    /work/main/.venv/bin/python bench/usage_summary.py [--requests 1000000] [--tenants 10]
        [--tokens 10] [--repeat 20]

Fills ``UsageHour`` as the flush would after a month of traffic: for every hour of 30 days and
each of ``--tokens`` API tokens, Q&A (requests, prompt/completion tokens, inference ms),
recommendations (requests) and embedding (chunks, inference ms) rows, with the requests of the
month summing to ``--requests`` per tenant; ``--tenants`` tenants alike, so the query has to
pick one tenant's rows out of many. Then times (median and max of ``--repeat`` runs) the
priced summary of the month (``usage.selectors.usage_summary``, what GET /api/v1/usage/summary/
runs), the daily and hourly series, and the platform page's all-tenant totals. Uses the
database of the settings (SQLite in a temporary directory by default; DATABASE_URL for
PostgreSQL).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recs_support import setup_django, temp_var_dir

MONTH = datetime(2026, 4, 1, tzinfo=UTC)
HOURS = 30 * 24


def fill(tenants: list, requests: int, tokens: int) -> int:
    from django.db import transaction

    from usage.models import UsageHour

    per_hour_token = requests / (HOURS * tokens)
    rows = 0
    for tenant in tenants:
        batch = []
        for h in range(HOURS):
            hour = MONTH + timedelta(hours=h)
            for t in range(1, tokens + 1):
                qa = round(per_hour_token * 0.2)
                recs = round(per_hour_token * 0.8)
                values = {
                    ("qa", "requests"): qa,
                    ("qa", "prompt_tokens"): qa * 900,
                    ("qa", "completion_tokens"): qa * 120,
                    ("qa", "inference_ms"): qa * 800,
                    ("recommendations", "requests"): recs,
                    ("embedding", "chunks"): 40,
                    ("embedding", "inference_ms"): 900,
                }
                model = {"qa": "smollm2", "recommendations": "recommender-v3", "embedding": "minilm"}
                batch += [
                    UsageHour(tenant=tenant, hour=hour, feature=f, token_id=t, model=model[f], metric=m, value=v)
                    for (f, m), v in values.items()
                ]
        with transaction.atomic():
            UsageHour.objects.bulk_create(batch, batch_size=5000)
        rows += len(batch)
    return rows


def timed(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with temp_var_dir() as var:
        setup_django(var)
        from django.db import connection

        from tenants.models import Tenant
        from usage.models import UsageHour
        from usage.selectors import platform_usage, usage_series, usage_summary

        tenants = [Tenant.objects.create(slug=f"t{i}", name=f"T{i}") for i in range(args.tenants)]
        t0 = time.perf_counter()
        rows = fill(tenants, args.requests, args.tokens)
        print(
            f"{rows:,} hourly rows ({args.tenants} tenants, {args.tokens} tokens) in {time.perf_counter() - t0:.1f} s "
            f"on {connection.vendor}"
        )
        tenant = tenants[0]
        since, until = MONTH, MONTH + timedelta(days=30)
        summary = usage_summary(tenant=tenant, since=since, until=until, now=until)
        served = summary["features"]["qa"]["requests"] + summary["features"]["recommendations"]["requests"]
        print(
            f"tenant {tenant.slug}: {served:,} metered requests in the month, "
            f"{UsageHour.objects.for_tenant(tenant).count():,} rows, cost {summary['total_cost_usd']:.2f} USD"
        )
        cases = {
            "summary (month, priced)": lambda: usage_summary(tenant=tenant, since=since, until=until, now=until),
            "series by day (month)": lambda: usage_series(tenant=tenant, since=since, until=until, granularity="day"),
            "series by hour (month)": lambda: usage_series(tenant=tenant, since=since, until=until, granularity="hour"),
            "platform page (all tenants)": lambda: platform_usage(since=since, until=until),
        }
        print(f"\n{'query':30s} {'median ms':>10s} {'max ms':>8s}   ({args.repeat} runs)")
        for name, fn in cases.items():
            med, worst = timed(fn, args.repeat)
            print(f"{name:30s} {med:10.1f} {worst:8.1f}")


if __name__ == "__main__":
    main()
