"""Item-item neighbours from item text embeddings computed by the caller.

``embeddings`` is a float array ``[n_items, d]`` whose row ``i`` embeds item ``i`` of
``InteractionData.item_keys`` (use ``InteractionData.content_texts()`` for the texts). Rows are
L2-normalised here; an all-zero row (no text) gets no neighbours and is nobody's neighbour.
Only cosine similarities above ``min_similarity`` are kept.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.neighbours import build_blockwise


def fit_content(
    embeddings: np.ndarray,
    *,
    neighbours: int = 50,
    min_similarity: float = 0.2,
    block_size: int = 2048,
) -> sp.csr_matrix:
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError("embeddings must be a 2-D array [n_items, d]")
    if not np.isfinite(emb).all():
        raise ValueError("embeddings must be finite")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)

    def block(start: int, stop: int) -> np.ndarray:
        sims = unit[start:stop] @ unit.T
        sims[sims < min_similarity] = 0.0
        return sims

    return build_blockwise(emb.shape[0], neighbours, block, block_size)
