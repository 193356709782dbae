"""EASE^R (Steck, 2019): a closed-form linear item-item model, sparsified to top-N per row.

``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1`` and the diagonal of ``B`` forced to zero.
The inverse is dense, so it is computed only over the ``max_items`` items with the most users
(4,000 items: a 128 MB float64 Gram matrix and about 3 s on one core); other items get no EASE
votes and are served by the item-kNN and popularity components. Only the ``neighbours`` largest
positive weights of each row are kept, so serving stays a sparse row sum.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recommendations.engine.itemknn import Weighting, weight_interactions
from recommendations.engine.neighbours import assemble, top_n_block


def fit_ease(
    matrix: sp.csr_matrix,
    *,
    l2: float = 250.0,
    max_items: int = 4000,
    neighbours: int = 100,
    weighting: Weighting = "binary",
) -> sp.csr_matrix:
    """Sparsified EASE weights as an ``n_items x n_items`` neighbour matrix (see module docstring)."""
    if l2 <= 0:
        raise ValueError("l2 must be > 0")
    n_items = matrix.shape[1]
    x = weight_interactions(matrix, weighting).tocsc()
    df = np.diff(x.indptr)
    candidates = np.flatnonzero(df > 0)
    # Most-used items first; ties by index so the chosen set is deterministic.
    chosen = np.sort(candidates[np.lexsort((candidates, -df[candidates]))][:max_items])
    if chosen.size < 2:
        return assemble(n_items, [], [], [])
    xs = x[:, chosen]
    gram = (xs.T @ xs).toarray()
    gram[np.diag_indices_from(gram)] += l2
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    b = p / (-np.diag(p))[None, :]
    b[np.diag_indices_from(b)] = 0.0
    rows, cols, vals = top_n_block(b, neighbours)
    return assemble(n_items, [chosen[rows]], [chosen[cols]], [vals])
