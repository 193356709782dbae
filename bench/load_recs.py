"""Open-loop load on POST /api/v1/recommendations/ with production settings (issue 12, "Load").

    .venv/bin/python bench/load_recs.py [--rate 200] [--duration 60] [--runs 3] [--tenants 3] [--tokens 6]

Stack (bench/load_support.py): ``portal.settings.base`` (default throttles on; metering on when
the code has it), PostgreSQL, Redis cache, gunicorn ``-w 2 --threads 4``. Each of ``--tenants``
tenants gets a synthetic catalog and event history (same generator as bench/recs_latency.py) and
a model trained through the real training service (defaults 3k items, 100k events, 10k users
per tenant, so that seeding three tenants stays within minutes on 2 shared cores; the engine is
~0.2 ms of a request, bench/recs_engine_latency.py), plus ``--tokens`` API tokens. The default
3 x 6 keeps every token and tenant under the default throttle rates at 200 requests/s, as a shop
backend spreading traffic over keys would; ``--tenants 1 --tokens 1`` shows the throttle at work.

The client is open loop: request i is due at ``t0 + i / rate`` whatever happened to earlier ones
(asyncio + aiohttp, up to ``--connections`` keep-alive connections), and its latency is measured
from that due time, so a slow server cannot slow the client down and hide its own queueing
(coordinated omission). Prints per run: status counts, p50/p95/p99 (ms, from the due time),
achieved rate (responses per second of the run), load average before/after; then the median and
range over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import time
from dataclasses import dataclass

from load_support import loadavg, make_tenant, pct, production_stack, summary


@dataclass
class RunResult:
    statuses: collections.Counter[str]
    latencies_ms: list[float]  # successful (200 with items) requests only
    wall_s: float
    late_ms_p99: float  # how late the client itself sent (its own lag behind the schedule)
    load_before: str
    load_after: str

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)

    @property
    def errors(self) -> int:
        # 429 (throttle, quota) and 503 (load shed) with Retry-After are documented answers
        return sum(n for s, n in self.statuses.items() if s not in ("200", "429", "503"))


async def open_loop(
    base: str, tokens: list[str], *, rate: float, duration: float, connections: int, n_users: int, n_cat: int
) -> RunResult:
    import aiohttp

    url = f"{base}/api/v1/recommendations/"
    n = int(rate * duration)
    statuses: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    late: list[float] = []
    load_before = loadavg()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections), timeout=timeout) as session:

        async def one(i: int, due: float) -> None:
            rnd = random.Random(i)
            user = f"user-{rnd.randrange(n_users)}" if rnd.random() < 0.8 else f"new-{i}"
            body: dict = {"user_id": user, "k": 10}
            if i % 5 == 0:
                body["filters"] = {"category": f"category-{rnd.randrange(n_cat)}"}
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"}
            try:
                async with session.post(url, data=json.dumps(body), headers=headers) as resp:
                    payload = await resp.read()
                    status = str(resp.status)
                    if resp.status == 200 and not json.loads(payload).get("items"):
                        status = "200-empty"
                    if resp.status in (429, 503) and "Retry-After" not in resp.headers:
                        status = f"{resp.status}-no-retry-after"
            except TimeoutError:
                status = "timeout"
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            statuses[status] += 1
            if status == "200":
                latencies.append((time.perf_counter() - due) * 1000)

        t0 = time.perf_counter() + 0.05
        tasks = []
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late.append(max(0.0, time.perf_counter() - due) * 1000)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return RunResult(statuses, latencies, wall, pct(late, 99), load_before, loadavg())


def seed_tenants(args: argparse.Namespace) -> list[str]:
    from recs_latency import seed

    from recommendations.models import TrainingRun
    from recommendations.services import training_run_execute, training_run_start
    from tenants.actors import Actor

    tokens: list[str] = []
    for t in range(args.tenants):
        t0 = time.perf_counter()
        tenant, plain = make_tenant(f"shop{t}", ["recommend"], tokens=args.tokens)
        seed(tenant, args.items, args.events, args.users)
        run = training_run_start(tenant=tenant, actor=Actor.system(label="load-bench"), params={"content": False})
        training_run_execute(tenant=tenant, run_id=run.pk)
        run = TrainingRun.objects.for_tenant(tenant).get(pk=run.pk)
        if run.status != "ready":
            raise SystemExit(f"training failed for {tenant.slug}: {run.error}")
        print(
            f"tenant {tenant.slug}: seeded and trained v{run.version} in {time.perf_counter() - t0:.1f} s", flush=True
        )
        tokens.extend(plain)
    return tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tenants", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=6, help="API tokens per tenant; requests rotate over all")
    ap.add_argument("--items", type=int, default=3_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=64, help="client keep-alive connections")
    ap.add_argument("--server", default="2x4", help="gunicorn workers x threads")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = ap.parse_args()

    print(f"load average at start: {loadavg()}")
    with production_stack(pg=args.pg, server=args.server) as stack:
        from django.conf import settings

        print(
            f"gunicorn -w/--threads {args.server}, PostgreSQL, Redis cache; throttle rates "
            f"{settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']}; "
            f"metering {'on' if getattr(settings, 'USAGE_METERING_ENABLED', False) else 'not in this code'}"
        )
        tokens = seed_tenants(args)
        kw = {"n_users": args.users, "n_cat": 100, "connections": args.connections}
        asyncio.run(open_loop(stack.base, tokens, rate=50, duration=4, **kw))  # warm every worker and model
        # Let the warm-up's requests leave nothing queued; the throttle windows are per minute.
        results = []
        for r in range(args.runs):
            cpu0 = stack.cpu_seconds("gunicorn")
            res = asyncio.run(open_loop(stack.base, tokens, rate=args.rate, duration=args.duration, **kw))
            cpu = stack.cpu_seconds("gunicorn") - cpu0
            results.append(res)
            print(
                f"run {r + 1}: {sum(res.statuses.values())} requests, statuses {dict(res.statuses)}; "
                f"p50 {pct(res.latencies_ms, 50):.1f} ms, p95 {pct(res.latencies_ms, 95):.1f} ms, "
                f"p99 {pct(res.latencies_ms, 99):.1f} ms, max {max(res.latencies_ms, default=0):.0f} ms; "
                f"achieved {res.ok / res.wall_s:.1f} ok/s of {args.rate:.0f} offered; "
                f"client send lag p99 {res.late_ms_p99:.1f} ms; gunicorn CPU {cpu:.1f} s "
                f"({cpu / res.wall_s:.2f} cores, {1000 * cpu / max(1, sum(res.statuses.values())):.2f} ms/request sent); "
                f"load {res.load_before} -> {res.load_after}",
                flush=True,
            )
        dead = [name for name, up in stack.alive().items() if not up]
        if dead:
            print(f"WARNING: processes died during the run: {dead}")
    print(f"\n{args.runs} runs, {args.rate:.0f} req/s offered for {args.duration:.0f} s, {len(tokens)} tokens:")
    print(summary("p50 ms", [pct(r.latencies_ms, 50) for r in results]))
    print(summary("p95 ms", [pct(r.latencies_ms, 95) for r in results]))
    print(summary("p99 ms", [pct(r.latencies_ms, 99) for r in results]))
    print(summary("achieved ok/s", [r.ok / r.wall_s for r in results]))
    print(summary("errors (not 200/429/503)", [float(r.errors) for r in results], "{:.0f}"))
    print(summary("503s shed (Retry-After)", [float(r.statuses.get("503", 0)) for r in results], "{:.0f}"))
    print(summary("429s", [float(r.statuses.get("429", 0)) for r in results], "{:.0f}"))
    print(f"load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
