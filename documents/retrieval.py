"""Hybrid retrieval over one tenant's documents: dense + BM25 fused by RRF, checked against the DB.

Pipeline (``chunks_retrieve``):
1. embed the query (the same model that embedded the chunks);
2. ``VectorStore.hybrid_search`` (dense cosine + Milvus BM25, fused by Milvus' RRF ranker), or
   ``search`` + ``search_text`` fused here with :func:`documents.fusion.rrf` (``fusion="local"``);
   the tenant and ``document_ids`` filters are built INSIDE the vector store;
3. the database is the source of truth: hits are kept only if their chunk row exists in the
   tenant, belongs to the document's ACTIVE generation, and the document is ``ready``. The chunk
   texts come from ONE tenant-scoped query.

Invariants: every returned chunk belongs to ``tenant``; when ``document_ids`` is given every
returned chunk belongs to one of them; order is the fused order; scores are the fusion scores. Over-fetching (``overfetch``) makes room for hits the DB check drops (stale
generations, deleted documents) so ``top_k`` is usually still met.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import F

from documents.fusion import rrf
from documents.models import Chunk, Document
from documents.passages import RetrievedChunk
from documents.vectors import tenant_vector_key
from inference.embedding import embed_queries

if TYPE_CHECKING:
    from inference.embedding import Embedder
    from inference.vectorstore import VectorStore
    from tenants.models import Tenant

__all__ = ["RetrievalConfig", "RetrievalResult", "chunks_retrieve"]


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    top_k: int = 8
    rrf_k: int = 60
    candidates: int | None = None  # per-leg pool before fusion; store default max(3k, 30)
    fusion: str = "milvus"  # "milvus" (server-side RRF) | "local" (two searches + fusion.rrf)
    overfetch: int = 8  # extra hits asked for, to survive the DB post-filter


@dataclass(slots=True)
class RetrievalResult:
    chunks: list[RetrievedChunk]
    dropped_stale: int = 0  # hits whose chunk/document/generation the DB no longer backs
    timings_ms: dict[str, float] = field(default_factory=dict)
    # No re-ranker ships, so always False; kept only because the Q&A usage log still reports it.
    reranked: bool = False


def _fused_hits(
    *,
    store: VectorStore,
    tenant_key: str,
    vector: Sequence[float],
    query: str,
    k: int,
    document_ids: Sequence[int] | None,
    config: RetrievalConfig,
) -> list[tuple[int, float]]:
    if config.fusion == "local":
        pool = config.candidates or max(3 * k, 30)
        dense = store.search(tenant=tenant_key, vector=vector, top_k=pool, document_ids=document_ids)
        sparse = store.search_text(tenant=tenant_key, query=query, top_k=pool, document_ids=document_ids)
        fused = rrf([[h.chunk_id for h in dense], [h.chunk_id for h in sparse]], k=config.rrf_k)
        return [(int(cid), score) for cid, score in fused[:k]]  # type: ignore[call-overload]
    hits = store.hybrid_search(
        tenant=tenant_key,
        vector=vector,
        query=query,
        top_k=k,
        document_ids=document_ids,
        rrf_k=config.rrf_k,
        candidates=config.candidates,
    )
    return [(h.chunk_id, h.score) for h in hits]


def chunks_retrieve(
    *,
    tenant: Tenant,
    query: str,
    store: VectorStore,
    embedder: Embedder,
    document_ids: Sequence[int] | None = None,
    config: RetrievalConfig | None = None,
) -> RetrievalResult:
    """The tenant's best chunks for ``query`` (see module docstring for the guarantees).

    ``document_ids=None`` searches all of the tenant's documents; ``[]`` searches none. Raises
    the vector store's and embedder's errors (``VectorStoreUnavailable``, ``InferenceUnavailable``)
    unchanged: the caller maps them to 503.
    """
    cfg = config or RetrievalConfig()
    if tenant is None or tenant.pk is None:
        raise ValueError("tenant is required")
    timings: dict[str, float] = {}
    if not query.strip() or (document_ids is not None and not list(document_ids)):
        return RetrievalResult(chunks=[], timings_ms=timings)

    t0 = time.perf_counter()
    vector = embed_queries(embedder, [query])[0]
    t1 = time.perf_counter()
    timings["embed"] = (t1 - t0) * 1000
    fused = _fused_hits(
        store=store,
        tenant_key=tenant_vector_key(tenant.pk),
        vector=[float(x) for x in vector],
        query=query,
        k=min(cfg.top_k + cfg.overfetch, 1024),
        document_ids=document_ids,
        config=cfg,
    )
    t2 = time.perf_counter()
    timings["search"] = (t2 - t1) * 1000

    ids = [cid for cid, _ in fused]
    rows = {
        c.pk: c
        for c in Chunk.objects.for_tenant(tenant)
        .filter(
            pk__in=ids,
            document__status=Document.Status.READY,
            generation=F("document__generation"),
        )
        .select_related("document")
        .only(
            "id",
            "text",
            "index_text",
            "location",
            "kind",
            "heading_path",
            "page",
            "generation",
            "document__id",
            "document__title",
            "document__generation",
        )
    }
    if document_ids is not None:
        allowed = {int(d) for d in document_ids}
        rows = {pk: c for pk, c in rows.items() if c.document_id in allowed}
    chunks: list[RetrievedChunk] = []
    for cid, score in fused:
        row = rows.get(cid)
        if row is None:
            continue
        chunks.append(
            RetrievedChunk(
                chunk_id=row.pk,
                document_id=row.document_id,
                document_title=row.document.title,
                page=row.page,
                text=row.text,
                score=float(score),
                location=row.location,
                kind=row.kind or "paragraph",
                heading_path=tuple(str(h) for h in (row.heading_path or [])),
                index_text=row.index_text,
            )
        )
    dropped = len(fused) - len(chunks)
    chunks = chunks[: cfg.top_k]
    timings["db"] = (time.perf_counter() - t2) * 1000
    return RetrievalResult(chunks=chunks, dropped_stale=dropped, timings_ms=timings)
