"""Overhead of usage metering on recommendation serving: p95 and server CPU per request, metering
off vs on, in one run (gunicorn with the production settings, portal.settings.base).

    /work/main/.venv/bin/python bench/usage_overhead.py [--requests 3000] [--rounds 2]
        [--redis redis://127.0.0.1:6379/11]

Seeds one tenant (synthetic catalog and events, as bench/recs_latency.py), trains a recommender,
then serves POST /api/v1/recommendations/ with 8 keep-alive HTTP clients from gunicorn
-w 2 --threads 4 under three configurations, alternating them ``--rounds`` times so machine-load
drift hits each alike:

- ``off``:   USAGE_METERING_ENABLED=false (no quota window read, no count);
- ``redis``: the production backend (one pipelined HINCRBY/INCRBY round trip per request, plus the
             quota window GET);
- ``db``:    the embedded default without Redis (an UPDATE of the hourly row and the window row
             per request, on SQLite).

After the ``redis`` rounds it flushes the buckets and checks that exactly the requests served
with metering on were counted (nothing lost, nothing twice). Prints p50/p95/p99, req/s and server
CPU ms per request for each configuration (pooled over rounds). Runtime: about 3-4 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recs_latency import load, seed
from recs_support import gunicorn, make_tenant, percentiles, setup_django, temp_var_dir

# The production settings need these; the bench process (test settings) uses the same values so
# the token it issues verifies in the server.
SECRETS = {
    "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
    "TOKEN_HMAC_KEY": "bench-token-hmac-key-0123456789abcdef",
    "AUDIT_HMAC_KEY": "bench-audit-hmac-key-0123456789abcdef",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis", default=os.environ.get("USAGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()
    os.environ.update(SECRETS)
    import redis

    r = redis.Redis.from_url(args.redis, decode_responses=True)
    for key in r.scan_iter("usage:*"):  # only the metering keys of this Redis database
        r.delete(key)

    with temp_var_dir() as var:
        setup_django(var)
        from recommendations.models import TrainingRun
        from recommendations.services import training_run_execute, training_run_start
        from tenants.actors import Actor
        from usage import meter
        from usage.models import UsageHour

        bt = make_tenant()
        print(
            f"seeded {args.items:,} items / {args.events:,} events in {seed(bt.tenant, args.items, args.events, args.users):.1f} s"
        )
        run = training_run_start(tenant=bt.tenant, actor=Actor.system(label="bench"), params={"content": False})
        training_run_execute(tenant=bt.tenant, run_id=run.pk)
        if TrainingRun.objects.for_tenant(bt.tenant).get(pk=run.pk).status != "ready":
            raise SystemExit("training failed")
        UsageHour.objects.for_tenant(bt.tenant).delete()  # the training run's own count

        configs = {
            "off": {"USAGE_METERING_ENABLED": "false", "USAGE_REDIS_URL": ""},
            "redis": {"USAGE_METERING_ENABLED": "true", "USAGE_REDIS_URL": args.redis},
            "db": {"USAGE_METERING_ENABLED": "true", "USAGE_REDIS_URL": ""},
        }
        results: dict[str, list] = {name: [] for name in configs}
        kw = {"n_users": args.users, "n_cat": 100, "client": "http"}
        served_with_redis = 0
        for rnd in range(args.rounds):
            for name, env in configs.items():
                with gunicorn(
                    var, workers=2, threads=4, settings_module="portal.settings.base", extra_env={**SECRETS, **env}
                ) as server:
                    warm = load(server, bt.token, n_requests=200, clients=args.clients, **kw)
                    row = load(server, bt.token, n_requests=args.requests, clients=args.clients, **kw)
                if name == "redis":
                    served_with_redis += len(warm.latencies_ms) + len(row.latencies_ms)
                results[name].append(row)
                p = percentiles(row.latencies_ms)
                print(
                    f"round {rnd + 1} {name:5s}: p50 {p['p50']:.2f} ms  p95 {p['p95']:.2f} ms  "
                    f"{len(row.latencies_ms) / row.wall_s:.0f} req/s  server CPU {row.server_cpu_ms:.2f} ms/req  "
                    f"errors {row.errors}  load {row.load_1min:.2f}"
                )

        with_db = sum(len(x.latencies_ms) for x in results["db"]) + 200 * args.rounds
        before_flush = UsageHour.objects.for_tenant(bt.tenant).filter(feature="recommendations", metric="requests")
        db_counted = sum(before_flush.values_list("value", flat=True))
        flushed = meter.flush(redis.Redis.from_url(args.redis, decode_responses=True))
        total = sum(
            UsageHour.objects.for_tenant(bt.tenant)
            .filter(feature="recommendations", metric="requests")
            .values_list("value", flat=True)
        )
        # Every request also records its outcome (and latency bucket) for the dashboard charts.
        outcomes = sum(
            UsageHour.objects.for_tenant(bt.tenant)
            .filter(feature="recommendations", metric__startswith="outcome_")
            .values_list("value", flat=True)
        )
        print(
            f"\ncounted: db backend {db_counted:,} of {with_db:,} served; redis backend "
            f"{total - db_counted:,} of {served_with_redis:,} served (flushed {flushed.keys} bucket(s)); "
            f"outcomes recorded for {outcomes:,} of {with_db + served_with_redis:,}"
        )

        print(
            f"\ngunicorn -w 2 --threads 4, production settings, {args.clients} keep-alive clients, "
            f"{args.requests:,} requests x {args.rounds} rounds per configuration (pooled):"
        )
        print(f"{'metering':10s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'req/s':>8s} {'CPU ms/req':>11s}")
        for name, rows in results.items():
            lat = [x for row in rows for x in row.latencies_ms]
            p = percentiles(lat)
            rps = sum(len(row.latencies_ms) for row in rows) / sum(row.wall_s for row in rows)
            cpu = sum(row.server_cpu_ms * len(row.latencies_ms) for row in rows) / len(lat)
            print(f"{name:10s} {p['p50']:8.2f} {p['p95']:8.2f} {p['p99']:8.2f} {rps:8.0f} {cpu:11.2f}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for key in r.scan_iter("usage:*"):
        r.delete(key)


if __name__ == "__main__":
    main()
