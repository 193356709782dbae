"""Cited Q&A quality on ``shared/data/qa/dev.jsonl`` through the real product path.

    python bench/qa_eval.py [--k 5] [--verbose]

Every file of ``docs/good`` is uploaded and ingested with the real services
(``document_upload`` + ``document_ingest``: extraction, chunking, in-process MiniLM, Milvus Lite)
into a bench tenant. Then, per question:

- retrieval: the product's hybrid retrieval (``documents.retrieval.chunks_retrieve``: dense +
  Milvus BM25 fused by RRF, DB post-filter), its two legs alone (dense; Milvus BM25), and a
  plain BM25 baseline (``bm25s`` over the same chunk texts from the database);
  recall@k = a relevant chunk in the top k, MRR over the top 10. A chunk is relevant when it
  belongs to the gold document and, for PDFs, lies on a gold page; for DOCX/TXT, when it
  contains >= 60% of the evidence's tokens;
- answers: the product's Q&A service (``qa_prepare`` + ``qa_answer``, rendered by the API's
  ``QaAnswerSerializer``; embedded default = extractive): citation accuracy
  (share of citations whose chunk is relevant, i.e. the cited page holds the gold answer),
  answer-level citation hit, key fact in the answer, and the precision / recall of
  ``found: false`` on the unanswerable questions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qa_common import DATA, bench_tenant, setup_django, start_milvus
from qa_extractive_dev import _tokens, answer_correct


def relevant(row: dict, doc_id: int, page: int | None, text: str, gold_doc_id: int) -> bool:
    if doc_id != gold_doc_id:
        return False
    if row["pages"]:
        return page in row["pages"]
    ev = _tokens(row["evidence"])
    have = set(_tokens(text))
    return bool(ev) and sum(t in have for t in ev) / len(ev) >= 0.6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmpdir, contextlib.ExitStack() as stack:
        tmp = Path(tmpdir)
        setup_django(tmp)
        start_milvus(stack, tmp)
        run(args)


def run(args: argparse.Namespace) -> None:
    import bm25s
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.models import Chunk, Document
    from documents.retrieval import RetrievalConfig, chunks_retrieve
    from documents.services import document_ingest, document_upload
    from documents.vectors import tenant_vector_key
    from models_registry.backends import get_embedder, get_vector_store
    from qa.api.serializers import QaAnswerSerializer
    from qa.services.ask import qa_answer, qa_prepare

    tenant, _membership, actor = bench_tenant()
    t0 = time.perf_counter()
    docs: dict[str, int] = {}
    for path in sorted((DATA / "docs" / "good").iterdir()):
        doc = document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile(path.name, path.read_bytes()))
        doc = document_ingest(tenant=tenant, document_id=doc.pk, lease_id=f"bench-{doc.pk}")
        assert doc is not None
        if doc.status != Document.Status.READY:
            print(f"  {path.name}: {doc.status} {doc.error}")
        docs[f"good/{path.name}"] = doc.pk
    chunks = list(
        Chunk.objects.for_tenant(tenant).filter(generation=1).values_list("id", "document_id", "page", "text")
    )
    print(f"ingested {len(docs)} files -> {len(chunks)} chunks in {time.perf_counter() - t0:.1f} s")

    # Plain BM25 baseline over exactly the same chunk texts.
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([c[3] for c in chunks], show_progress=False), show_progress=False)
    info = {c[0]: c for c in chunks}
    store, embedder, key = get_vector_store(), get_embedder(), tenant_vector_key(tenant.pk)

    rows = [json.loads(line) for line in (DATA / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    systems = ["hybrid (product)", "dense (Milvus)", "BM25 (Milvus)", "BM25 (bm25s baseline)"]
    hits = dict.fromkeys(systems, 0)
    rr = dict.fromkeys(systems, 0.0)
    n_ans = 0
    n_cit = n_cit_ok = n_ans_found = n_ans_hit = n_correct = 0
    n_unans = n_unans_declined = n_declined_total = 0
    ret_ms: list[float] = []
    total_ms: list[float] = []
    for row in rows:
        gold = docs[row["doc"]]
        if row["answerable"]:
            n_ans += 1
            vec = [float(x) for x in embedder.embed([row["question"]])[0]]
            t = time.perf_counter()
            hyb = chunks_retrieve(
                tenant=tenant, query=row["question"], store=store, embedder=embedder, config=RetrievalConfig(top_k=10)
            )
            ret_ms.append((time.perf_counter() - t) * 1000)
            ranked = {
                "hybrid (product)": [c.chunk_id for c in hyb.chunks],
                "dense (Milvus)": [h.chunk_id for h in store.search(tenant=key, vector=vec, top_k=10)],
                "BM25 (Milvus)": [h.chunk_id for h in store.search_text(tenant=key, query=row["question"], top_k=10)],
            }
            res, _ = retriever.retrieve(
                bm25s.tokenize([row["question"]], show_progress=False), k=10, show_progress=False
            )
            ranked["BM25 (bm25s baseline)"] = [chunks[int(i)][0] for i in res[0]]
            for s, ids in ranked.items():
                rel = [relevant(row, info[i][1], info[i][2], info[i][3], gold) for i in ids if i in info]
                if any(rel[: args.k]):
                    hits[s] += 1
                first = next((j for j, r in enumerate(rel) if r), None)
                rr[s] += 0 if first is None else 1 / (first + 1)
        t = time.perf_counter()
        body = QaAnswerSerializer(qa_answer(qa_prepare(tenant=tenant, actor=actor, question=row["question"]))).data
        total_ms.append((time.perf_counter() - t) * 1000)
        if not body["found"]:
            n_declined_total += 1
        if row["answerable"]:
            if body["found"]:
                n_ans_found += 1
                ok = [
                    relevant(row, c["document_id"], c["page"], info[c["chunk_id"]][3], gold) for c in body["citations"]
                ]
                n_cit += len(ok)
                n_cit_ok += sum(ok)
                n_ans_hit += any(ok)
                n_correct += answer_correct(body["answer"], row["answer"])
        else:
            n_unans += 1
            n_unans_declined += not body["found"]
        if args.verbose:
            flat = " ".join(body["answer"].split())[:200]
            print(f"{row['id']} found={body['found']} | {row['question']}")
            print(f"   -> {flat}")

    print(f"\nquestions={len(rows)} (answerable {n_ans}, unanswerable {n_unans}); k={args.k}")
    print(f"{'retrieval':26s} recall@{args.k}   MRR@10")
    for s in systems:
        print(f"{s:26s} {hits[s] / n_ans:8.1%}   {rr[s] / n_ans:.3f}")
    print("\nanswers (embedded default: extractive)")
    print(
        f"  citation accuracy (cited chunk holds the gold answer): {n_cit_ok}/{n_cit} = {n_cit_ok / max(1, n_cit):.1%}"
    )
    print(
        f"  answers with >= 1 correct citation: {n_ans_hit}/{n_ans_found} found ({n_ans_found}/{n_ans} answerable found)"
    )
    print(f"  key fact in the answer: {n_correct}/{n_ans} = {n_correct / n_ans:.1%}")
    prec = n_unans_declined / max(1, n_declined_total)
    print(
        f"  found:false precision on unanswerable: {n_unans_declined}/{n_declined_total} = {prec:.1%}; "
        f"recall {n_unans_declined}/{n_unans} = {n_unans_declined / max(1, n_unans):.1%}"
    )
    print(
        f"  latency ms (single client, in-process): retrieval p50 {statistics.median(ret_ms):.1f}, "
        f"qa_answer p50 {statistics.median(total_ms):.1f} / max {max(total_ms):.1f}"
    )


if __name__ == "__main__":
    main()
