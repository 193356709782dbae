"""Settings -> backend objects for the Q&A layer: vector store, query embedder, optional LLM.

The vector store and the embedder are the ingestion pipeline's own (:mod:`documents.backends`),
so questions are embedded by exactly the model that embedded the chunks, and vectors are read
under the same tenant key the pipeline writes (``str(tenant.pk)``).
"""

from __future__ import annotations

import threading

from django.conf import settings

from documents.backends import get_document_embedder, get_vector_store
from documents.llm import TritonChatGenerator
from documents.vectorstore import VectorStore
from models_registry.inference import Embedder

__all__ = ["get_llm", "get_qa_vector_store", "get_query_embedder", "tenant_vector_key"]

_lock = threading.Lock()
_llms: dict[tuple[str, str, float], TritonChatGenerator] = {}


def tenant_vector_key(tenant_pk: int) -> str:
    """The ``tenant`` value vectors are stored under (``documents.services.ingestion`` writes ``str(pk)``)."""
    return str(tenant_pk)


def get_qa_vector_store() -> VectorStore:
    return get_vector_store()


def get_query_embedder() -> Embedder:
    """Triton when ``settings.TRITON_URL`` is set, else in-process MiniLM (one torch thread)."""
    return get_document_embedder()


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
