"""500 documents uploaded at once by two tenants, then ingested by the real worker (issue 12, "Load").

    .venv/bin/python bench/load_uploads.py [--docs 500] [--runs 3] [--pdf-share 0.1] [--concurrency 250]

Stack (bench/load_support.py): ``portal.settings.base`` (default throttles on; metering on when
the code has it), PostgreSQL, Redis (Celery broker + cache), a real Milvus Lite server, gunicorn
``-w 2 --threads 4`` and one real Celery worker (``--concurrency 1``, beat embedded) indexing with
the in-process MiniLM on one torch thread.

Each run creates two fresh tenants and uploads ``--docs`` small documents through
``POST /api/v1/documents/`` (one file per request), half per tenant, both tenants at the same
time, up to ``--concurrency`` requests in flight per tenant. The documents are real text:
PubMedQA abstracts as .txt (one abstract each, ~1-2 chunks), and a ``--pdf-share`` of one-page
PDFs from ``../shared/data/docs/good`` made distinct by a PDF comment after ``%%EOF``.

Prints per run: upload statuses (only 202 and documented 429/503s are allowed; the client retries
those after their Retry-After, as a well-behaved integration does), p50/p95/max upload
latency, then waits for ingestion and counts, over every accepted upload, ready / failed (with
their reasons) / failed without a reason / still pending / missing; "lost" = pending at the
deadline + missing + failed without a reason (goal 0). Load average before/after; then the
median and range over runs. ``--duration`` bounds the wait for ingestion (seconds).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import collections
import json
import time

from load_support import DATA, loadavg, make_tenant, pct, production_stack, summary, upload_files, wait_terminal

ONE_PAGE_PDFS = ["la-precinct-bulletin-2014-p1.pdf", "scotus-transcript-p1.pdf", "google-doc-document.pdf"]


def corpus(n: int, pdf_share: float) -> list[tuple[str, bytes]]:
    data = json.loads((DATA / "qa" / "pubmedqa" / "ori_pqal.json").read_text())
    abstracts = []
    for pmid, item in data.items():
        contexts = item["CONTEXTS"]
        if isinstance(contexts, str):  # stored as a Python list literal in this file
            contexts = ast.literal_eval(contexts)
        abstracts.append((pmid, f"{item['QUESTION']}\n\n" + "\n\n".join(contexts)))
    pdfs = [(name, (DATA / "docs" / "good" / name).read_bytes()) for name in ONE_PAGE_PDFS]
    n_pdf = round(n * pdf_share)
    files: list[tuple[str, bytes]] = []
    for i in range(n_pdf):
        name, raw = pdfs[i % len(pdfs)]
        files.append((f"{i:04d}-{name}", raw + f"\n% load-bench copy {i}\n".encode()))
    for i in range(n - n_pdf):
        pmid, text = abstracts[i % len(abstracts)]
        copy = i // len(abstracts)
        suffix = f"\n\n(copy {copy})" if copy else ""
        files.append((f"pubmed-{pmid}-{i:04d}.txt", (text + suffix).encode()))
    return files


async def two_tenants(base: str, tokens: list[str], halves: list[list[tuple[str, bytes]]], concurrency: int) -> dict:
    statuses: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    t0 = time.perf_counter()
    ids = await asyncio.gather(
        *(
            upload_files(base, tok, half, concurrency=concurrency, statuses=statuses, latencies_ms=latencies)
            for tok, half in zip(tokens, halves, strict=True)
        )
    )
    return {"statuses": statuses, "latencies": latencies, "wall": time.perf_counter() - t0, "ids": ids}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=500, help="documents per run, split over two tenants")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=1800.0, help="deadline (s) for ingestion to finish")
    ap.add_argument("--pdf-share", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=250, help="uploads in flight per tenant")
    ap.add_argument("--server", default="2x4", help="gunicorn workers x threads")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = ap.parse_args()

    files = corpus(args.docs, args.pdf_share)
    halves = [files[0::2], files[1::2]]
    print(f"load average at start: {loadavg()}")
    results = []
    with production_stack(pg=args.pg, server=args.server, milvus=True, worker=True) as stack:
        from django.conf import settings

        print(
            f"gunicorn -w/--threads {args.server}, PostgreSQL, Redis, Milvus Lite, Celery worker; throttle rates "
            f"{settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']}; "
            f"metering {'on' if getattr(settings, 'USAGE_METERING_ENABLED', False) else 'not in this code'}; "
            f"{args.docs} documents per run ({sum(n.endswith('.pdf') for n, _ in files)} PDFs), "
            f"{sum(len(d) for _, d in files) / 1e6:.1f} MB",
            flush=True,
        )
        for r in range(args.runs):
            tokens = [make_tenant(f"up{r}{side}", ["write"], tokens=1)[1][0] for side in "ab"]
            load_before = loadavg()
            up = asyncio.run(two_tenants(stack.base, tokens, halves, args.concurrency))
            ids = [i for part in up["ids"] for i in part]
            lat = up["latencies"]
            bad = sum(n for s, n in up["statuses"].items() if s not in ("202", "429", "503"))
            print(
                f"run {r + 1}: uploads {dict(up['statuses'])} in {up['wall']:.1f} s "
                f"({len(files) / up['wall']:.1f}/s); latency p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, "
                f"max {max(lat, default=0):.0f} ms; {len(ids)} accepted, errors {bad}; load {load_before}",
                flush=True,
            )
            t0 = time.perf_counter()
            done = wait_terminal(ids, timeout_s=args.duration)
            pending = sum(done["pending"].values())
            lost = pending + done["missing"] + done["failed_without_reason"]
            print(
                f"run {r + 1}: ingested in {time.perf_counter() - t0:.0f} s: ready {done['ready']}, "
                f"failed {done['failed']} {dict(done['failed_errors'])}, failed without a reason "
                f"{done['failed_without_reason']}, pending {done['pending']}, missing {done['missing']}; "
                f"LOST {lost}; load {loadavg()}",
                flush=True,
            )
            results.append({**up, "done": done, "lost": lost, "errors": bad, "ingest_s": time.perf_counter() - t0})
        dead = [name for name, up in stack.alive().items() if not up]
        if dead:
            print(f"WARNING: processes died during the run: {dead}")
    print(f"\n{args.runs} runs of {args.docs} documents by two tenants:")
    print(summary("upload p50 ms", [pct(r["latencies"], 50) for r in results], "{:.0f}"))
    print(summary("upload p95 ms", [pct(r["latencies"], 95) for r in results], "{:.0f}"))
    print(summary("upload errors (not 202/429/503)", [float(r["errors"]) for r in results], "{:.0f}"))
    print(
        summary(
            "503s shed (retried after Retry-After)", [float(r["statuses"].get("503", 0)) for r in results], "{:.0f}"
        )
    )
    print(summary("429s", [float(r["statuses"].get("429", 0)) for r in results], "{:.0f}"))
    print(summary("ingestion s", [r["ingest_s"] for r in results], "{:.0f}"))
    print(summary("lost", [float(r["lost"]) for r in results], "{:.0f}"))
    print(f"load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
