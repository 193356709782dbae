"""Item-text embeddings for the content model, through the portal's one inference module."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models_registry.embedding import get_default_embedder


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """float32 ``[len(texts), 384]``, L2-normalised rows in input order."""
    return np.asarray(get_default_embedder().embed(list(texts)), dtype=np.float32)
