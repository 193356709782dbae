"""The ingestion pipeline: file -> text -> chunks -> embeddings -> Milvus -> ``ready``.

``document_ingest`` is what the Celery task ``documents.ingest`` runs and what
``bench/ingest.py`` measures; there is no second copy of the pipeline.

Invariants
----------
- **Tenant**: the document is loaded with ``Document.objects.for_tenant(tenant)``; vectors are
  written and deleted with ``tenant=str(tenant.pk)``.
- **Claim, lease, heartbeat**: a run claims a ``queued`` document with one conditional UPDATE
  (``status=queued -> extracting``) that also starts a *fresh* building generation
  (``max(generation, building_generation) + 1``) and stores the run's ``lease_id`` (the Celery
  task id, which a retry or a broker redelivery keeps). Every later write is conditional on that
  lease; a write that matches nothing raises ``LeaseLost`` and the run stops. A run finding the
  document mid-way resumes it if the lease is its own or the heartbeat (written every batch) is
  older than ``lease_s``; otherwise it raises ``LeaseHeld`` (the task retries later).
- **Exactly one set**: the chunk rows of a generation are created in one transaction together
  with the move to ``embedding``, so they exist completely or not at all; a resumed run reuses
  them (same primary keys), and vectors are keyed by the chunk's primary key, so re-upserting
  is idempotent. Before a fresh build, vectors of every generation other than the active one are
  deleted (orphans of a failed attempt cannot survive), and before the swap the vector count is
  checked.
- **Atomic swap**: the active ``generation`` flips to the new one in the same UPDATE that sets
  ``ready``; only afterwards are the old generation's vectors and then its rows deleted. Until the
  flip, searches (which keep only ``Document.generation``) see the old set.
- **Always terminal**: permanent problems end ``failed`` with a sentence (``error``) and a code
  (``error_code``); transient backend errors (``VectorStoreUnavailable``,
  ``InferenceUnavailable``, ``IndexIncomplete``) propagate so the task retries with backoff, and
  the task marks the document failed when retries run out. The sweep (``sweep.py``) covers
  everything else (a worker that never comes back) through ``stage_deadline``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from documents.chunking import chunk_document
from documents.extraction import EmptyFile, ExtractionError, extract
from documents.models import Chunk, Document
from documents.vectors import tenant_vector_key
from inference.embedding import Embedder, InferenceError, InferenceUnavailable
from inference.vectorstore import ChunkVector, VectorStore, VectorStoreError, VectorStoreUnavailable
from models_registry.backends import get_embedder, get_vector_store
from portal import metrics
from tenants.models import Tenant
from usage import meter

logger = logging.getLogger(__name__)

Status = Document.Status


class LeaseHeld(Exception):
    """Another live run holds this document; try again in ``retry_in_s`` seconds."""

    def __init__(self, retry_in_s: float) -> None:
        super().__init__(f"document is held by another run; retry in {retry_in_s:.0f} s")
        self.retry_in_s = retry_in_s


class LeaseLost(Exception):
    """This run no longer holds the document (taken over, re-queued, failed or deleted)."""


class IndexIncomplete(Exception):
    """Milvus holds a different number of vectors than chunks were written; transient."""


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (VectorStoreUnavailable, InferenceUnavailable, IndexIncomplete)


@dataclass(frozen=True)
class IngestConfig:
    """Pipeline knobs (``from_settings`` reads them from Django settings)."""

    max_pages: int = 2000
    chunk_tokens: int = 200
    overlap_tokens: int = 30
    embed_batch: int = 64
    lease_s: float = 300.0
    stage_deadline_s: Mapping[str, float] = field(default_factory=dict)
    deadline_per_chunk_s: float = 0.5

    @classmethod
    def from_settings(cls) -> IngestConfig:
        return cls(
            max_pages=int(settings.DOCUMENT_MAX_PAGES),
            chunk_tokens=int(settings.DOCUMENT_CHUNK_TOKENS),
            overlap_tokens=int(settings.DOCUMENT_CHUNK_OVERLAP_TOKENS),
            embed_batch=max(1, int(settings.DOCUMENT_EMBED_BATCH)),
            lease_s=float(settings.DOCUMENT_INGEST_LEASE_S),
            stage_deadline_s=dict(settings.DOCUMENT_STAGE_DEADLINE_S),
            deadline_per_chunk_s=float(settings.DOCUMENT_DEADLINE_PER_CHUNK_S),
        )

    def deadline(self, stage: str, *, chunks: int = 0) -> timedelta:
        """How long ``stage`` may take; embedding and indexing grow with the chunk count."""
        base = float(self.stage_deadline_s.get(stage, 900))
        if stage in (Status.EMBEDDING, Status.INDEXING):
            base += self.deadline_per_chunk_s * chunks
        return timedelta(seconds=base)


@dataclass
class IngestTimings:
    """Where the wall time of one run went (seconds); filled in by ``document_ingest``."""

    read_s: float = 0.0
    extract_s: float = 0.0
    chunk_s: float = 0.0
    db_s: float = 0.0
    embed_s: float = 0.0
    upsert_wait_s: float = 0.0
    index_s: float = 0.0
    total_s: float = 0.0
    pages: int = 0
    chunks: int = 0
    resumed_from: int = 0


# ------------------------------------------------------------------------------------------------
# Claim
# ------------------------------------------------------------------------------------------------
def _claim(*, tenant: Tenant, document_id: int, lease_id: str, config: IngestConfig) -> Document | None:
    """Return the document, claimed for ``lease_id`` unless it is terminal; None if missing."""
    qs = Document.objects.for_tenant(tenant)
    for _ in range(3):
        doc = qs.filter(pk=document_id).first()
        if doc is None or doc.is_terminal:
            return doc
        now = timezone.now()
        if doc.status == Status.QUEUED:
            claimed = qs.filter(pk=document_id, status=Status.QUEUED).update(
                status=Status.EXTRACTING,
                lease_id=lease_id,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
                building_generation=Greatest(F("generation"), F("building_generation")) + 1,
                stage_started_at=now,
                stage_deadline=now + config.deadline(Status.EXTRACTING),
                pages_total=None,
                pages_done=0,
                chunks_total=0,
                chunks_done=0,
                error="",
                error_code="",
                status_detail="",
            )
            if claimed:
                return qs.get(pk=document_id)
            continue  # someone else moved it; look again
        stale_before = now - timedelta(seconds=config.lease_s)
        if doc.lease_id != lease_id and doc.heartbeat_at is not None and doc.heartbeat_at > stale_before:
            raise LeaseHeld(max(1.0, (doc.heartbeat_at - stale_before).total_seconds()))
        taken = qs.filter(pk=document_id, status=doc.status, lease_id=doc.lease_id).update(
            lease_id=lease_id, heartbeat_at=now, status_detail=""
        )
        if taken:
            if doc.lease_id != lease_id:
                logger.warning("document %s: taking over from stale run %s", document_id, doc.lease_id)
            return qs.get(pk=document_id)
    raise LeaseHeld(config.lease_s)


# ------------------------------------------------------------------------------------------------
# One run
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Row:
    pk: int
    ordinal: int
    text: str  # what is embedded and BM25-indexed: the contextual ``index_text`` (else ``text``)
    page: int | None


class _Run:
    def __init__(
        self,
        doc: Document,
        *,
        tenant: Tenant,
        lease_id: str,
        store: VectorStore,
        embedder: Embedder | None,
        config: IngestConfig,
        timings: IngestTimings,
    ) -> None:
        self.doc = doc
        self.tenant = tenant
        self.lease_id = lease_id
        self.store = store
        self._embedder = embedder
        self.config = config
        self.timings = timings
        self.generation = doc.building_generation
        self.qs = Document.objects.for_tenant(tenant)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    # -- conditional writes ------------------------------------------------------------------
    def _write(self, **fields: Any) -> None:
        """Update the document iff this run still holds it; refresh the heartbeat."""
        fields.setdefault("heartbeat_at", timezone.now())
        started = time.perf_counter()
        n = (
            self.qs.filter(pk=self.doc.pk, lease_id=self.lease_id, building_generation=self.generation)
            .exclude(status__in=Document.TERMINAL)
            .update(**fields)
        )
        self.timings.db_s += time.perf_counter() - started
        if not n:
            raise LeaseLost(f"document {self.doc.pk}: lease {self.lease_id} lost")
        for key, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(self.doc, key, value)

    def _stage(self, status: str, **fields: Any) -> None:
        now = timezone.now()
        self._write(
            status=status,
            stage_started_at=now,
            stage_deadline=now + self.config.deadline(status, chunks=fields.get("chunks_total", self.doc.chunks_total)),
            **fields,
        )

    # -- pipeline ------------------------------------------------------------------------------
    def execute(self) -> None:
        doc = self.doc
        if doc.status in (Status.EMBEDDING, Status.INDEXING):
            rows = self._load_rows()
            if len(rows) != doc.chunks_total:  # cannot happen (rows are written atomically)
                raise IndexIncomplete(f"document {doc.pk}: {len(rows)} chunk rows, expected {doc.chunks_total}")
            start = doc.chunks_done if doc.status == Status.EMBEDDING else len(rows)
            self.timings.resumed_from = start
        else:
            self._forget_other_generations()
            rows = self._build_rows()
            start = 0
        self.timings.chunks = len(rows)
        self.timings.pages = doc.pages_total or 0
        if start < len(rows):
            self._embed_and_upsert(rows, start)
        self._finish(len(rows))

    def _forget_other_generations(self) -> None:
        """Delete vectors (and rows) of every generation but the active one: leftovers of an
        earlier failed or abandoned attempt must not survive into this build."""
        started = time.perf_counter()
        active = self.doc.generation
        tenant = tenant_vector_key(self.tenant.pk)
        if active:
            self.store.delete_document(tenant=tenant, document_id=self.doc.pk, keep_generation=active)
        else:
            self.store.delete_document(tenant=tenant, document_id=self.doc.pk)
        self.timings.index_s += time.perf_counter() - started
        Chunk.objects.for_tenant(self.tenant).filter(document_id=self.doc.pk).exclude(generation=active).delete()

    def _read_file(self) -> bytes:
        started = time.perf_counter()
        try:
            with self.doc.file.open("rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise _Permanent("the uploaded file is missing from storage; upload it again", "file_missing") from None
        self.timings.read_s += time.perf_counter() - started
        return data

    def _build_rows(self) -> list[_Row]:
        data = self._read_file()
        started = time.perf_counter()
        extracted = extract(data, self.doc.filename, max_pages=self.config.max_pages)
        self.timings.extract_s += time.perf_counter() - started
        self._stage(Status.CHUNKING, pages_total=extracted.page_count, pages_done=0)
        started = time.perf_counter()
        chunks = chunk_document(
            extracted,
            max_tokens=self.config.chunk_tokens,
            overlap_tokens=self.config.overlap_tokens,
            title=_index_title(self.doc.title, extracted.title),
        )
        self.timings.chunk_s += time.perf_counter() - started
        if not chunks:
            raise EmptyFile("the document contains no text to index")
        started = time.perf_counter()
        objs = [
            Chunk(
                tenant=self.tenant,
                document_id=self.doc.pk,
                generation=self.generation,
                ordinal=c.ordinal,
                text=c.text,
                page=c.pages[0] if c.pages else None,
                pages=list(c.pages),
                heading_path=list(c.heading_path),
                token_count=c.token_count,
                index_text=c.index_text if c.index_text != c.text else "",
                location=c.location[:300],
                kind=c.kind[:20],
            )
            for c in chunks
        ]
        try:
            with transaction.atomic():
                Chunk.objects.bulk_create(objs, batch_size=500)
                # Same transaction: rows exist iff the document says "embedding" (resume rule).
                self._stage(Status.EMBEDDING, chunks_total=len(objs), chunks_done=0)
        except IntegrityError:
            # A concurrent run of the same lease wrote them first; use its rows.
            logger.warning("document %s: chunk rows of generation %s already exist", self.doc.pk, self.generation)
            raise LeaseLost("concurrent run created the chunk rows") from None
        self.timings.db_s += time.perf_counter() - started
        return [_Row(o.pk, o.ordinal, o.indexed_text, o.page) for o in objs]

    def _load_rows(self) -> list[_Row]:
        started = time.perf_counter()
        rows = [
            _Row(pk, ordinal, index_text or text, page)
            for pk, ordinal, text, index_text, page in Chunk.objects.for_tenant(self.tenant)
            .filter(document_id=self.doc.pk, generation=self.generation)
            .order_by("ordinal")
            .values_list("pk", "ordinal", "text", "index_text", "page")
        ]
        self.timings.db_s += time.perf_counter() - started
        return rows

    def _pages_done(self, rows: Sequence[_Row], done: int) -> int:
        total = self.doc.pages_total or 0
        if not total:
            return 0
        if done >= len(rows):
            return total
        nxt = rows[done].page
        return max(0, (nxt or 1) - 1)

    def _embed_and_upsert(self, rows: list[_Row], start: int) -> None:
        """Embed batch k+1 while batch k is upserted (one helper thread; DB writes stay on
        this thread so they share its connection and transaction)."""
        tenant = tenant_vector_key(self.tenant.pk)
        batch = self.config.embed_batch
        pending: tuple[Future[int], int] | None = None

        def settle() -> None:
            nonlocal pending
            if pending is None:
                return
            fut, done = pending
            pending = None
            waited = time.perf_counter()
            fut.result()
            self.timings.upsert_wait_s += time.perf_counter() - waited
            self._write(chunks_done=done, pages_done=self._pages_done(rows, done))

        def upsert(vectors: list[ChunkVector]) -> int:
            return self.store.upsert(tenant=tenant, rows=vectors)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="milvus-upsert") as pool:
            try:
                for i in range(start, len(rows), batch):
                    part = rows[i : i + batch]
                    started = time.perf_counter()
                    emb = self.embedder.embed([r.text for r in part])
                    spent = time.perf_counter() - started
                    self.timings.embed_s += spent
                    meter.record(
                        self.tenant.pk,
                        "embedding",
                        model=self.embedder.model_id[:200],
                        chunks=len(part),
                        inference_ms=spent * 1000,
                    )
                    if emb.shape[0] != len(part):
                        raise InferenceError(f"embedder returned {emb.shape[0]} vectors for {len(part)} texts")
                    vectors = [
                        ChunkVector(
                            chunk_id=r.pk,
                            document_id=self.doc.pk,
                            generation=self.generation,
                            text=r.text,
                            embedding=emb[j].tolist(),
                            page=r.page or 0,
                        )
                        for j, r in enumerate(part)
                    ]
                    settle()
                    pending = (pool.submit(upsert, vectors), i + len(part))
                settle()
            finally:
                if pending is not None:  # an error while embedding: let the upsert finish quietly
                    pending[0].exception()

    def _finish(self, n_chunks: int) -> None:
        tenant = tenant_vector_key(self.tenant.pk)
        self._stage(Status.INDEXING, chunks_done=n_chunks)
        started = time.perf_counter()
        active = self.doc.generation
        active_rows = (
            Chunk.objects.for_tenant(self.tenant).filter(document_id=self.doc.pk, generation=active).count()
            if active and active != self.generation
            else 0
        )
        stored = self.store.count(tenant=tenant, document_id=self.doc.pk)
        if stored != n_chunks + active_rows:
            # Some upsert did not land (or a stale run wrote extra): re-embed from the start on
            # retry; upserts are idempotent, and the extra vectors go with the cleanup below.
            self._write(status=Status.EMBEDDING, chunks_done=0, status_detail="re-indexing: vector count mismatch")
            raise IndexIncomplete(
                f"document {self.doc.pk}: Milvus holds {stored} vectors, expected {n_chunks + active_rows}"
            )
        now = timezone.now()
        with transaction.atomic():
            # The swap: one UPDATE makes the new generation the searchable one and the document ready.
            self._write(
                status=Status.READY,
                generation=self.generation,
                chunks_done=n_chunks,
                pages_done=self.doc.pages_total or 0,
                ingested_at=now,
                stage_started_at=now,
                stage_deadline=None,
                lease_id="",
                status_detail="",
                embedding_model=self.embedder.model_id[:200],
            )
        self.timings.index_s += time.perf_counter() - started
        _cleanup_superseded(self.doc, self.store, timings=self.timings)

    # -- endings ----------------------------------------------------------------------------------
    def fail(self, message: str, code: str) -> None:
        """End ``failed`` with ``message``; drop this run's building generation (best effort)."""
        try:
            self._write(
                status=Status.FAILED,
                error=message[:2000],
                error_code=code[:40],
                lease_id="",
                stage_deadline=None,
                status_detail="",
            )
        except LeaseLost:
            return
        _drop_generation(self.doc, self.tenant, self.store, self.generation)

    def abandon(self) -> None:
        """After ``LeaseLost``: remove what this run built if its generation was superseded."""
        current = self.qs.filter(pk=self.doc.pk).first()
        if current is None:
            _purge_vectors(self.tenant, self.doc.pk, self.store)
        elif current.building_generation != self.generation and current.generation != self.generation:
            _drop_generation(current, self.tenant, self.store, self.generation)

    def note_retry(self, exc: Exception) -> None:
        reason = _backend_reason(exc)
        with contextlib.suppress(LeaseLost):
            self._write(status_detail=f"waiting to retry: {reason}"[:300])


def _index_title(title: str, extracted_title: str | None) -> str:
    """The title that opens every chunk's ``index_text``: the document's own title, plus the
    file's embedded title when that says something else (an upload named "i1040nr.pdf" whose
    metadata says "Instructions for Form 1040-NR")."""
    title = " ".join((title or "").split())
    extra = " ".join((extracted_title or "").split())
    if extra and extra.casefold() not in title.casefold():
        return f"{title} ({extra})" if title else extra
    return title


class _Permanent(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _backend_reason(exc: Exception) -> str:
    if isinstance(exc, VectorStoreUnavailable):
        return "the vector store (Milvus) is unavailable"
    if isinstance(exc, InferenceUnavailable):
        return "the embedding service is unavailable"
    if isinstance(exc, IndexIncomplete):
        return "the vector index was incomplete"
    return type(exc).__name__


def _purge_vectors(tenant: Tenant, document_id: int, store: VectorStore) -> None:
    try:
        store.delete_document(tenant=tenant_vector_key(tenant.pk), document_id=document_id)
    except VectorStoreError:
        logger.warning("document %s: could not purge vectors now; the purge task retries", document_id)


def _drop_generation(doc: Document, tenant: Tenant, store: VectorStore, generation: int) -> None:
    """Delete one non-active generation's vectors, then its rows (best effort for vectors: the
    next build deletes every non-active generation anyway)."""
    if generation == doc.generation or generation == 0:
        return
    try:
        store.delete_document(tenant=tenant_vector_key(tenant.pk), document_id=doc.pk, generation=generation)
    except VectorStoreError:
        logger.warning("document %s: could not delete vectors of generation %s now", doc.pk, generation)
    Chunk.objects.for_tenant(tenant).filter(document_id=doc.pk, generation=generation).delete()


def _cleanup_superseded(doc: Document, store: VectorStore, *, timings: IngestTimings | None = None) -> None:
    """Delete vectors, then rows, of every generation except the active one. Idempotent.

    Vectors go first: a search may then briefly miss nothing (old rows are never searched), while
    the reverse order could return vectors whose rows are gone.
    """
    started = time.perf_counter()
    tenant = doc.tenant
    if doc.generation:
        store.delete_document(tenant=tenant_vector_key(tenant.pk), document_id=doc.pk, keep_generation=doc.generation)
    else:
        store.delete_document(tenant=tenant_vector_key(tenant.pk), document_id=doc.pk)
    Chunk.objects.for_tenant(tenant).filter(document_id=doc.pk).exclude(generation=doc.generation).delete()
    if timings is not None:
        timings.index_s += time.perf_counter() - started


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------
def document_ingest(
    *,
    tenant: Tenant,
    document_id: int,
    lease_id: str,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    config: IngestConfig | None = None,
    timings: IngestTimings | None = None,
) -> Document | None:
    """Run (or resume) the ingestion of one document; idempotent.

    Moves ``queued -> extracting -> chunking -> embedding -> indexing -> ready``, or to ``failed``
    with a reason. A terminal document only gets its superseded generations cleaned up. Returns
    the document as it is afterwards (None if it does not exist in ``tenant``).

    Raises: ``LeaseHeld`` (another live run has it), ``VectorStoreUnavailable``,
    ``InferenceUnavailable``, ``IndexIncomplete`` (transient: retry later; the document keeps its
    stage and says so in ``status_detail``).
    """
    config = config or IngestConfig.from_settings()
    store = store or get_vector_store()
    timings = timings if timings is not None else IngestTimings()
    started = time.perf_counter()
    result: str | None = None  # for /metrics: "ready", "failed" or "unfinished" once a run did work
    try:
        doc = _claim(tenant=tenant, document_id=document_id, lease_id=lease_id, config=config)
        if doc is None:
            return None
        doc.tenant = tenant
        if doc.is_terminal:
            _cleanup_superseded(doc, store)
            return doc
        run = _Run(
            doc, tenant=tenant, lease_id=lease_id, store=store, embedder=embedder, config=config, timings=timings
        )
        result = "unfinished"
        try:
            run.execute()
        except LeaseLost:
            logger.info("document %s: run %s stopped (lease lost)", document_id, lease_id)
            run.abandon()
        except TRANSIENT_ERRORS as exc:
            run.note_retry(exc)
            raise
        except ExtractionError as exc:
            logger.info("document %s failed: %s (%s)", document_id, exc.code, exc.detail)
            run.fail(exc.user_message, exc.code)
        except _Permanent as exc:
            run.fail(exc.message, exc.code)
        except InferenceError as exc:
            run.fail(f"the embedding model could not process this document: {exc}", "inference_error")
        except VectorStoreError as exc:
            run.fail(f"the vector store refused the document's vectors: {exc}", "vector_store_error")
        after = Document.objects.for_tenant(tenant).filter(pk=document_id).first()
        result = after.status if after is not None and after.status in (Status.READY, Status.FAILED) else result
        return after
    finally:
        timings.total_s += time.perf_counter() - started
        if result is not None:
            _observe(timings, result=str(result))


def _observe(timings: IngestTimings, *, result: str) -> None:
    """Stage durations of one run to /metrics (portal.metrics); embedding includes upsert waits."""
    metrics.observe_ingest_stages(
        {
            "read": timings.read_s,
            "extract": timings.extract_s,
            "chunk": timings.chunk_s,
            "embed": timings.embed_s + timings.upsert_wait_s,
            "index": timings.index_s,
            "db": timings.db_s,
            "total": timings.total_s,
        },
        result=result,
    )


def document_mark_failed(*, tenant: Tenant, document_id: int, lease_id: str, message: str, code: str) -> bool:
    """Fail a non-terminal document whose run died (retries exhausted, unexpected error, time
    limit). Only the run's own lease (or a never-claimed ``queued`` document) is failed, so a
    run that lost the document cannot fail someone else's work. Returns True if it changed."""
    n = (
        Document.objects.for_tenant(tenant)
        .filter(pk=document_id)
        .exclude(status__in=Document.TERMINAL)
        .filter(Q(lease_id=lease_id) | Q(status=Status.QUEUED))
        .update(
            status=Status.FAILED,
            error=message[:2000],
            error_code=code[:40],
            lease_id="",
            stage_deadline=None,
            status_detail="",
            heartbeat_at=timezone.now(),
        )
    )
    return bool(n)


def document_purge(*, tenant: Tenant, document_id: int, file_name: str, store: VectorStore | None = None) -> None:
    """Delete the vectors and the stored file of a deleted document. Idempotent.

    Raises ``VectorStoreUnavailable`` (transient) so the purge task retries.
    """
    (store or get_vector_store()).delete_document(tenant=tenant_vector_key(tenant.pk), document_id=document_id)
    if file_name:
        default_storage.delete(file_name)
