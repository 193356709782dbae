"""The one place where the documents app turns settings into backend objects.

``get_vector_store()`` and ``get_document_embedder()`` are cached per process and per settings
value, so a test that overrides ``MILVUS_URI`` or ``TRITON_URL`` gets a matching object, and a
Celery prefork child builds its own (both classes are fork-aware anyway).
"""

from __future__ import annotations

import threading

from django.conf import settings

from documents.vectorstore import VectorStore
from models_registry.embedding import default_embedder_config, get_default_embedder
from models_registry.inference import Embedder, EmbedderConfig

_stores: dict[tuple[str, str, str, int, float], VectorStore] = {}
_lock = threading.Lock()


def get_vector_store() -> VectorStore:
    """The process's :class:`VectorStore` for ``settings.MILVUS_*`` (built on first use)."""
    key = (
        settings.MILVUS_URI,
        settings.MILVUS_TOKEN,
        settings.MILVUS_COLLECTION,
        int(settings.EMBEDDING_DIM),
        float(settings.MILVUS_TIMEOUT_S),
    )
    with _lock:
        store = _stores.get(key)
        if store is None:
            uri, token, collection, dim, timeout_s = key
            store = VectorStore(uri, token=token, collection=collection, dim=dim, timeout_s=timeout_s)
            _stores[key] = store
        return store


def embedder_config() -> EmbedderConfig:
    """Triton when ``settings.TRITON_URL`` is set, else in-process MiniLM on CPU."""
    return default_embedder_config()


def get_document_embedder() -> Embedder:
    """The process-wide document embedder for the current settings."""
    return get_default_embedder()


def check_milvus() -> tuple[bool, str]:
    """/readyz check: the vector store answers."""
    store = get_vector_store()
    return (True, store.uri) if store.ping() else (False, f"Milvus at {store.uri} does not answer")


def check_triton() -> tuple[bool, str]:
    """/readyz check (only registered when TRITON_URL is set): the server is ready."""
    from deploy.triton.client import TritonAdmin

    admin = TritonAdmin(settings.TRITON_URL, timeout_s=2.0)
    try:
        ok = admin.server_ready()
    finally:
        admin.close()
    return (True, settings.TRITON_URL) if ok else (False, f"Triton at {settings.TRITON_URL} is not ready")
