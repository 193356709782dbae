"""Shared by bench/train_reranker.py and bench/qa_retrieval_eval.py: the eval corpus ingested
through the real pipeline, extra collections for baseline configurations, and candidate labels.

Nothing here is product code; it drives ``documents.services`` and ``documents.retrieval``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_common import DATA, bench_tenant, setup_django, start_milvus
from qa_eval_lib import QUESTIONS, load_questions, normalise


@dataclass
class Corpus:
    tenant: Any
    doc_ids: dict[str, int]  # "good/x.pdf" -> Document pk
    chunks: int = 0
    ingest_s: float = 0.0
    embed_s: float = 0.0
    per_doc: list[tuple[str, int, float, float]] = field(default_factory=list)


def build_corpus(stack: contextlib.ExitStack, tmp: Path, *, model: str = "multilingual-e5-small") -> Corpus:
    """Django + Milvus Lite + a bench tenant holding every document the eval set names,
    ingested with ``document_ingest`` (what the Celery task runs) and the ``model`` embedder."""
    setup_django(tmp, EMBEDDING_MODEL=model, DOCUMENT_EMBED_BATCH="64")
    start_milvus(stack, tmp)
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.services import IngestTimings, document_ingest, document_upload
    from models_registry.backends import get_embedder

    embedder = get_embedder()
    load = getattr(embedder, "load", None)
    if callable(load):
        load()  # model load is start-up cost, not ingestion
    tenant, _membership, actor = bench_tenant()
    corpus = Corpus(tenant=tenant, doc_ids={})
    for rel in sorted({r["doc"] for r in load_questions()}):
        path = DATA / "docs" / rel
        doc = document_upload(
            tenant=tenant, actor=actor, file=SimpleUploadedFile(path.name, path.read_bytes()), force=True
        )
        t = IngestTimings()
        out = document_ingest(tenant=tenant, document_id=doc.pk, lease_id=uuid.uuid4().hex, timings=t)
        if out is None or out.status != "ready":
            raise RuntimeError(f"{rel} did not ingest: {getattr(out, 'error', 'missing')}")
        corpus.doc_ids[rel] = doc.pk
        corpus.chunks += t.chunks
        corpus.ingest_s += t.total_s
        corpus.embed_s += t.embed_s
        corpus.per_doc.append((rel, t.chunks, t.total_s, t.embed_s))
    return corpus


def alt_store(corpus: Corpus, name: str, embedder: Any, *, contextual: bool) -> Any:
    """A separate collection holding the same chunks (same primary keys) embedded by
    ``embedder`` over ``index_text`` (``contextual``) or the plain ``text``; BM25 over the same."""
    from django.conf import settings
    from django.db.models import F

    from documents.models import Chunk
    from inference.vectorstore import ChunkVector, VectorStore

    store = VectorStore(settings.MILVUS_URI, collection=f"bench_{name}", dim=embedder.dim, timeout_s=60)
    rows = list(
        Chunk.objects.for_tenant(corpus.tenant)
        .filter(generation=F("document__generation"))
        .order_by("pk")
        .values_list("pk", "document_id", "generation", "page", "text", "index_text")
    )
    for i in range(0, len(rows), 64):
        part = rows[i : i + 64]
        texts = [(ix or tx) if contextual else tx for _pk, _d, _g, _p, tx, ix in part]
        vecs = embedder.embed(texts)
        store.upsert(
            tenant=str(corpus.tenant.pk),
            rows=[
                ChunkVector(
                    chunk_id=pk, document_id=d, generation=g, text=texts[j], embedding=vecs[j].tolist(), page=p or 0
                )
                for j, (pk, d, g, p, _tx, _ix) in enumerate(part)
            ],
        )
    return store


def is_pdf(row: dict[str, Any]) -> bool:
    return str(row["doc"]).lower().endswith(".pdf")


def right_doc(row: dict[str, Any], chunk: Any, corpus: Corpus) -> bool:
    return chunk.document_id == corpus.doc_ids[row["doc"]]


def right_page(row: dict[str, Any], chunk: Any, corpus: Corpus) -> bool:
    """The scorer's rule (bench/qa_eval_lib.score_row): a PDF needs a listed page; DOCX/TXT
    rows have no pages, so the right document counts."""
    if not right_doc(row, chunk, corpus):
        return False
    return chunk.page in set(row.get("pages") or []) if is_pdf(row) else True


def relevant(row: dict[str, Any], chunk: Any, corpus: Corpus) -> bool:
    """Training label: on the right page, and for page-less documents the chunk also holds the
    answer (or most of the evidence)."""
    if not right_page(row, chunk, corpus):
        return False
    if is_pdf(row):
        return True
    text = normalise(chunk.text)
    answers = [row.get("answer") or "", *(row.get("alternatives") or [])]
    if any(a and normalise(a) in text for a in answers):
        return True
    ev = normalise(row.get("evidence") or "").split()
    return bool(ev) and sum(1 for w in ev if w in text) / len(ev) >= 0.6


def rows_hash(rows: list[dict[str, Any]]) -> str:
    """SHA-256 over the rows' JSON (sorted keys), to record what a model was fitted on."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def questions_file() -> Path:
    return Path(QUESTIONS)


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, (time.perf_counter() - t0) * 1000
