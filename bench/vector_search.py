"""Filtered top-10 dense and hybrid search latency through inference.vectorstore.VectorStore.

Setup: a real Milvus Lite 2.5.1 server (inference.milvus_lite.LiteServer) in a temporary directory,
10,000 chunks by default. Chunk text is real: PubMedQA abstracts (shared/data/qa/pubmedqa) split
into sentences, about two sentences per chunk, one abstract = one document. Vectors are random
but clustered (a 200-centre Gaussian mixture, one centre per document, dim 384), so no model is
needed. 10 tenants, so the tenant filter keeps about 10% of the rows. Queries are the PubMedQA
questions of a random document in the queried tenant plus a vector near that document's centre.

Latency is wall time per ``VectorStore`` call (nq=1, client + gRPC + engine), after warm-up.
Runtime is bounded by ``--max-seconds`` (loading is not cut short; query loops are).

    python bench/vector_search.py [--chunks 10000] [--queries 50] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from shared_data import shared_dir  # noqa: E402

from inference.milvus_lite import LiteServer  # noqa: E402
from inference.vectorstore import ChunkVector, VectorStore  # noqa: E402
from tests.support.net import free_port  # noqa: E402

PUBMEDQA = shared_dir() / "data" / "qa" / "pubmedqa" / "ori_pqal.json"
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
DIM = 384
TENANTS = 10
CENTRES = 200


def load_corpus(path: Path) -> list[tuple[str, list[str]]]:
    """[(question, [sentence, ...]) per abstract]."""
    data = json.loads(path.read_text())
    out = []
    for item in data.values():
        contexts = item["CONTEXTS"]
        if isinstance(contexts, str):  # stored as a Python list literal in this file
            contexts = ast.literal_eval(contexts)
        sentences = [s.strip() for c in contexts for s in SENTENCE_RE.split(c) if s.strip()]
        out.append((item["QUESTION"], sentences))
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def build_chunks(corpus: list[tuple[str, list[str]]], n: int, rng: np.random.Generator) -> list[dict]:
    """Chunks of ~2 sentences; cycles over the corpus (new document ids) until n chunks exist."""
    centres = unit_rows(rng.normal(size=(CENTRES, DIM)).astype(np.float32))
    chunks: list[dict] = []
    doc_id = 0
    while len(chunks) < n:
        for question, sentences in corpus:
            centre = centres[doc_id % CENTRES]
            for i in range(0, len(sentences), 2):
                if len(chunks) >= n:
                    break
                chunks.append(
                    {
                        "chunk_id": len(chunks) + 1,
                        "document_id": doc_id,
                        "tenant": f"tenant_{doc_id % TENANTS}",
                        "text": " ".join(sentences[i : i + 2]),
                        "question": question,
                        "centre": centre,
                    }
                )
            doc_id += 1
            if len(chunks) >= n:
                break
    noise = rng.normal(scale=0.35 / np.sqrt(DIM), size=(len(chunks), DIM)).astype(np.float32)
    vectors = unit_rows(np.stack([c["centre"] for c in chunks]) + noise)
    for c, v in zip(chunks, vectors, strict=True):
        c["embedding"] = v
    return chunks


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], object], n: int, deadline: float) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="budget for the query loops")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pyrng = random.Random(args.seed)
    corpus = load_corpus(PUBMEDQA)
    chunks = build_chunks(corpus, args.chunks, rng)
    by_tenant: dict[str, list[dict]] = {}
    for c in chunks:
        by_tenant.setdefault(c["tenant"], []).append(c)

    with (
        tempfile.TemporaryDirectory(prefix="vbench-") as tmp,
        LiteServer(Path(tmp) / "bench.db", port=free_port()) as server,
    ):
        store = VectorStore(server.uri, dim=DIM, collection="bench")
        t0 = time.perf_counter()
        for tenant, rows in by_tenant.items():
            store.upsert(
                tenant=tenant,
                rows=[
                    ChunkVector(
                        chunk_id=c["chunk_id"],
                        document_id=c["document_id"],
                        generation=1,
                        text=c["text"],
                        embedding=c["embedding"].tolist(),
                    )
                    for c in rows
                ],
            )
        load_s = time.perf_counter() - t0
        assert sum(store.count(tenant=t) for t in by_tenant) == len(chunks)

        tenants = sorted(by_tenant)

        def query() -> tuple[str, list[float], str, list[int], int]:
            tenant = pyrng.choice(tenants)
            c = pyrng.choice(by_tenant[tenant])
            noise = rng.normal(scale=0.35 / np.sqrt(DIM), size=DIM)
            vec = unit_rows(c["centre"] + noise).tolist()
            docs = sorted({d["document_id"] for d in pyrng.sample(by_tenant[tenant], 20)})
            return tenant, vec, c["question"], docs, c["document_id"]

        queries = [query() for _ in range(args.queries + 1)]
        it = {"i": 0}

        def nxt() -> tuple[str, list[float], str, list[int], int]:
            it["i"] = (it["i"] + 1) % len(queries)
            return queries[it["i"]]

        k = args.top_k
        # Sanity: every mode returns k hits of the right tenant, near the query's cluster.
        for tenant, vec, question, _docs, _src in queries[:5]:
            own = {c["document_id"] for c in by_tenant[tenant]}
            for hits in (
                store.search(tenant=tenant, vector=vec, top_k=k),
                store.hybrid_search(tenant=tenant, vector=vec, query=question, top_k=k),
            ):
                assert len(hits) == k and all(h.document_id in own for h in hits), hits
            text_hits = store.search_text(tenant=tenant, query=question, top_k=k)
            assert text_hits and all(h.document_id in own for h in text_hits)
        for tenant, vec, _q, _d, src_doc in queries[:10]:
            top = store.search(tenant=tenant, vector=vec, top_k=1)[0]
            assert top.document_id % CENTRES == src_doc % CENTRES, "dense top-1 outside the query's cluster"
        modes: list[tuple[str, Callable[[], object]]] = [
            ("dense, tenant filter", lambda: store.search(tenant=(q := nxt())[0], vector=q[1], top_k=k)),
            (
                "bm25, tenant filter",
                lambda: store.search_text(tenant=(q := nxt())[0], query=q[2], top_k=k),
            ),
            (
                "hybrid RRF, tenant filter",
                lambda: store.hybrid_search(tenant=(q := nxt())[0], vector=q[1], query=q[2], top_k=k),
            ),
            (
                "dense, tenant + 20 doc ids",
                lambda: store.search(tenant=(q := nxt())[0], vector=q[1], top_k=k, document_ids=q[3]),
            ),
            (
                "hybrid RRF, tenant + 20 doc ids",
                lambda: store.hybrid_search(
                    tenant=(q := nxt())[0], vector=q[1], query=q[2], top_k=k, document_ids=q[3]
                ),
            ),
        ]
        deadline = time.monotonic() + args.max_seconds
        results = [(name, timed(fn, args.queries, deadline)) for name, fn in modes]
        store.close()

    load = os.getloadavg()[0]
    print(
        f"\nMilvus Lite 2.5.1 via VectorStore: {len(chunks)} chunks, {len(by_tenant)} tenants, dim {DIM}, "
        f"FLAT/COSINE + BM25, top-{k}, nq=1; load {len(chunks) / load_s:.0f} rows/s; loadavg {load:.1f}"
    )
    print(f"| {'mode':<33} | {'n':>3} | {'p50 ms':>7} | {'p95 ms':>7} | {'mean ms':>7} |")
    print(f"|{'-' * 35}|{'-' * 5}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, ms in results:
        if not ms:
            print(f"| {name:<33} | {0:>3} | {'-':>7} | {'-':>7} | {'-':>7} |")
            continue
        print(
            f"| {name:<33} | {len(ms):>3} | {percentile(ms, 50):7.1f} | {percentile(ms, 95):7.1f} "
            f"| {statistics.fmean(ms):7.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
