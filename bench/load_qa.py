"""Concurrent cited Q&A with production settings (issue 12, "Load").

    .venv/bin/python bench/load_qa.py [--clients 20] [--duration 60] [--runs 3] [--docs DIR] [--max-docs N]

Stack (bench/load_support.py): ``portal.settings.base`` (default throttles on; metering on when
the code has it), PostgreSQL, Redis, a real Milvus Lite server, gunicorn ``-w 2 --threads 4``
and a real Celery worker. The real documents of ``../shared/data/docs/good`` are uploaded through
the API and indexed by the worker (in-process MiniLM, one torch thread) before the clock starts.

Then ``--clients`` closed-loop clients (asyncio + aiohttp, one API token each, as separate
integrations would) ask the questions of ``../shared/data/qa/dev.jsonl`` whose documents were
indexed, round robin, for ``--duration`` seconds. Prints per run: status counts, p50/p95/max of
the request latency, answers/s (HTTP 200 per second), load average before/after; then the
median and range over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from pathlib import Path

from load_support import DATA, loadavg, make_tenant, pct, production_stack, summary, upload_files, wait_terminal


async def closed_loop(base: str, tokens: list[str], questions: list[str], *, duration: float) -> dict:
    import aiohttp

    statuses: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    found = [0]
    load_before = loadavg()
    stop_at = time.perf_counter() + duration
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def client(c: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[c]}", "Content-Type": "application/json"}
            i = c
            while time.perf_counter() < stop_at:
                body = json.dumps({"question": questions[i % len(questions)]})
                i += len(tokens)
                t0 = time.perf_counter()
                try:
                    async with session.post(f"{base}/api/v1/qa/", data=body, headers=headers) as resp:
                        payload = await resp.read()
                        status = str(resp.status)
                        if resp.status == 200:
                            found[0] += bool(json.loads(payload).get("found"))
                        elif resp.status not in (429, 503):
                            print(f"  client {c}: {resp.status} {payload[:300]!r}")
                except TimeoutError:
                    status = "timeout"
                except aiohttp.ClientError as exc:
                    status = type(exc).__name__
                statuses[status] += 1
                if status == "200":
                    latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(len(tokens))))
        wall = time.perf_counter() - t0
    return {
        "statuses": statuses,
        "latencies": latencies,
        "wall": wall,
        "found": found[0],
        "load_before": load_before,
        "load_after": loadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--docs", type=Path, default=DATA / "docs" / "good")
    ap.add_argument("--max-docs", type=int, default=0, help="index only the N smallest documents (0 = all)")
    ap.add_argument("--server", default="2x4", help="gunicorn workers x threads")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--ingest-timeout", type=float, default=1800.0)
    args = ap.parse_args()

    paths = sorted((p for p in args.docs.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    if args.max_docs:
        paths = paths[: args.max_docs]
    names = {p.name for p in paths}
    dev = [json.loads(line) for line in (DATA / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    questions = [q["question"] for q in dev if Path(q.get("doc") or "").name in names or not q.get("answerable")]
    print(f"load average at start: {loadavg()}")
    with production_stack(pg=args.pg, server=args.server, milvus=True, worker=True) as stack:
        from django.conf import settings

        print(
            f"gunicorn -w/--threads {args.server}, PostgreSQL, Redis, Milvus Lite, Celery worker; throttle rates "
            f"{settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']}; "
            f"metering {'on' if getattr(settings, 'USAGE_METERING_ENABLED', False) else 'not in this code'}"
        )
        _, (upload_token,) = make_tenant("qa", ["write"], tokens=1)
        _, ask_tokens = make_tenant_tokens("qa", args.clients)
        t0 = time.perf_counter()
        statuses: collections.Counter[str] = collections.Counter()
        ids = asyncio.run(
            upload_files(
                stack.base,
                upload_token,
                [(p.name, p.read_bytes()) for p in paths],
                concurrency=4,
                statuses=statuses,
                latencies_ms=[],
            )
        )
        print(f"uploaded {len(paths)} documents: {dict(statuses)}", flush=True)
        done = wait_terminal(ids, timeout_s=args.ingest_timeout)
        from documents.models import Chunk

        chunks = Chunk.objects.all_tenants().filter(document_id__in=ids).count()
        print(
            f"indexed in {time.perf_counter() - t0:.0f} s: ready {done['ready']}, failed {done['failed']} "
            f"{dict(done['failed_errors'])}, pending {done['pending']}; {chunks} chunks; {len(questions)} questions",
            flush=True,
        )
        # Warm every gunicorn worker (each loads MiniLM on its first question) with all clients.
        asyncio.run(closed_loop(stack.base, ask_tokens, questions, duration=15))
        results = []
        for r in range(args.runs):
            res = asyncio.run(closed_loop(stack.base, ask_tokens, questions, duration=args.duration))
            results.append(res)
            lat = res["latencies"]
            ok = res["statuses"].get("200", 0)
            print(
                f"run {r + 1}: {sum(res['statuses'].values())} requests, statuses {dict(res['statuses'])}; "
                f"p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, max {max(lat, default=0):.0f} ms; "
                f"{ok / res['wall']:.2f} answers/s ({res['found']} found); "
                f"load {res['load_before']} -> {res['load_after']}",
                flush=True,
            )
        dead = [name for name, up in stack.alive().items() if not up]
        if dead:
            print(f"WARNING: processes died during the run: {dead}")
    print(f"\n{args.runs} runs, {args.clients} clients for {args.duration:.0f} s over {len(paths)} documents:")
    print(summary("p50 ms", [pct(r["latencies"], 50) for r in results], "{:.0f}"))
    print(summary("p95 ms", [pct(r["latencies"], 95) for r in results], "{:.0f}"))
    print(summary("answers/s", [r["statuses"].get("200", 0) / r["wall"] for r in results], "{:.2f}"))
    errors = [sum(n for s, n in r["statuses"].items() if s not in ("200", "429", "503")) for r in results]
    print(summary("errors (not 200/429/503)", [float(e) for e in errors], "{:.0f}"))
    print(summary("503s shed", [float(r["statuses"].get("503", 0)) for r in results], "{:.0f}"))
    print(summary("429s", [float(r["statuses"].get("429", 0)) for r in results], "{:.0f}"))
    print(f"load average at end: {loadavg()}")


def make_tenant_tokens(slug: str, n: int) -> tuple[object, list[str]]:
    """``n`` more qa-scoped tokens of the tenant's owner (one per simulated client)."""
    from tenants.actors import Actor
    from tenants.models import Membership, Tenant
    from tenants.services import token_create

    tenant = Tenant.objects.get(slug=slug)
    membership = Membership.objects.for_tenant(tenant).get(role="owner")
    actor = Actor.for_user(membership.user, membership)
    return tenant, [
        token_create(tenant=tenant, actor=actor, membership=membership, name=f"qa-{i}", scopes=["qa"]).plaintext
        for i in range(n)
    ]


if __name__ == "__main__":
    main()
