"""Event ingestion throughput through the real HTTP API (gunicorn + SQLite, this machine).

    /work/main/.venv/bin/python bench/events_ingest.py [--events 150000] [--workers 2]

Seeds a 2,000-item catalog, then POSTs /api/v1/events/ in batches of 1,000, 5,000 and 10,000
(request bodies are JSON-encoded before the clock starts, so client encoding is not counted),
sequentially and with 2 concurrent clients, then re-sends one batch to measure duplicate
detection. Prints events/s per configuration. Runtime: about a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from recs_support import gunicorn, make_tenant, percentiles, setup_django, temp_var_dir

TYPES = ["view"] * 70 + ["click"] * 15 + ["add_to_cart"] * 8 + ["purchase"] * 6 + ["rating"]
BASE_TS = 1_704_067_200  # 2024-01-01


def make_batches(n_events: int, batch: int, start: int, n_items: int, rng: random.Random) -> list[bytes]:
    out = []
    for b in range(0, n_events, batch):
        rows = []
        for i in range(start + b, start + min(b + batch, n_events)):
            etype = rng.choice(TYPES)
            row = {
                "user_id": f"user-{rng.randrange(20_000)}",
                "item_id": f"item-{rng.randrange(n_items)}",
                "type": etype,
                "timestamp": BASE_TS + i,
            }
            if etype == "rating":
                row["value"] = rng.randint(1, 5)
            rows.append(row)
        out.append(json.dumps(rows).encode())
    return out


def run(base: str, token: str, bodies: list[bytes], clients: int) -> tuple[float, list[float], dict]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    totals = {"created": 0, "duplicates": 0, "rejected": 0}
    latencies: list[float] = []

    def send(body: bytes, session: requests.Session) -> None:
        t0 = time.perf_counter()
        resp = session.post(f"{base}/api/v1/events/", data=body, headers=headers, timeout=120)
        latencies.append((time.perf_counter() - t0) * 1000)
        resp.raise_for_status()
        data = resp.json()
        for key in totals:
            totals[key] += data[key]

    sessions = [requests.Session() for _ in range(clients)]
    t0 = time.perf_counter()
    if clients == 1:
        for body in bodies:
            send(body, sessions[0])
    else:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda ib: send(ib[1], sessions[ib[0] % clients]), enumerate(bodies)))
    return time.perf_counter() - t0, latencies, totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=150_000, help="events per configuration")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--items", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(0)
    with temp_var_dir() as var:
        setup_django(var)
        from recommendations.services import catalog_items_upsert
        from tenants.actors import Actor

        bt = make_tenant()
        catalog_items_upsert(
            tenant=bt.tenant,
            actor=Actor.system(),
            rows=[
                {"external_id": f"item-{n}", "title": f"Item {n}", "category": f"cat-{n % 20}"}
                for n in range(args.items)
            ],
        )
        configs = [(1_000, 1), (5_000, 1), (10_000, 1), (5_000, 2)]
        rows = []
        with gunicorn(var, workers=args.workers, threads=1) as server:
            start = 0
            for batch, clients in configs:
                bodies = make_batches(args.events, batch, start, args.items, rng)
                start += args.events
                wall, lat, totals = run(server.base, bt.token, bodies, clients)
                rows.append((f"{batch:,} x {len(bodies)}", clients, totals, wall, lat))
            # Re-send the last two 5,000-event bodies: every event is a duplicate.
            wall, lat, totals = run(server.base, bt.token, bodies[-2:], 1)
            rows.append(("5,000 x 2 resent", 1, totals, wall, lat))
        print(f"\nEvents ingest through HTTP (gunicorn -w {args.workers}, SQLite WAL), catalog {args.items:,} items\n")
        print(
            "| batch x requests | clients | created | duplicates | rejected | wall s | events/s | req p50 ms | req p95 ms |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for label, clients, totals, wall, lat in rows:
            n = totals["created"] + totals["duplicates"] + totals["rejected"]
            p = percentiles(lat)
            print(
                f"| {label} | {clients} | {totals['created']:,} | {totals['duplicates']:,} | {totals['rejected']:,} "
                f"| {wall:.2f} | {n / wall:,.0f} | {p['p50']:.0f} | {p['p95']:.0f} |"
            )


if __name__ == "__main__":
    main()
