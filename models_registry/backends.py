"""Settings -> the portal's inference clients: the one place the layers above get them from.

``inference/`` is Django-free and takes explicit configuration; this module reads
``portal.settings`` and builds (and caches per process and per settings value) the embedder,
the chat LLM, the vector store and the local Triton configuration, so a test that overrides
``MILVUS_URI`` or ``TRITON_URL`` gets matching objects. Documents, Q&A, recommendations and
deploy import these factories instead of building clients themselves. ``apps.py`` registers
:func:`check_milvus` and :func:`check_triton` as the /readyz checks (one each).
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from inference.embedding import INPROCESS_MODELS, MODEL_E5_SMALL, MODEL_MINILM, Embedder, EmbedderConfig
from inference.embedding import get_embedder as _cached_embedder
from inference.health import milvus_ready, triton_ready
from inference.llm import TritonChatGenerator
from inference.triton.local import LocalTritonConfig
from inference.vectorstore import VectorStore
from portal import health

__all__ = [
    "check_milvus",
    "check_triton",
    "embedder_config",
    "get_embedder",
    "get_llm",
    "get_vector_store",
    "local_triton_config",
    "register_readiness_checks",
    "triton_probe_url",
    "vector_collection",
]

_stores: dict[tuple[str, str, str, int, float], VectorStore] = {}
_llms: dict[tuple[str, str, float], TritonChatGenerator] = {}
_lock = threading.Lock()


def embedder_config() -> EmbedderConfig:
    """Triton when ``TRITON_URL`` is set (model ``TRITON_EMBED_MODEL``), else ``EMBEDDING_MODEL``
    (multilingual-e5-small by default) in-process on CPU with ``INFERENCE_TORCH_THREADS`` threads."""
    if settings.TRITON_URL:
        return EmbedderConfig(
            backend="triton",
            triton_url=settings.TRITON_URL,
            model_name=settings.TRITON_EMBED_MODEL,
            model_version=settings.TRITON_EMBED_MODEL_VERSION,
        )
    model = settings.EMBEDDING_MODEL
    if model not in INPROCESS_MODELS:
        raise ImproperlyConfigured(f"EMBEDDING_MODEL={model!r}; use one of {', '.join(INPROCESS_MODELS)}")
    return EmbedderConfig(
        backend="inprocess",
        threads=int(settings.INFERENCE_TORCH_THREADS),
        inprocess_model=model,
        precision=settings.EMBEDDING_PRECISION,
    )


def vector_collection() -> str:
    """The Milvus collection base name for the configured embedding model.

    Vectors of two models must never be searched together: they have the same dimension (384),
    so the schema check alone would not notice. MiniLM keeps ``MILVUS_COLLECTION`` unchanged
    (existing deployments); any other model gets ``<MILVUS_COLLECTION>_<model>``, so switching
    models starts an empty collection and ``manage.py reindex_documents`` refills it.
    """
    base = settings.MILVUS_COLLECTION
    if settings.TRITON_URL:
        model = settings.TRITON_EMBED_MODEL
        suffix = "" if model == "minilm" else model
    else:
        model = settings.EMBEDDING_MODEL
        suffix = "" if model == MODEL_MINILM else {MODEL_E5_SMALL: "e5s"}.get(model, model)
    suffix = re.sub(r"[^A-Za-z0-9_]", "_", suffix)
    return f"{base}_{suffix}" if suffix else base


def get_embedder() -> Embedder:
    """The process-wide text embedder (documents, queries and catalog items alike)."""
    return _cached_embedder(embedder_config())


def get_vector_store() -> VectorStore:
    """The process's :class:`VectorStore` for ``settings.MILVUS_*`` (built on first use)."""
    key = (
        settings.MILVUS_URI,
        settings.MILVUS_TOKEN,
        vector_collection(),
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


def local_triton_config() -> LocalTritonConfig:
    """The portal's own tritonserver: TRITON_LOCAL_REPOSITORY and TRITON_LOCAL_{HTTP,GRPC,METRICS}_PORT
    (+ optional TRITON_LOCAL_WORKDIR, TRITON_LOCAL_PYTHON)."""
    repo = Path(settings.TRITON_LOCAL_REPOSITORY)
    return LocalTritonConfig(
        repository=repo,
        workdir=Path(settings.TRITON_LOCAL_WORKDIR or repo.parent / f"{repo.name}-work"),
        http_port=int(settings.TRITON_LOCAL_HTTP_PORT),
        grpc_port=int(settings.TRITON_LOCAL_GRPC_PORT),
        metrics_port=int(settings.TRITON_LOCAL_METRICS_PORT),
        python_executable=settings.TRITON_LOCAL_PYTHON or sys.executable,
    )


def triton_probe_url() -> str:
    """The Triton endpoint /readyz probes: TRITON_URL, else the local server's HTTP URL when
    USE_TRITON_LOCAL is on, else "" (no Triton configured: no check)."""
    url = getattr(settings, "TRITON_URL", "") or ""
    if url:
        return url
    if settings.USE_TRITON_LOCAL:
        return f"http://127.0.0.1:{settings.TRITON_LOCAL_HTTP_PORT}"
    return ""


def check_milvus() -> tuple[bool, str]:
    """/readyz: the configured vector store answers."""
    return milvus_ready(get_vector_store())


def check_triton() -> tuple[bool, str]:
    """/readyz (registered only when :func:`triton_probe_url` is set): the server is ready."""
    return triton_ready(triton_probe_url(), timeout_s=3.0)


def register_readiness_checks() -> list[str]:
    """Register ``milvus`` and, when Triton is configured, ``triton`` with /readyz; returns the names."""
    health.register_check("milvus", check_milvus)
    names = ["milvus"]
    if triton_probe_url():
        health.register_check("triton", check_triton)
        names.append("triton")
    return names
