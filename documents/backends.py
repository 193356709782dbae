"""The one place where the documents app turns settings into backend objects (vector store,
embedder, optional LLM) and tenants into vector-store keys.

``get_vector_store()`` and ``get_document_embedder()`` are cached per process and per settings
value, so a test that overrides ``MILVUS_URI`` or ``TRITON_URL`` gets a matching object, and a
Celery prefork child builds its own (both classes are fork-aware anyway).
"""

from __future__ import annotations

import threading

from django.conf import settings

from documents.llm import TritonChatGenerator
from documents.vectorstore import VectorStore
from models_registry.embedding import get_default_embedder
from models_registry.inference import Embedder

_stores: dict[tuple[str, str, str, int, float], VectorStore] = {}
_llms: dict[tuple[str, str, float], TritonChatGenerator] = {}
_lock = threading.Lock()


def tenant_vector_key(tenant_pk: int) -> str:
    """The ``tenant`` value every vector of a tenant is written, searched and deleted under."""
    return str(tenant_pk)


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


def get_document_embedder() -> Embedder:
    """The process-wide document embedder for the current settings."""
    return get_default_embedder()


def get_llm() -> TritonChatGenerator | None:
    """The Triton-served chat model when ``TRITON_LLM_MODEL`` and ``TRITON_URL`` are both set.

    The model is decoupled (token streaming), so ``TRITON_URL`` must be ``grpc://``; an
    ``http://`` URL raises ValueError at first use, which is a configuration error.
    """
    model = settings.TRITON_LLM_MODEL
    url = settings.TRITON_URL
    if not (model and url):
        return None
    key = (url, model, float(settings.TRITON_LLM_TIMEOUT_S))
    with _lock:
        llm = _llms.get(key)
        if llm is None:
            llm = TritonChatGenerator(key[0], key[1], timeout_s=key[2])
            _llms[key] = llm
        return llm


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
