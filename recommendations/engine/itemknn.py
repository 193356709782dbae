"""Item-item neighbours from co-occurrence: shrunk cosine over (optionally BM25-weighted) interactions.

Row ``i`` of the result holds the ``neighbours`` items most similar to ``i``:
``sim(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrinkage)`` where ``x_i`` is item ``i``'s column of the
user x item matrix after weighting. Shrinkage pulls similarities backed by few co-occurrences
towards zero, which is what keeps one shared user from making two rare items "similar".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from recommendations.engine.neighbours import build_blockwise

Weighting = Literal["none", "binary", "log", "bm25"]


def weight_interactions(
    matrix: sp.csr_matrix, weighting: Weighting, *, bm25_k1: float = 1.2, bm25_b: float = 0.75
) -> sp.csr_matrix:
    """Transform summed event weights: raw, binary, log1p, or BM25 (idf per item, length per user)."""
    x = matrix.tocsr().astype(np.float64, copy=True)
    if weighting == "none":
        return x
    if weighting == "binary":
        x.data[:] = 1.0
        return x
    if weighting == "log":
        x.data = np.log1p(x.data)
        return x
    if weighting == "bm25":
        # Same formula as implicit.nearest_neighbours.bm25_weight, on a user x item matrix.
        n_users = max(x.shape[0], 1)
        df = np.bincount(x.indices, minlength=x.shape[1])
        idf = np.log(n_users) - np.log1p(df)
        idf = np.maximum(idf, 0.0) + 1e-3
        row_sums = np.asarray(x.sum(axis=1)).ravel()
        avg = row_sums.mean() if row_sums.size else 1.0
        length_norm = (1.0 - bm25_b) + bm25_b * row_sums / max(avg, 1e-12)
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        x.data = x.data * (bm25_k1 + 1.0) / (bm25_k1 * length_norm[rows] + x.data) * idf[x.indices]
        return x
    raise ValueError(f"unknown weighting {weighting!r}")


def fit_itemknn(
    matrix: sp.csr_matrix,
    *,
    neighbours: int = 100,
    shrinkage: float = 10.0,
    weighting: Weighting = "bm25",
    block_size: int = 1024,
) -> sp.csr_matrix:
    """Top-``neighbours`` shrunk-cosine neighbours per item (see the module docstring)."""
    if neighbours < 1:
        raise ValueError("neighbours must be >= 1")
    x = weight_interactions(matrix, weighting)
    n_items = x.shape[1]
    xc = x.tocsc()
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())

    def block(start: int, stop: int) -> np.ndarray:
        dots = (xt[start:stop] @ xc).toarray()
        denom = norms[start:stop, None] * norms[None, :] + shrinkage
        return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)

    return build_blockwise(n_items, neighbours, block, block_size)
