"""Sparse top-N neighbour matrices, built block by block so memory stays O(block x n_items).

A neighbour matrix ``S`` is an ``n_items x n_items`` CSR float32 matrix whose row ``i`` holds at
most ``n`` strictly positive entries: the items that history item ``i`` votes for. Scoring a user
is then ``h @ S`` for a sparse history vector ``h``. The diagonal is always zero (an item never
votes for itself), and indices within a row are sorted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp


def top_n_block(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of the ``n`` largest strictly positive values in each row of ``block``.

    Ties are broken by the lower column index so the result does not depend on the sort algorithm.
    """
    rows_n, cols_n = block.shape
    n = min(n, cols_n)
    if rows_n == 0 or n == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float32)
    if n < cols_n:
        part = np.argpartition(-block, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(cols_n), (rows_n, cols_n))
    vals = np.take_along_axis(block, part, axis=1)
    row = np.repeat(np.arange(rows_n), n)
    col = part.reshape(-1)
    val = vals.reshape(-1)
    keep = val > 0
    return row[keep], col[keep].astype(np.int64), val[keep].astype(np.float32)


def build_blockwise(
    n_items: int,
    n: int,
    block_fn: Callable[[int, int], np.ndarray],
    block_size: int = 1024,
) -> sp.csr_matrix:
    """Assemble a neighbour matrix from dense ``block_fn(start, stop)`` rows of similarities.

    ``block_fn`` returns the similarity rows of items ``start..stop-1`` against all items; the
    diagonal is zeroed here.
    """
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for start in range(0, n_items, block_size):
        stop = min(start + block_size, n_items)
        block = np.array(block_fn(start, stop), dtype=np.float32, copy=True)
        local = np.arange(stop - start)
        block[local, local + start] = 0.0
        r, c, v = top_n_block(block, n)
        rows.append(r + start)
        cols.append(c)
        vals.append(v)
    return assemble(n_items, rows, cols, vals)


def assemble(n_items: int, rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray]) -> sp.csr_matrix:
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.empty(0, dtype=np.int64)
        v = np.empty(0, dtype=np.float32)
    mat = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n_items, n_items), dtype=np.float32)
    mat.sum_duplicates()
    mat.sort_indices()
    mat.eliminate_zeros()
    return mat


def scale_to_unit(mat: sp.csr_matrix) -> sp.csr_matrix:
    """Divide by the mean row maximum so components are on comparable scales for blending."""
    if mat.nnz == 0:
        return mat
    row_max = mat.max(axis=1).toarray().ravel()
    ref = float(row_max[row_max > 0].mean())
    out = mat.copy()
    out.data = (out.data / ref).astype(np.float32)
    return out
