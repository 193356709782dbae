"""Settings -> the portal's default text embedder (one place for documents and recommendations).

Triton when ``settings.TRITON_URL`` is set (model ``TRITON_EMBED_MODEL``), else all-MiniLM-L6-v2
in-process on CPU with ``INFERENCE_TORCH_THREADS`` threads. ``models_registry.inference`` caches
the embedder per process and per config.
"""

from __future__ import annotations

from django.conf import settings

from models_registry.inference import Embedder, EmbedderConfig, get_embedder


def default_embedder_config() -> EmbedderConfig:
    if settings.TRITON_URL:
        return EmbedderConfig(
            backend="triton",
            triton_url=settings.TRITON_URL,
            model_name=settings.TRITON_EMBED_MODEL,
            model_version=settings.TRITON_EMBED_MODEL_VERSION,
        )
    return EmbedderConfig(backend="inprocess", threads=int(settings.INFERENCE_TORCH_THREADS))


def get_default_embedder() -> Embedder:
    return get_embedder(default_embedder_config())
