"""Tenant-scoped vector store: the ONLY module in the portal that talks to Milvus.

One collection (``<collection>_v<schema_version>``) holds every tenant's chunk vectors. A row is
one database chunk: ``chunk_id`` is the chunk's database primary key, so writing the same chunk
again is an idempotent upsert.

Invariants (what callers may rely on):

- **Fail-closed tenancy.** Every data method takes ``tenant`` as a required keyword; ``None``,
  ``""`` or whitespace raise :class:`TenantRequired` before any I/O. The tenant filter is built
  here, with the value escaped as a Milvus string literal (control characters are refused, since
  the 2.5 expression parser cannot match them reliably), and it is always the first conjunct.
  ``document_ids`` are coerced to ``int``; no caller text is ever spliced into an expression.
  An upsert refuses chunk ids that already belong to another tenant, so one tenant can never
  overwrite another's rows even if handed a foreign id.
- ``document_ids=[]`` means "no documents" and returns ``[]`` without a query; ``None`` means
  "all of this tenant's documents".
- Reads use Strong consistency, so a search right after ``upsert`` returns the new rows.
- Result order is deterministic: score descending, then ``chunk_id`` ascending. We over-fetch a
  little so that ties at the cut-off are broken by ``chunk_id`` and not by the engine.
- The collection is created on first use (idempotently; racing processes are fine). An existing
  collection whose schema does not match (e.g. another ``dim``) raises :class:`VectorStoreError`:
  bump ``schema_version`` instead of mutating a collection in place.
- Generations: ``generation`` is stored and returned but not filtered on; during a re-ingest two
  generations of a document coexist and the caller keeps only the active one, then calls
  :meth:`VectorStore.delete_document` with ``keep_generation``.
- Errors: connection-level problems (server down, refused, deadline exceeded) raise
  :class:`VectorStoreUnavailable` (retryable); everything else from Milvus raises
  :class:`VectorStoreError`; bad arguments raise :class:`InvalidRequest` (also a ``ValueError``).

Milvus Lite 2.5.1 limits shape this module (shared/notes/milvus-and-parsing.md 1.4): no working
partition-key filter, so ``tenant`` is a plain filtered VARCHAR there; no expression templates
(``filter_params`` makes the server loop on UNKNOWN errors), hence the literal escaping; FLAT
index only for the dense field. Lite also does not enforce VARCHAR ``max_length``; a real Milvus
does, so text is truncated here (BM25 input only; the database keeps the full chunk text).
"""

from __future__ import annotations

import logging
import math
import operator
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import grpc
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionType,
    MilvusClient,
    MilvusException,
    RRFRanker,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DENSE = "dense"
SPARSE = "sparse"

TENANT_MAX_LEN = 128
TEXT_MAX_BYTES = 8192  # VARCHAR max_length; counted in bytes by a real Milvus server
MAX_TOP_K = 1024
UPSERT_BATCH = 256  # ~10 KB per row: far below gRPC's 64 MB message limit, keeps RPCs short
_COLLECTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_OUTPUT_FIELDS = ["document_id", "generation", "page"]
_CONSISTENCY = "Strong"
# Status.CONNECT_FAILED in pymilvus: "Fail connecting to server on ...".
_CONNECT_FAILED = 2
_TRANSIENT_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class VectorStoreError(Exception):
    """A vector-store operation failed for a non-transient reason."""


# pymilvus pings every 10 s even on idle channels; gRPC servers allow one ping per 5 min without
# calls and answer more with GOAWAY "too_many_pings", which fails the next call on that channel.
# Ping only while calls are in flight, and less often.
_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": 0}


class VectorStoreUnavailable(VectorStoreError):
    """Milvus could not be reached or timed out; the operation may be retried later."""


class InvalidRequest(VectorStoreError, ValueError):
    """The caller passed invalid arguments (bad vector, top_k, ids, ...)."""


class TenantRequired(InvalidRequest):
    """No usable tenant was given; nothing was read or written."""


@dataclass(frozen=True, slots=True)
class ChunkVector:
    """One chunk to store. ``chunk_id`` is the database chunk's primary key (globally unique)."""

    chunk_id: int
    document_id: int
    generation: int
    text: str
    embedding: Sequence[float]
    page: int = 0  # 0 = no page (DOCX/TXT)


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result. ``score``: cosine similarity, BM25 score, or RRF score (hybrid).

    ``legs`` says which retrieval legs returned the chunk (``"dense"``, ``"sparse"``); it is empty
    for :meth:`VectorStore.hybrid_search` unless called with ``explain=True``.
    """

    chunk_id: int
    document_id: int
    generation: int
    page: int
    score: float
    legs: frozenset[str] = field(default_factory=frozenset)


# -- argument validation (pure functions, no I/O) ------------------------------------------------


def _require_tenant(tenant: object) -> str:
    if tenant is None or not isinstance(tenant, str) or not tenant.strip():
        raise TenantRequired("a non-empty tenant is required for every vector-store operation")
    if len(tenant) > TENANT_MAX_LEN:
        raise TenantRequired(f"tenant longer than {TENANT_MAX_LEN} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in tenant):
        raise TenantRequired("tenant contains control characters")
    return tenant


def _quote(value: str) -> str:
    """Milvus expression string literal. Backslash first, so added escapes are not re-escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _as_int(value: object, what: str) -> int:
    # bool is an int subclass, but True as a document id is always a bug. operator.index accepts
    # numpy integers and refuses floats, so 1.5 is never silently truncated.
    if isinstance(value, bool):
        raise InvalidRequest(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidRequest(f"{what} must be an integer, got {value!r}") from None


def _ids(values: Iterable[object], what: str) -> list[int]:
    if isinstance(values, (str, bytes)):
        raise InvalidRequest(f"{what} must be a sequence of integers")
    return sorted({_as_int(v, what) for v in values})


def _top_k(top_k: object) -> int:
    k = _as_int(top_k, "top_k")
    if not 1 <= k <= MAX_TOP_K:
        raise InvalidRequest(f"top_k must be between 1 and {MAX_TOP_K}")
    return k


def _fetch_limit(k: int) -> int:
    """Over-fetch so engine-side tie breaks at the cut-off do not leak into our order."""
    return min(k + max(k // 2, 8), 16384)


def _truncate_utf8(text: str, max_bytes: int = TEXT_MAX_BYTES) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes without splitting a character.

    NUL is dropped (C strings in the engine); lone surrogates become U+FFFD.
    """
    raw = text.replace("\x00", "").encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return raw.decode("utf-8")
    return raw[:max_bytes].decode("utf-8", "ignore")


def _rank(hits: Iterable[Hit], k: int) -> list[Hit]:
    return sorted(hits, key=lambda h: (-h.score, h.chunk_id))[:k]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        return code in _TRANSIENT_GRPC
    if isinstance(exc, MilvusException):
        code = exc.code
        if code == _CONNECT_FAILED or code in _TRANSIENT_GRPC:
            return True
        return "Fail connecting to server" in (exc.message or "")
    return isinstance(exc, (ConnectionError, TimeoutError))


class VectorStore:
    """Tenant-scoped access to one Milvus collection of chunk vectors (see module docstring).

    Safe to share between threads; after ``fork`` (Celery prefork) the child opens its own
    connection lazily, so the object may be created before forking.
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str = "",
        dim: int = 384,
        collection: str = "portal_chunks",
        schema_version: int = 1,
        use_partition_key: bool | None = None,
        timeout_s: float = 10,
    ) -> None:
        if not uri:
            raise InvalidRequest("uri is required")
        if _as_int(dim, "dim") <= 0:
            raise InvalidRequest("dim must be positive")
        if _as_int(schema_version, "schema_version") < 1:
            raise InvalidRequest("schema_version must be >= 1")
        self.collection_name = f"{collection}_v{schema_version}"
        if not _COLLECTION_RE.fullmatch(self.collection_name):
            raise InvalidRequest(f"invalid collection name {self.collection_name!r}")
        if timeout_s <= 0:
            raise InvalidRequest("timeout_s must be positive")
        self.uri = uri
        self.dim = dim
        self.timeout_s = float(timeout_s)
        self._token = token
        self._use_partition_key = use_partition_key
        self._lock = threading.Lock()
        self._client_obj: MilvusClient | None = None
        self._client_pid: int | None = None
        self._ready_pid: int | None = None

    def __repr__(self) -> str:
        return f"VectorStore(uri={self.uri!r}, collection={self.collection_name!r}, dim={self.dim})"

    # -- public API -------------------------------------------------------------------------------

    def upsert(self, *, tenant: str, rows: Sequence[ChunkVector]) -> int:
        """Insert or replace ``rows`` for ``tenant``; returns the number of rows written.

        Idempotent: writing the same rows again leaves ``count`` unchanged. Raises
        ``VectorStoreError`` if any chunk id is already stored under a different tenant.
        """
        t = _require_tenant(tenant)
        payload = [self._row(t, r) for r in rows]
        ids = [p["chunk_id"] for p in payload]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("duplicate chunk_id in one upsert call")
        written = 0
        for start in range(0, len(payload), UPSERT_BATCH):
            batch = payload[start : start + UPSERT_BATCH]
            batch_ids = [p["chunk_id"] for p in batch]
            foreign = self._call(
                lambda c, b=batch_ids: c.query(  # type: ignore[misc]
                    self.collection_name,
                    filter=f"tenant != {_quote(t)} and chunk_id in {b}",
                    output_fields=["chunk_id"],
                    limit=1,
                    consistency_level=_CONSISTENCY,
                    timeout=self.timeout_s,
                )
            )
            if foreign:
                raise VectorStoreError(f"chunk id {foreign[0]['chunk_id']} belongs to another tenant")
            self._call(lambda c, b=batch: c.upsert(self.collection_name, b, timeout=self.timeout_s))  # type: ignore[misc]
            written += len(batch)
        return written

    def search(
        self,
        *,
        tenant: str,
        vector: Sequence[float],
        top_k: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[Hit]:
        """Dense (cosine) top-k within the tenant, optionally within ``document_ids``."""
        t = _require_tenant(tenant)
        vec = self._vector(vector)
        k = _top_k(top_k)
        expr = self._filter(t, document_ids)
        if expr is None:
            return []
        return self._search_leg(DENSE, vec, expr, k)

    def search_text(
        self,
        *,
        tenant: str,
        query: str,
        top_k: int,
        document_ids: Sequence[int] | None = None,
    ) -> list[Hit]:
        """BM25 (sparse) top-k within the tenant. An empty or blank query returns ``[]``."""
        t = _require_tenant(tenant)
        k = _top_k(top_k)
        q = self._query_text(query)
        expr = self._filter(t, document_ids)
        if expr is None or not q:
            return []
        return self._search_leg(SPARSE, q, expr, k)

    # One leg of retrieval: field and metric per leg, shared by search, search_text and hybrid_search.
    _LEGS: ClassVar[dict[str, tuple[str, str]]] = {DENSE: ("embedding", "COSINE"), SPARSE: ("sparse", "BM25")}

    def _search_leg(self, leg: str, data: Any, expr: str, k: int) -> list[Hit]:
        field, metric = self._LEGS[leg]
        res = self._call(
            lambda c: c.search(
                self.collection_name,
                data=[data],
                anns_field=field,
                limit=_fetch_limit(k),
                filter=expr,
                output_fields=_OUTPUT_FIELDS,
                search_params={"metric_type": metric},
                consistency_level=_CONSISTENCY,
                timeout=self.timeout_s,
            )
        )
        return _rank(self._hits(res, frozenset({leg})), k)

    def hybrid_search(
        self,
        *,
        tenant: str,
        vector: Sequence[float],
        query: str,
        top_k: int,
        document_ids: Sequence[int] | None = None,
        rrf_k: int = 60,
        candidates: int | None = None,
        explain: bool = False,
    ) -> list[Hit]:
        """Dense + BM25 fused by Milvus ``hybrid_search`` with ``RRFRanker(rrf_k)``.

        Each leg contributes its top ``candidates`` (default ``max(3*top_k, 30)``) before fusion.
        A blank ``query`` degrades to the dense leg alone (still RRF-scored). ``explain=True``
        runs the two legs once more on their own to fill ``Hit.legs`` (about twice the cost).
        """
        t = _require_tenant(tenant)
        vec = self._vector(vector)
        k = _top_k(top_k)
        q = self._query_text(query)
        if _as_int(rrf_k, "rrf_k") <= 0:
            raise InvalidRequest("rrf_k must be positive")
        pool = _top_k(candidates) if candidates is not None else min(max(3 * k, 30), MAX_TOP_K)
        pool = max(pool, k)
        expr = self._filter(t, document_ids)
        if expr is None:
            return []
        legs: list[tuple[str, Any]] = [(DENSE, vec), (SPARSE, q)] if q else [(DENSE, vec)]
        reqs = [
            AnnSearchRequest(
                data=[data],
                anns_field=self._LEGS[leg][0],
                param={"metric_type": self._LEGS[leg][1]},
                limit=pool,
                expr=expr,
            )
            for leg, data in legs
        ]
        res = self._call(
            lambda c: c.hybrid_search(
                self.collection_name,
                reqs,
                RRFRanker(rrf_k),
                limit=_fetch_limit(k),
                output_fields=_OUTPUT_FIELDS,
                consistency_level=_CONSISTENCY,
                timeout=self.timeout_s,
            )
        )
        hits = _rank(self._hits(res, frozenset()), k)
        if not explain:
            return hits
        dense_ids = {h.chunk_id for h in self.search(tenant=t, vector=vec, top_k=pool, document_ids=document_ids)}
        sparse_ids = (
            {h.chunk_id for h in self.search_text(tenant=t, query=q, top_k=pool, document_ids=document_ids)}
            if q
            else set()
        )
        return [
            Hit(
                chunk_id=h.chunk_id,
                document_id=h.document_id,
                generation=h.generation,
                page=h.page,
                score=h.score,
                legs=frozenset(name for name, ids in ((DENSE, dense_ids), (SPARSE, sparse_ids)) if h.chunk_id in ids),
            )
            for h in hits
        ]

    def delete_document(
        self,
        *,
        tenant: str,
        document_id: int,
        generation: int | None = None,
        keep_generation: int | None = None,
    ) -> int:
        """Delete a document's vectors: all of them, one ``generation``, or all but ``keep_generation``.

        Idempotent. Returns the engine's delete count (informational; may be 0 on servers that
        do not report it).
        """
        t = _require_tenant(tenant)
        doc = _as_int(document_id, "document_id")
        if generation is not None and keep_generation is not None:
            raise InvalidRequest("pass generation or keep_generation, not both")
        expr = f"tenant == {_quote(t)} and document_id == {doc}"
        if generation is not None:
            expr += f" and generation == {_as_int(generation, 'generation')}"
        if keep_generation is not None:
            expr += f" and generation != {_as_int(keep_generation, 'keep_generation')}"
        res = self._call(lambda c: c.delete(self.collection_name, filter=expr, timeout=self.timeout_s))
        if isinstance(res, dict):
            return int(res.get("delete_count", 0) or 0)
        return len(res) if isinstance(res, list) else 0

    def count(self, *, tenant: str, document_id: int | None = None) -> int:
        """Number of stored chunks for the tenant (or one of its documents)."""
        t = _require_tenant(tenant)
        expr = f"tenant == {_quote(t)}"
        if document_id is not None:
            expr += f" and document_id == {_as_int(document_id, 'document_id')}"
        res = self._call(
            lambda c: c.query(
                self.collection_name,
                filter=expr,
                output_fields=["count(*)"],
                consistency_level=_CONSISTENCY,
                timeout=self.timeout_s,
            )
        )
        return int(res[0]["count(*)"]) if res else 0

    def ping(self) -> bool:
        """True if the server answers within ``min(timeout_s, 2)`` seconds. Never raises."""
        try:
            client = self._client()
            client.list_collections(timeout=min(self.timeout_s, 2.0))
        except Exception:
            self._drop_client()
            return False
        return True

    def close(self) -> None:
        """Close the connection; the next call reconnects."""
        self._drop_client()

    # -- internals --------------------------------------------------------------------------------

    def _filter(self, tenant: str, document_ids: Sequence[int] | None) -> str | None:
        """Tenant filter (+ document ids); ``None`` means "matches nothing, skip the query"."""
        expr = f"tenant == {_quote(tenant)}"
        if document_ids is None:
            return expr
        ids = _ids(document_ids, "document_ids")
        if not ids:
            return None
        return f"{expr} and document_id in {ids}"

    def _vector(self, vector: Sequence[float]) -> list[float]:
        try:
            vec = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise InvalidRequest("vector must be a sequence of numbers") from None
        if len(vec) != self.dim:
            raise InvalidRequest(f"vector has {len(vec)} dimensions, expected {self.dim}")
        if not all(math.isfinite(x) for x in vec) or not any(vec):
            raise InvalidRequest("vector must be finite and non-zero (cosine is undefined otherwise)")
        return vec

    @staticmethod
    def _query_text(query: str | None) -> str:
        if query is None:
            return ""
        if not isinstance(query, str):
            raise InvalidRequest("query must be a string")
        return _truncate_utf8(query).strip()

    def _row(self, tenant: str, r: ChunkVector) -> dict[str, Any]:
        if not isinstance(r, ChunkVector):
            raise InvalidRequest("rows must be ChunkVector instances")
        page = _as_int(r.page, "page")
        generation = _as_int(r.generation, "generation")
        if not (0 <= page < 2**31 and 0 <= generation < 2**31):
            raise InvalidRequest("page and generation must fit a non-negative INT32")
        if not isinstance(r.text, str):
            raise InvalidRequest("text must be a string")
        return {
            "chunk_id": _as_int(r.chunk_id, "chunk_id"),
            "tenant": tenant,
            "document_id": _as_int(r.document_id, "document_id"),
            "generation": generation,
            "page": page,
            "text": _truncate_utf8(r.text),
            "embedding": self._vector(r.embedding),
        }

    @staticmethod
    def _hits(res: Any, legs: frozenset[str]) -> list[Hit]:
        out: list[Hit] = []
        for h in res[0] if res else []:
            ent = h.get("entity", {})
            out.append(
                Hit(
                    chunk_id=int(h["id"]),
                    document_id=int(ent["document_id"]),
                    generation=int(ent["generation"]),
                    page=int(ent["page"]),
                    score=float(h["distance"]),
                    legs=legs,
                )
            )
        return out

    def _client(self) -> MilvusClient:
        pid = os.getpid()
        with self._lock:
            if self._client_obj is None or self._client_pid != pid:
                # After fork the parent's gRPC channel is unusable: abandon it (do not close it,
                # that would tear down the parent's connection state) and open our own.
                self._client_obj = None
                try:
                    self._client_obj = MilvusClient(
                        uri=self.uri,
                        token=self._token,
                        timeout=self.timeout_s,
                        dedicated=True,
                        grpc_options=_GRPC_OPTIONS,
                    )
                except Exception as exc:
                    raise self._translate(exc) from exc
                self._client_pid = pid
            return self._client_obj

    def _drop_client(self) -> None:
        with self._lock:
            client, self._client_obj = self._client_obj, None
            same_process = self._client_pid == os.getpid()
            self._ready_pid = None
        if client is not None and same_process:
            try:
                client.close()
            except Exception:  # closing a broken channel must not mask the real error
                logger.debug("ignoring error while closing Milvus client", exc_info=True)

    def _translate(self, exc: BaseException) -> VectorStoreError:
        if isinstance(exc, VectorStoreError):
            return exc
        if _is_transient(exc):
            return VectorStoreUnavailable(f"Milvus at {self.uri} unavailable: {exc}")
        return VectorStoreError(f"Milvus error: {exc}")

    def _call(self, fn: Callable[[MilvusClient], T]) -> T:
        """Run one client call; a reused channel that fails at once is reopened and tried again.

        A long-idle gRPC channel can be closed by the server (GOAWAY "too_many_pings") and then
        fails the next call immediately although the server is fine. Every call here is idempotent
        (upserts by primary key, deletes by filter, searches), so one immediate retry on a fresh
        channel is safe; a server that is really down still fails fast on the retry.
        """
        reused = self._client_obj is not None and self._client_pid == os.getpid()
        started = time.monotonic()
        try:
            return self._call_once(fn)
        except VectorStoreUnavailable:
            if not reused or time.monotonic() - started > 1.0:
                raise
            logger.info("Milvus channel to %s failed at once; retrying on a new channel", self.uri)
            return self._call_once(fn)

    def _call_once(self, fn: Callable[[MilvusClient], T]) -> T:
        """Run one client call with the collection ensured and errors translated."""
        try:
            client = self._client()
            self._ensure_collection(client)
            return fn(client)
        except VectorStoreError as exc:
            if isinstance(exc, VectorStoreUnavailable):
                self._drop_client()
            raise
        except Exception as exc:
            err = self._translate(exc)
            if isinstance(err, VectorStoreUnavailable):
                # Reconnect (and re-check the collection) next time: the server may have restarted.
                self._drop_client()
            raise err from exc

    # -- collection lifecycle ---------------------------------------------------------------------

    def _ensure_collection(self, client: MilvusClient) -> None:
        """Create the collection, its indexes and load it, unless done in this process already.

        Every step is idempotent on the server (an identical create_collection/create_index is
        accepted), so two processes racing here both succeed.
        """
        if self._ready_pid == os.getpid():
            return
        name = self.collection_name
        t = self.timeout_s
        if not client.has_collection(name, timeout=t):
            try:
                client.create_collection(
                    name,
                    schema=self._schema(client),
                    index_params=self._index_params(client),
                    consistency_level=_CONSISTENCY,
                    timeout=t,
                )
                logger.info("created Milvus collection %s (dim=%s)", name, self.dim)
            except MilvusException:
                if not client.has_collection(name, timeout=t):
                    raise  # a real failure, not a lost race
        self._check_schema(client.describe_collection(name, timeout=t))
        existing = set(client.list_indexes(name, timeout=t))
        if not {"embedding", "sparse"} <= existing:
            # The other process created the collection but has not built indexes yet.
            try:
                client.create_index(name, self._index_params(client), timeout=t)
            except MilvusException:
                if not {"embedding", "sparse"} <= set(client.list_indexes(name, timeout=t)):
                    raise
        client.load_collection(name, timeout=t)
        self._ready_pid = os.getpid()

    def _partition_key(self, client: MilvusClient) -> bool:
        if self._use_partition_key is not None:
            return self._use_partition_key
        if self.uri.endswith(".db"):
            return False
        # Milvus Lite answers GetVersion with UNIMPLEMENTED; Lite 2.5.1 cannot filter on a
        # partition key, so a plain field it is. pymilvus logs the failed RPC at ERROR: mute it.
        decorators_logger = logging.getLogger("pymilvus.decorators")
        previous = decorators_logger.level
        decorators_logger.setLevel(logging.CRITICAL)
        try:
            client.get_server_version(timeout=self.timeout_s)
        except MilvusException as exc:
            if _is_transient(exc):
                raise
            return False
        except grpc.RpcError as exc:
            if _is_transient(exc):
                raise
            return False
        finally:
            decorators_logger.setLevel(previous)
        return True

    def _schema(self, client: MilvusClient) -> Any:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.INT64, is_primary=True)
        schema.add_field(
            "tenant",
            DataType.VARCHAR,
            max_length=TENANT_MAX_LEN * 4,
            is_partition_key=self._partition_key(client),
        )
        schema.add_field("document_id", DataType.INT64)
        schema.add_field("generation", DataType.INT32)
        schema.add_field("page", DataType.INT32)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_function(
            Function(
                name="text_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        return schema

    @staticmethod
    def _index_params(client: MilvusClient) -> Any:
        params = client.prepare_index_params()
        # FLAT: exact, and the only dense index Lite 2.5.1 builds for growing data; 8 ms at 10k
        # and 25 ms at 100k filtered (shared notes 1.3). Switch to a versioned schema for IVF/HNSW.
        params.add_index("embedding", index_name="embedding", index_type="FLAT", metric_type="COSINE")
        params.add_index("sparse", index_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        return params

    def _check_schema(self, desc: dict[str, Any]) -> None:
        fields = {f["name"]: f for f in desc.get("fields", [])}
        required = {"chunk_id", "tenant", "document_id", "generation", "page", "text", "sparse", "embedding"}
        missing = required - fields.keys()
        if missing:
            raise VectorStoreError(
                f"collection {self.collection_name} lacks fields {sorted(missing)}; bump schema_version"
            )
        dim = int(fields["embedding"].get("params", {}).get("dim", -1))
        if dim != self.dim:
            raise VectorStoreError(
                f"collection {self.collection_name} has dim {dim}, this store expects {self.dim}; bump schema_version"
            )
