"""Cost of the /metrics instrumentation on one API request (in-process, this machine).

    PYTHONPATH=. .venv/bin/python bench/metrics_overhead.py [--calls 200000]

Times ``portal.metrics.observe_feature_request`` (what FeatureMetricsMiddleware adds to every
Q&A / recommendation request: one counter increment, one histogram observation, the capped
tenant label) over many calls with 50 distinct tenants, and one scrape of /metrics' text. Prints
microseconds per call and the scrape time. No server, no database.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from prometheus_client import REGISTRY, generate_latest

    from portal import metrics

    tenants = [f"tenant-{i}" for i in range(50)]
    statuses = [200] * 97 + [429, 409, 500]
    started = time.perf_counter()
    for i in range(args.calls):
        metrics.observe_feature_request(
            tenant_slug=tenants[i % 50],
            feature="recommendations" if i % 3 else "qa",
            status=statuses[i % 100],
            seconds=0.012,
        )
    per_call_us = (time.perf_counter() - started) / args.calls * 1e6
    started = time.perf_counter()
    body = generate_latest(REGISTRY)
    scrape_ms = (time.perf_counter() - started) * 1000
    print(f"observe_feature_request: {per_call_us:.2f} us/call over {args.calls} calls (50 tenants)")
    print(f"/metrics text: {len(body) / 1024:.0f} KiB, generated in {scrape_ms:.1f} ms")


if __name__ == "__main__":
    main()
