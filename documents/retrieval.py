"""Hybrid retrieval over one tenant's documents: dense + BM25 fused by RRF, checked against the DB.

Pipeline (``chunks_retrieve``):
1. embed the query (the same model that embedded the chunks);
2. ``VectorStore.hybrid_search`` (dense cosine + Milvus BM25, fused by Milvus' RRF ranker), or
   ``search`` + ``search_text`` fused here with :func:`documents.fusion.rrf` (``fusion="local"``);
   the tenant and ``document_ids`` filters are built INSIDE the vector store;
3. the database is the source of truth: hits are kept only if their chunk row exists in the
   tenant, belongs to the document's ACTIVE generation, and the document is ``ready``. The chunk
   texts come from ONE tenant-scoped query.

4. when ``RetrievalConfig.rerank`` and a fitted model ships (documents/rerank.py), the best
   ``rerank_pool`` candidates are reordered by the feature reranker; the two legs are then
   searched and fused here (local RRF) so that each candidate keeps its dense and BM25 scores.

Invariants: every returned chunk belongs to ``tenant``; when ``document_ids`` is given every
returned chunk belongs to one of them; order is the fused order (or the reranker's); scores are the fusion scores (or the reranker's
probabilities). Over-fetching (``overfetch``) makes room for hits the DB check drops (stale
generations, deleted documents) so ``top_k`` is usually still met.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F

from documents.fusion import rrf
from documents.lexical import bm25_query
from documents.models import Chunk, Document
from documents.passages import RetrievedChunk
from documents.rerank import Candidate, load_model, rerank
from documents.vectors import tenant_vector_key
from inference.embedding import embed_queries

if TYPE_CHECKING:
    from inference.embedding import Embedder
    from inference.vectorstore import VectorStore
    from tenants.models import Tenant

__all__ = ["RetrievalConfig", "RetrievalResult", "chunks_candidates", "chunks_retrieve"]


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    top_k: int = 8
    rrf_k: int = 60
    candidates: int | None = None  # per-leg pool before fusion; store default max(3k, 30)
    fusion: str = "milvus"  # "milvus" (server-side RRF) | "local" (two searches + fusion.rrf)
    overfetch: int = 8  # extra hits asked for, to survive the DB post-filter
    # Second stage (documents/rerank.py): rerank the best ``rerank_pool`` fused candidates with
    # the fitted feature model; needs both legs' scores, so it runs the two searches here
    # (``fusion`` is then "local"). Skipped when no weights file ships.
    rerank: bool | None = None  # None: settings.RETRIEVAL_RERANK
    rerank_pool: int = 30


@dataclass(slots=True)
class RetrievalResult:
    chunks: list[RetrievedChunk]
    dropped_stale: int = 0  # hits whose chunk/document/generation the DB no longer backs
    timings_ms: dict[str, float] = field(default_factory=dict)
    # True when the second stage (documents/rerank.py) ordered the chunks.
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


@dataclass(frozen=True, slots=True)
class _Fused:
    chunk_id: int
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_score: float | None = None
    sparse_rank: int | None = None


def _local_candidates(
    *,
    store: VectorStore,
    tenant_key: str,
    vector: Sequence[float],
    query: str,
    k: int,
    document_ids: Sequence[int] | None,
    config: RetrievalConfig,
) -> list[_Fused]:
    """Both legs and their local RRF fusion, keeping each leg's score and rank per chunk."""
    pool = max(config.candidates or max(3 * k, 30), k)
    dense = store.search(tenant=tenant_key, vector=vector, top_k=pool, document_ids=document_ids)
    sparse = store.search_text(tenant=tenant_key, query=query, top_k=pool, document_ids=document_ids)
    d = {h.chunk_id: (h.score, i) for i, h in enumerate(dense)}
    sp = {h.chunk_id: (h.score, i) for i, h in enumerate(sparse)}
    fused = rrf([[h.chunk_id for h in dense], [h.chunk_id for h in sparse]], k=config.rrf_k)
    out: list[_Fused] = []
    for cid, score in fused[:k]:
        c = int(cid)  # type: ignore[call-overload]
        ds, dr = d.get(c, (None, None))
        ss, sr = sp.get(c, (None, None))
        out.append(_Fused(c, float(score), ds, dr, ss, sr))
    return out


def chunks_candidates(
    *,
    tenant: Tenant,
    query: str,
    store: VectorStore,
    embedder: Embedder,
    document_ids: Sequence[int] | None = None,
    config: RetrievalConfig | None = None,
    with_legs: bool = False,
) -> tuple[list[Candidate], RetrievalResult]:
    """First stage: fused candidates that the database backs, best first, with each leg's
    score and rank when ``with_legs`` (then the legs are searched and fused here). The
    ``RetrievalResult`` carries the timings and the stale count; its chunks are the candidates'.
    At most ``max(top_k, rerank_pool) + overfetch`` (``with_legs``) or ``top_k + overfetch``."""
    cfg = config or RetrievalConfig()
    if tenant is None or tenant.pk is None:
        raise ValueError("tenant is required")
    timings: dict[str, float] = {}
    if not query.strip() or (document_ids is not None and not list(document_ids)):
        return [], RetrievalResult(chunks=[], timings_ms=timings)

    t0 = time.perf_counter()
    vector = [float(x) for x in embed_queries(embedder, [query])[0]]
    t1 = time.perf_counter()
    timings["embed"] = (t1 - t0) * 1000
    tenant_key = tenant_vector_key(tenant.pk)
    lexical = bm25_query(query)  # function words would match every passage (documents/lexical.py)
    if with_legs:
        k = min(max(cfg.rerank_pool, cfg.top_k) + cfg.overfetch, 1024)
        fused = _local_candidates(
            store=store, tenant_key=tenant_key, vector=vector, query=lexical, k=k, document_ids=document_ids, config=cfg
        )
    else:
        k = min(cfg.top_k + cfg.overfetch, 1024)
        hits = _fused_hits(
            store=store, tenant_key=tenant_key, vector=vector, query=lexical, k=k, document_ids=document_ids, config=cfg
        )
        fused = [_Fused(cid, score) for cid, score in hits]
    t2 = time.perf_counter()
    timings["search"] = (t2 - t1) * 1000

    ids = [f.chunk_id for f in fused]
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
    cands: list[Candidate] = []
    for f in fused:
        row = rows.get(f.chunk_id)
        if row is None:
            continue
        chunk = RetrievedChunk(
            chunk_id=row.pk,
            document_id=row.document_id,
            document_title=row.document.title,
            page=row.page,
            text=row.text,
            score=f.score,
            location=row.location,
            kind=row.kind or "paragraph",
            heading_path=tuple(str(h) for h in (row.heading_path or [])),
            index_text=row.index_text,
        )
        cands.append(Candidate(chunk, len(cands), f.dense_score, f.dense_rank, f.sparse_score, f.sparse_rank))
    timings["db"] = (time.perf_counter() - t2) * 1000
    result = RetrievalResult(chunks=[c.chunk for c in cands], dropped_stale=len(fused) - len(cands), timings_ms=timings)
    return cands, result


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
    use_rerank = cfg.rerank if cfg.rerank is not None else bool(getattr(settings, "RETRIEVAL_RERANK", True))
    model = load_model() if use_rerank else None
    cands, result = chunks_candidates(
        tenant=tenant,
        query=query,
        store=store,
        embedder=embedder,
        document_ids=document_ids,
        config=cfg,
        with_legs=model is not None,
    )
    if model is not None and cands:
        t0 = time.perf_counter()
        result.chunks = rerank(query, cands[: cfg.rerank_pool], model)
        result.reranked = True
        result.timings_ms["rerank"] = (time.perf_counter() - t0) * 1000
    result.chunks = result.chunks[: cfg.top_k]
    return result
