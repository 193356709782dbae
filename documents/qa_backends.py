"""Settings -> backend objects for the Q&A layer: vector store, query embedder, optional LLM.

The vector store and the embedder are the ingestion pipeline's own (``documents.backends`` on
h/ingest), so questions are embedded by exactly the model that embedded the chunks. Until that
branch is merged, an equivalent fallback builds them from the same settings.
"""

from __future__ import annotations

import threading

from django.conf import settings

from documents.llm import TritonChatGenerator
from documents.vectorstore import VectorStore
from models_registry.inference import Embedder, EmbedderConfig, get_embedder

__all__ = ["get_llm", "get_qa_vector_store", "get_query_embedder", "tenant_vector_key"]

_lock = threading.Lock()
_stores: dict[tuple[str, str, str, int, float], VectorStore] = {}
_llms: dict[tuple[str, str, float], TritonChatGenerator] = {}


def tenant_vector_key(tenant_pk: int) -> str:
    """The ``tenant`` value vectors are stored under (the ingestion pipeline writes ``str(pk)``)."""
    return str(tenant_pk)


try:  # Ref: h/ingest (documents/backends.py); the fallback below goes once it is merged.
    from documents.backends import get_document_embedder as _ingest_embedder  # type: ignore[import-not-found]
    from documents.backends import get_vector_store as _ingest_store  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on merge order
    _ingest_embedder = None
    _ingest_store = None


def get_qa_vector_store() -> VectorStore:
    """The process's vector store for ``settings.MILVUS_*``."""
    if _ingest_store is not None:
        return _ingest_store()  # type: ignore[no-any-return]
    key = (
        settings.MILVUS_URI,
        settings.MILVUS_TOKEN,
        settings.MILVUS_COLLECTION,
        int(getattr(settings, "EMBEDDING_DIM", 384)),
        float(getattr(settings, "MILVUS_TIMEOUT_S", 10.0)),
    )
    with _lock:
        store = _stores.get(key)
        if store is None:
            uri, token, collection, dim, timeout_s = key
            store = VectorStore(uri, token=token, collection=collection, dim=dim, timeout_s=timeout_s)
            _stores[key] = store
        return store


def get_query_embedder() -> Embedder:
    """Triton when ``settings.TRITON_URL`` is set, else in-process MiniLM (one torch thread)."""
    if _ingest_embedder is not None:
        return _ingest_embedder()  # type: ignore[no-any-return]
    if settings.TRITON_URL:
        cfg = EmbedderConfig(
            backend="triton",
            triton_url=settings.TRITON_URL,
            model_name=settings.TRITON_EMBED_MODEL,
            model_version=settings.TRITON_EMBED_MODEL_VERSION,
        )
    else:
        cfg = EmbedderConfig(backend="inprocess", threads=int(settings.INFERENCE_TORCH_THREADS))
    return get_embedder(cfg)


def get_llm() -> TritonChatGenerator | None:
    """The Triton-served chat model when ``TRITON_LLM_MODEL`` and ``TRITON_URL`` are both set."""
    model = settings.TRITON_LLM_MODEL
    url = settings.TRITON_URL
    if not (model and url):
        return None
    key = (url, model, float(getattr(settings, "TRITON_LLM_TIMEOUT_S", 60.0)))
    with _lock:
        llm = _llms.get(key)
        if llm is None:
            llm = TritonChatGenerator(key[0], key[1], timeout_s=key[2])
            _llms[key] = llm
        return llm
