"""Retrieval quality on the TEST half of bench/data/qa_eval: right document / right page recall.

    python bench/qa_retrieval_eval.py [--split test]

Ingests the 19 eval documents through the real pipeline (``document_ingest``: layout-aware
extraction, contextual chunks, multilingual-e5-small) into a throw-away database and Milvus
Lite, builds a second collection with the previous set-up (all-MiniLM-L6-v2 over the plain chunk
text), then asks every answerable question of the split (the whole corpus is searched, as a
tenant would) and prints recall@1/@3/@5 of the right document and the right page (DOCX/TXT: the
right document, as bench/qa_eval_lib.score_row counts it) for:

- ``bm25``: Milvus BM25 alone over the contextual ``index_text``;
- ``old hybrid``: MiniLM dense + BM25 over plain ``text``, Milvus RRF (what main did before);
- ``new hybrid``: e5 dense + BM25 over ``index_text``, Milvus RRF;
- ``new + rerank``: the same candidates (local RRF, top 30) reordered by documents/rerank.py.

Then per tag (table, multicolumn, docx, non_english_doc, question_in_german), retrieval latency
p50/p95 per configuration (query embedding + search + DB check [+ rerank]), and ingestion
throughput: chunks/s of the whole pipeline vs chunks/s inside ``embed()`` (the embedding-bound
rate). The reranker was fitted on the tune half only (bench/train_reranker.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_eval_lib import load_questions
from qa_retrieval_lib import Corpus, alt_store, build_corpus, right_doc, right_page

KS = (1, 3, 5)
TAGS = ("table", "multicolumn", "docx", "non_english_doc", "question_in_german")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _recall(rows: list[dict[str, Any]], results: dict[str, list[Any]], corpus: Corpus, fn: Callable, k: int) -> str:
    if not rows:
        return "-"
    hit = sum(1 for r in rows if any(fn(r, c, corpus) for c in results[r["id"]][:k]))
    return f"{hit}/{len(rows)} ({100 * hit / len(rows):.0f}%)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("test", "tune"))
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-retrieval-")))
        t0 = time.perf_counter()
        corpus = build_corpus(stack, tmp)
        from documents.rerank import load_model
        from documents.retrieval import RetrievalConfig, chunks_retrieve
        from inference.embedding import InProcessEmbedder
        from models_registry.backends import get_embedder, get_vector_store

        e5 = get_embedder()
        store = get_vector_store()
        minilm = InProcessEmbedder(threads=1)
        minilm.load()
        t1 = time.perf_counter()
        old_store = alt_store(corpus, "minilm_plain", minilm, contextual=False)
        minilm_s = time.perf_counter() - t1
        model = load_model()
        if model is None:
            print("NOTE: documents/rerank_weights.json is missing; run bench/train_reranker.py first")

        rows = [r for r in load_questions(split=args.split) if r["answerable"]]

        @_wrap_bm25
        def bm25(q: str) -> list[Any]:
            return store.search_text(tenant=str(corpus.tenant.pk), query=q, top_k=5)

        def hybrid(st: Any, emb: Any, rerank: bool) -> Callable[[str], list[Any]]:
            cfg = RetrievalConfig(top_k=5, rerank=rerank)
            return lambda q: chunks_retrieve(tenant=corpus.tenant, query=q, store=st, embedder=emb, config=cfg).chunks

        configs: dict[str, Callable[[str], list[Any]]] = {
            "bm25 (index_text)": bm25,
            "old hybrid (MiniLM, plain text)": hybrid(old_store, minilm, False),
            "new hybrid (e5, contextual)": hybrid(store, e5, False),
        }
        if model is not None:
            configs["new hybrid + rerank"] = hybrid(store, e5, True)
        results: dict[str, dict[str, list[Any]]] = {}
        latency: dict[str, list[float]] = {}
        for name, fn in configs.items():
            fn(rows[0]["question"])  # warm-up (first query pays connection set-up)
            results[name], latency[name] = {}, []
            for r in rows:
                s = time.perf_counter()
                results[name][r["id"]] = fn(r["question"])
                latency[name].append((time.perf_counter() - s) * 1000)

        load = os.getloadavg()
        print(
            f"split={args.split}: {len(rows)} answerable questions over {len(corpus.doc_ids)} documents, "
            f"{corpus.chunks} chunks; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 shared cores)"
        )
        if model is not None:
            print(
                f"reranker: {model.meta.get('script')} on tune rows sha256 {str(model.meta.get('tune_rows_sha256'))[:12]}…"
            )
        print()
        header = "| configuration | doc@1 | doc@3 | doc@5 | page@1 | page@3 | page@5 |"
        print(header)
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name in configs:
            cells = [_recall(rows, results[name], corpus, right_doc, k) for k in KS]
            cells += [_recall(rows, results[name], corpus, right_page, k) for k in KS]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()
        print("Right page @1 / @5 per tag:")
        print()
        print("| tag | n | " + " | ".join(configs) + " |")
        print("|---|---:|" + "---:|" * len(configs))
        for tag in TAGS:
            sub = [r for r in rows if tag in (r.get("tags") or [])]
            cells = [
                f"{_recall(sub, results[n], corpus, right_page, 1).split(' ')[0]} / "
                f"{_recall(sub, results[n], corpus, right_page, 5).split(' ')[0]}"
                for n in configs
            ]
            print(f"| {tag} | {len(sub)} | " + " | ".join(cells) + " |")
        print()
        print("| configuration | retrieval p50 ms | p95 ms |")
        print("|---|---:|---:|")
        for name in configs:
            print(f"| {name} | {_pct(latency[name], 0.5):.0f} | {_pct(latency[name], 0.95):.0f} |")
        print()
        rate = corpus.chunks / corpus.ingest_s
        bound = corpus.chunks / corpus.embed_s
        print(
            f"ingestion ({e5.model_id}, {getattr(e5, 'precision', '?')}, 1 torch thread): {corpus.chunks} chunks in "
            f"{corpus.ingest_s:.1f} s = {rate:.1f} chunks/s; inside embed(): {corpus.embed_s:.1f} s = "
            f"{bound:.1f} chunks/s (embedding-bound rate); pipeline reaches {100 * rate / bound:.0f}% of it"
        )
        print(
            f"(MiniLM fp32 over the same chunks, plain text: {corpus.chunks / minilm_s:.1f} chunks/s incl. upsert; "
            f"total bench wall {time.perf_counter() - t0:.0f} s)"
        )
    return 0


class _Hit:
    """A BM25 hit shaped like a RetrievedChunk for the recall helpers (page 0 = no page)."""

    def __init__(self, h: Any) -> None:
        self.document_id = h.document_id
        self.page = h.page or None


def _wrap_bm25(fn: Callable[[str], list[Any]]) -> Callable[[str], list[Any]]:
    return lambda q: [_Hit(h) for h in fn(q)]


if __name__ == "__main__":
    raise SystemExit(main())
