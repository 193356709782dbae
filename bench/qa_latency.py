"""Latency of ``POST /api/v1/qa/`` under concurrent clients, embedded default, 10,000 chunks.

    python bench/qa_latency.py [--chunks 10000] [--clients 1,2,4] [--requests 120] [--server 2x4]

Production settings (bench/load_support.py ``production_stack``): ``portal.settings.base``
(throttles and usage metering on), PostgreSQL, Redis, a real Milvus Lite server and the
production gunicorn config (``--server`` workers x threads, default 2x4; each worker loads the
embedder, one torch thread). The corpus is real text: the PubMedQA-L abstracts
(shared/data/qa/pubmedqa) cut into ~2-sentence passages, one document per abstract. Passages are
embedded with the product's default embedder (one torch thread; cached in .cache/ so re-runs skip
it), written as ready Documents + Chunks and upserted through ``VectorStore`` under the bench
tenant: the same rows ingestion would write, without re-running extraction. N client threads in
another process ask the PubMedQA questions over real HTTP, one API token per client thread.

Prints, per concurrency (after a warm-up round that loads the embedder in every worker):
client-observed p50/p95 of the whole request and the server's own ``latency_ms.retrieve`` (query
embedding + Milvus hybrid search + DB post-filter) and ``latency_ms.total`` p50/p95.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_support import production_stack
from qa_common import DATA, REPO, bench_tenant

CACHE = REPO / ".cache" / "qa_latency"


def passages(limit: int) -> tuple[list[tuple[str, str]], list[str]]:
    """[(pubmed id, passage)] of about 2 sentences each, and the questions."""
    data = json.loads((DATA / "qa" / "pubmedqa" / "ori_pqal.json").read_text())
    out: list[tuple[str, str]] = []
    questions = [v["QUESTION"] for v in data.values()]
    for pid, v in data.items():
        sentences = [s for c in v["CONTEXTS"] for s in re.split(r"(?<=[.!?])\s+", c) if s.strip()]
        for i in range(0, len(sentences), 2):
            out.append((pid, " ".join(sentences[i : i + 2])))
    if len(out) < limit:
        # Not enough sentence pairs: also index single sentences (still real text).
        for pid, v in data.items():
            for s in (s for c in v["CONTEXTS"] for s in re.split(r"(?<=[.!?])\s+", c) if s.strip()):
                out.append((pid, s))
                if len(out) >= limit:
                    break
            if len(out) >= limit:
                break
    return out[:limit], questions


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def client_main(url: str, tokens: list[str], n: int, total: int, qfile: str) -> None:
    """Load generator (own process): ``n`` threads share ``total`` requests; prints one JSON line."""
    import requests

    questions = json.loads(Path(qfile).read_text())
    res: dict = {"client_ms": [], "retrieve_ms": [], "total_ms": [], "found": 0, "errors": 0, "statuses": {}}
    lock = threading.Lock()
    counter = iter(range(total))

    def worker(offset: int) -> None:
        session = requests.Session()
        token = tokens[offset % len(tokens)]
        for i in counter:
            t = time.perf_counter()
            r = session.post(
                url,
                json={"question": questions[(offset * 97 + i) % len(questions)]},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            ms = (time.perf_counter() - t) * 1000
            with lock:
                if r.status_code != 200:
                    res["errors"] += 1
                    res["statuses"][str(r.status_code)] = res["statuses"].get(str(r.status_code), 0) + 1
                    continue
                body = r.json()
                res["client_ms"].append(ms)
                res["retrieve_ms"].append(body["latency_ms"]["retrieve"])
                res["total_ms"].append(body["latency_ms"]["total"])
                res["found"] += body["found"]

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res["wall_s"] = time.perf_counter() - t0
    print(json.dumps(res))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--clients", default="1,2,4")
    ap.add_argument("--requests", type=int, default=120)
    ap.add_argument("--server", default="2x4", help="gunicorn workers x threads")
    args = ap.parse_args()
    with production_stack(milvus=True, server=args.server) as stack, contextlib.ExitStack() as cleanup:
        run(args, stack, cleanup)


def run(args: argparse.Namespace, stack: Any, cleanup: contextlib.ExitStack) -> None:
    import hashlib

    import torch

    from documents.models import Chunk, Document
    from documents.vectors import tenant_vector_key
    from inference.vectorstore import ChunkVector
    from models_registry.backends import get_embedder, get_vector_store
    from tenants.services import token_create

    torch.set_num_threads(1)
    tenant, membership, actor = bench_tenant()
    texts, questions = passages(args.chunks)
    embedder = get_embedder()
    CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256("\x00".join(t for _, t in texts).encode()).hexdigest()[:16]
    cache = CACHE / f"emb-{len(texts)}-{digest}.npy"
    t0 = time.perf_counter()
    if cache.exists():
        emb = np.load(cache)
    else:
        emb = embedder.embed([t for _, t in texts])
        np.save(cache, emb)
    print(f"{len(texts)} passages embedded in {time.perf_counter() - t0:.1f} s (cache: {cache.name})")

    t0 = time.perf_counter()
    by_doc: dict[str, list[int]] = {}
    for i, (pid, _) in enumerate(texts):
        by_doc.setdefault(pid, []).append(i)
    docs = Document.objects.bulk_create(
        [
            Document(
                tenant=tenant,
                title=f"PubMed {pid}",
                filename=f"{pid}.txt",
                file=f"bench/{pid}.txt",
                kind=Document.Kind.TXT,
                size_bytes=1,
                sha256=pid.rjust(64, "0"),
                status=Document.Status.READY,
                generation=1,
            )
            for pid in by_doc
        ]
    )
    rows = []
    for doc, (_pid, idxs) in zip(docs, by_doc.items(), strict=True):
        rows += [
            Chunk(tenant=tenant, document=doc, generation=1, ordinal=j, text=texts[i][1], page=None)
            for j, i in enumerate(idxs)
        ]
    rows = Chunk.objects.bulk_create(rows, batch_size=2000)
    order = [i for idxs in by_doc.values() for i in idxs]
    store = get_vector_store()
    store.upsert(
        tenant=tenant_vector_key(tenant.pk),
        rows=[
            ChunkVector(chunk_id=r.pk, document_id=r.document_id, generation=1, text=r.text, embedding=emb[i].tolist())
            for r, i in zip(rows, order, strict=True)
        ],
    )
    print(
        f"indexed {len(rows)} chunks in {len(docs)} documents in {time.perf_counter() - t0:.1f} s; "
        f"Milvus count {store.count(tenant=tenant_vector_key(tenant.pk))}"
    )

    clients = max(int(x) for x in args.clients.split(","))
    tokens = [
        token_create(tenant=tenant, actor=actor, membership=membership, name=f"bench-{k}", scopes=["qa"]).plaintext
        for k in range(clients)
    ]
    url = f"{stack.base}/api/v1/qa/"

    qfile = Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "questions.json"
    qfile.write_text(json.dumps(questions))
    print(
        f"\nserver: gunicorn {args.server} (workers x threads), portal.settings.base, PostgreSQL, Redis; "
        f"load average {os.getloadavg()[0]:.2f}\n"
        f"{'clients':>7} {'reqs':>5} {'req/s':>6} | client p50/p95 ms | retrieve p50/p95 ms | total p50/p95 ms | "
        "found | errors"
    )
    for n in [0, *(int(x) for x in args.clients.split(","))]:
        # The clients run in their own process, so they do not share the server's GIL.
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--client",
                url,
                ",".join(tokens),
                str(n or clients),  # the warm-up uses every client thread, so every worker loads its models
                str(args.requests if n else 40),
                str(qfile),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        if n == 0:
            continue  # warm-up round
        r = json.loads(out.stdout.strip().splitlines()[-1])
        c, rt, tt = r["client_ms"], r["retrieve_ms"], r["total_ms"]
        print(
            f"{n:>7} {len(c):>5} {len(c) / r['wall_s']:>6.1f} | {pct(c, 0.5):7.1f} / {pct(c, 0.95):7.1f} | "
            f"{pct(rt, 0.5):8.1f} / {pct(rt, 0.95):7.1f} | {pct(tt, 0.5):7.1f} / {pct(tt, 0.95):7.1f} | "
            f"{r['found']}/{len(c)} | {r['errors']} {r['statuses'] or ''}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("retrieve = query embedding + Milvus hybrid search + DB post-filter (server-side timer)")


if __name__ == "__main__":
    main()
