"""Serving latency of POST /api/v1/recommendations/ over real HTTP (gunicorn + SQLite).

    /work/main/.venv/bin/python bench/recs_latency.py [--events 1000000] [--items 10000] [--content]

Seeds one tenant with a synthetic catalog (10k items in 100 categories) and 1M events (50k users
with two favourite categories each, Zipf popularity inside a category) by bulk insert, trains a
recommender through the real training service (content embeddings only with --content), starts
gunicorn, warms every worker, then runs concurrent HTTP clients (80% known users with up to 500
events of history, 20% unknown users; k=10; one in five requests with a category filter). Prints
p50/p95/p99 and req/s per concurrency. Runtime: about 2-3 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import requests
from recs_support import Server, gunicorn, make_tenant, percentiles, setup_django, temp_var_dir

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TYPES = np.array(["view", "click", "add_to_cart", "purchase"])
TYPE_P = np.array([0.7, 0.15, 0.08, 0.07])
CLIENTS = {
    "http": "http.client (keep-alive connection per thread)",
    "requests": "requests.Session per thread",
}


def seed(tenant, n_items: int, n_events: int, n_users: int) -> float:
    """Catalog through the service; events by raw executemany (the bench's own data, not an API path)."""
    from django.db import connection, transaction

    from recommendations.models import CatalogItem, Event
    from recommendations.services import catalog_items_upsert
    from tenants.actors import Actor

    t0 = time.perf_counter()
    n_cat = 100
    for start in range(0, n_items, 10_000):
        catalog_items_upsert(
            tenant=tenant,
            actor=Actor.system(),
            rows=[
                {
                    "external_id": f"item-{n}",
                    "title": f"Item {n}",
                    "category": f"category-{n % n_cat}",
                    "description": f"A synthetic item number {n}",
                    "tags": [f"tag-{n % 37}"],
                }
                for n in range(start, min(start + 10_000, n_items))
            ],
        )
    pk = dict(CatalogItem.objects.for_tenant(tenant).values_list("external_id", "id"))
    item_pk = np.array([pk[f"item-{n}"] for n in range(n_items)], dtype=np.int64)

    rng = np.random.default_rng(0)
    per_cat = n_items // n_cat
    zipf = 1.0 / np.arange(1, per_cat + 1) ** 1.1
    zipf /= zipf.sum()
    users = rng.integers(0, n_users, n_events)
    fav = rng.integers(0, n_cat, (n_users, 2))
    pick_fav = rng.random(n_events) < 0.8
    cat = np.where(pick_fav, fav[users, rng.integers(0, 2, n_events)], rng.integers(0, n_cat, n_events))
    rank = rng.choice(per_cat, n_events, p=zipf)
    items = rank * n_cat + cat  # item n belongs to category n % n_cat
    types = TYPES[rng.choice(len(TYPES), n_events, p=TYPE_P)]
    order = rng.permutation(n_events)  # unique timestamps, 1 s apart, users interleaved
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(dt.datetime.now(dt.UTC))
    table = Event._meta.db_table
    sql = (
        f"INSERT INTO {table} (tenant_id, user_id, item_id, type, value, timestamp, context, created_at) "
        "VALUES (%s, %s, %s, %s, NULL, %s, NULL, %s)"
    )
    chunk = 50_000
    for start in range(0, n_events, chunk):
        stop = min(start + chunk, n_events)
        rows = [
            (
                tenant.pk,
                f"user-{int(users[i])}",
                int(item_pk[items[i]]),
                str(types[i]),
                adapt(BASE + dt.timedelta(seconds=int(order[i]))),
                now,
            )
            for i in range(start, stop)
        ]
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
    return time.perf_counter() - t0


@dataclass
class Row:
    clients: int
    latencies_ms: list[float]
    wall_s: float
    errors: int
    server_cpu_ms: float  # per request, every gunicorn process
    client_cpu_ms: float  # per request, this process (all client threads)
    load_1min: float  # os.getloadavg() at the end of the row: the whole machine, other jobs included


def _post_requests(local: threading.local, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    session = getattr(local, "session", None)
    if session is None:
        session = local.session = requests.Session()
    resp = session.post(url, data=data, headers=headers, timeout=30)
    return resp.status_code, resp.content


def _post_http(local: threading.local, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """http.client on one keep-alive connection per client thread: a fraction of requests' CPU."""
    parts = urlsplit(url)
    for attempt in (0, 1):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("POST", parts.path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except ConnectionError:  # the server closed an idle keep-alive connection: reconnect once
            conn.close()
            local.conn = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def load(server: Server, token: str, *, n_requests: int, clients: int, n_users: int, n_cat: int, client: str) -> Row:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    post = _post_http if client == "http" else _post_requests
    url = f"{server.base}/api/v1/recommendations/"
    local = threading.local()
    errors = [0]
    latencies: list[float] = []

    def one(i: int) -> None:
        rnd = random.Random(i)
        user = f"user-{rnd.randrange(n_users)}" if rnd.random() < 0.8 else f"new-{i}"
        body: dict = {"user_id": user, "k": 10}
        if i % 5 == 0:
            body["filters"] = {"category": f"category-{rnd.randrange(n_cat)}"}
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        status, payload = post(local, url, data, headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        if status != 200 or not json.loads(payload)["items"]:
            errors[0] += 1

    server_cpu0, client_cpu0 = server.cpu_seconds(), time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(n_requests)))
    wall = time.perf_counter() - t0
    n = len(latencies)
    return Row(
        clients=clients,
        latencies_ms=latencies,
        wall_s=wall,
        errors=errors[0],
        server_cpu_ms=(server.cpu_seconds() - server_cpu0) / n * 1000,
        client_cpu_ms=(time.process_time() - client_cpu0) / n * 1000,
        load_1min=os.getloadavg()[0],
    )


def parse_servers(spec: str) -> list[tuple[int, int, str]]:
    """'2x4,3xsync' -> [(2, 4, 'gthread'), (3, 1, 'sync')]: workers x threads (gthread) or x sync."""
    out = []
    for part in spec.split(","):
        workers, _, threads = part.strip().partition("x")
        if threads == "sync":
            out.append((int(workers), 1, "sync"))
        else:
            out.append((int(workers), int(threads), "gthread"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument(
        "--servers",
        default="2x4",
        help="gunicorn shapes to measure in turn, e.g. '2x4,2x2,3xsync' (workers x threads, or x sync)",
    )
    parser.add_argument(
        "--client", default="http", help=f"HTTP client(s) to measure in turn, comma-separated: {', '.join(CLIENTS)}"
    )
    parser.add_argument("--content", action="store_true", help="embed item text (MiniLM) during training")
    args = parser.parse_args()
    with temp_var_dir() as var:
        setup_django(var)
        from recommendations.models import TrainingRun
        from recommendations.services import training_run_execute, training_run_start
        from tenants.actors import Actor

        bt = make_tenant()
        seed_s = seed(bt.tenant, args.items, args.events, args.users)
        print(f"seeded {args.items:,} items and {args.events:,} events in {seed_s:.1f} s")
        t0 = time.perf_counter()
        run = training_run_start(tenant=bt.tenant, actor=Actor.system(label="bench"), params={"content": args.content})
        training_run_execute(tenant=bt.tenant, run_id=run.pk)
        run = TrainingRun.objects.for_tenant(bt.tenant).get(pk=run.pk)
        if run.status != "ready":
            raise SystemExit(f"training failed: {run.error}")
        print(
            f"trained v{run.version} in {time.perf_counter() - t0:.1f} s (service: load + "
            f"{'embed + ' if args.content else ''}train + save + register); engine timing {run.metrics['timing']}"
        )
        blend = run.metrics.get("blend") or {}
        print(
            f"validation NDCG@10 {blend.get('ndcg_at_10', 0):.4f}, weights chosen by {run.metrics['weights_chosen_by']}"
        )
        print(f"load average before serving: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        client_kinds = [c.strip() for c in args.client.split(",")]
        if unknown := set(client_kinds) - set(CLIENTS):
            raise SystemExit(f"unknown --client {sorted(unknown)}; choose from {', '.join(CLIENTS)}")
        for workers, threads, worker_class in parse_servers(args.servers):
            tables = []
            with gunicorn(var, workers=workers, threads=threads, worker_class=worker_class) as server:
                for client in client_kinds:
                    kw = {"n_users": args.users, "n_cat": 100, "client": client}
                    load(server, bt.token, n_requests=200, clients=8, **kw)  # warm every worker
                    rows = [load(server, bt.token, n_requests=args.requests, clients=c, **kw) for c in (1, 4, 8)]
                    tables.append((client, rows))
            shape = f"-w {workers} --threads {threads}" if worker_class == "gthread" else f"-w {workers} (sync)"
            for client, rows in tables:
                print_table(args, shape, client, rows)


def print_table(args: argparse.Namespace, shape: str, client: str, rows: list[Row]) -> None:
    print(
        f"\nPOST /api/v1/recommendations/ over HTTP: {args.items:,} items, {args.events:,} events, "
        f"gunicorn {shape}, client {CLIENTS[client]}, {args.requests:,} requests per row\n"
    )
    print(
        "| clients | p50 ms | p95 ms | p99 ms | max ms | req/s | server CPU ms/req | client CPU ms/req "
        "| load avg (1 min) | errors/empty |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        p = percentiles(row.latencies_ms)
        print(
            f"| {row.clients} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {p['max']:.0f} "
            f"| {len(row.latencies_ms) / row.wall_s:.0f} | {row.server_cpu_ms:.2f} | {row.client_cpu_ms:.2f} "
            f"| {row.load_1min:.2f} | {row.errors} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
