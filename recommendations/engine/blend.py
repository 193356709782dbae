"""Scoring shared by training-time validation and serving, and the blend-weight search.

A user's score for item ``j`` is linear in the blend weights::

    score_j = sum_i h_i * (w_knn * Knn[i, j] + w_ease * Ease[i, j] + w_content * Content[i, j])
              + w_pop * pop_j

where ``h`` is the user's history vector (:func:`history_vector`; it sums to 1), the neighbour
matrices are scaled so their mean row maximum is 1, and ``pop`` is decayed popularity scaled to
max 1. Serving pre-adds the weighted matrices, validation keeps them apart to search weights;
both use :func:`history_vector`, so validation measures what serving returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

COMPONENTS: tuple[str, ...] = ("popularity", "itemknn", "ease", "content")


@dataclass(frozen=True)
class HistoryConfig:
    """How a user's recent events become a history vector.

    Only the newest ``max_history`` events count; each weighs its event weight halved every
    ``half_life_s`` seconds before the user's newest event (so old sessions fade but a user who
    comes back after a year is not a cold start).
    """

    max_history: int = 500
    half_life_s: float = 30 * 86_400.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class History:
    """A normalised history: distinct item indices, their weights (sum 1), strongest event code."""

    items: np.ndarray  # int64, sorted, unique
    weights: np.ndarray  # float64, > 0, sums to 1 (empty when no known item)
    strongest_code: np.ndarray  # int8 event code with the largest single event weight per item


def history_vector(
    items: np.ndarray,
    codes: np.ndarray,
    event_weight: np.ndarray,
    timestamps: np.ndarray,
    config: HistoryConfig,
) -> History:
    """Collapse raw history events (already mapped to item indices) into a :class:`History`.

    Events are ordered by timestamp with a stable sort, so for equal times the caller's order
    decides which events fall outside ``max_history``.
    """
    if items.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return History(empty, np.empty(0), np.empty(0, dtype=np.int8))
    order = np.argsort(timestamps, kind="stable")[-config.max_history :]
    items, codes = items[order], codes[order]
    ts, w = timestamps[order], event_weight[order]
    decayed = w * np.exp2(-(ts.max() - ts) / config.half_life_s)
    uniq, inv = np.unique(items, return_inverse=True)
    weights = np.bincount(inv, weights=decayed, minlength=uniq.size)
    # strongest event per item: sort by (item, weight, code) and take the last of each item
    pick = np.lexsort((codes, w, inv))
    last = np.r_[np.flatnonzero(inv[pick][1:] != inv[pick][:-1]), pick.size - 1]
    strongest = codes[pick][last].astype(np.int8)
    total = weights.sum()
    if total <= 0:
        # All events weigh zero (for example weight 0 for views): count them equally.
        weights = np.ones(uniq.size)
        total = float(uniq.size)
    return History(uniq.astype(np.int64), weights / total, strongest)


def gather_rows(
    mat: sp.csr_matrix, rows: np.ndarray, row_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source position, column, weighted value) of every entry in ``mat[rows]``; no scipy overhead."""
    starts = mat.indptr[rows]
    lengths = mat.indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    src = np.repeat(np.arange(rows.size), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.repeat(starts, lengths) + offsets
    return src, mat.indices[pos].astype(np.int64), mat.data[pos] * row_weights[src]


def top_k_sorted(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best finite scores, best first, ties broken by lower index."""
    n = scores.size
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        # argpartition picks arbitrarily among items tied with the k-th score; take the lowest indices.
        above = np.flatnonzero(scores > kth)
        cand = np.concatenate([above, np.flatnonzero(scores == kth)[: k - above.size]])
    else:
        cand = np.arange(n)
    return cand[np.lexsort((cand, -scores[cand]))]


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Row-wise :func:`top_k_sorted` for a 2-D score matrix (validation only).

    Same order as :func:`top_k_sorted` except among items tied with a row's k-th score, where the
    choice is arbitrary (but deterministic): exact tie handling per row would cost a full sort.
    """
    n = scores.shape[1]
    k = min(k, n)
    cand = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(scores), 1))
    vals = np.take_along_axis(scores, cand, axis=1)
    # lexsort per row: by -value then index, done with a stable argsort of index-sorted candidates
    idx_order = np.argsort(cand, axis=1, kind="stable")
    cand = np.take_along_axis(cand, idx_order, axis=1)
    vals = np.take_along_axis(vals, idx_order, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(cand, order, axis=1)


@dataclass
class ValidationSet:
    """Per-component validation scores: dense [users, items] float32 matrices, plus targets."""

    component_scores: dict[str, np.ndarray]
    seen: sp.csr_matrix  # users x items, nonzero where the item is in the user's training history
    targets: sp.csr_matrix  # users x items, nonzero where the item is a held-out new item

    @property
    def n_users(self) -> int:
        return int(self.targets.shape[0])


def build_history_matrix(histories: Sequence[History], n_items: int) -> sp.csr_matrix:
    indptr = np.r_[0, np.cumsum([h.items.size for h in histories])]
    indices = np.concatenate([h.items for h in histories]) if histories else np.empty(0, dtype=np.int64)
    data = np.concatenate([h.weights for h in histories]) if histories else np.empty(0)
    return sp.csr_matrix((data, indices, indptr), shape=(len(histories), n_items))


def blended_scores(val: ValidationSet, weights: Mapping[str, float]) -> np.ndarray:
    out: np.ndarray | None = None
    for name, w in weights.items():
        if w == 0 or name not in val.component_scores:
            continue
        part = val.component_scores[name]
        out = part * np.float32(w) if out is None else out + part * np.float32(w)
    if out is None:
        out = np.zeros((val.n_users, val.targets.shape[1]), dtype=np.float32)
    return out


def rank_for_validation(val: ValidationSet, weights: Mapping[str, float], k: int) -> np.ndarray:
    """Top-k item indices per user as serving would return them (seen excluded; -1 = no item).

    Serving never returns an item with score <= 0, so such slots become -1 here too.
    """
    scores = blended_scores(val, weights)
    seen = val.seen.tocoo()
    scores[seen.row, seen.col] = -np.inf
    top = top_k_rows(scores, k)
    top_scores = np.take_along_axis(scores, top, axis=1)
    return np.where(top_scores > 0, top, -1)


def ndcg_from_top(top: np.ndarray, targets: sp.csr_matrix, k: int = 10) -> float:
    """Mean NDCG@k (binary relevance, same definition as metrics.ndcg_at_k) from a top-index matrix."""
    hits = _hits(top[:, :k], targets)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    n_rel = np.minimum(np.diff(targets.indptr), k)
    ideal = np.cumsum(discounts)[np.maximum(n_rel - 1, 0)]
    return float(np.mean(dcg / ideal)) if top.shape[0] else 0.0


def _hits(top: np.ndarray, targets: sp.csr_matrix) -> np.ndarray:
    hits = np.zeros(top.shape, dtype=np.float64)
    for u in range(top.shape[0]):
        row = targets.indices[targets.indptr[u] : targets.indptr[u + 1]]
        hits[u] = np.isin(top[u], row)
    return hits


def search_weights(
    val: ValidationSet, available: Sequence[str], grid: Sequence[float], rounds: int = 2
) -> tuple[dict[str, float], float]:
    """Deterministic coordinate ascent on NDCG@10 over blend weights.

    Start from the best single component at weight 1 (ranking is scale-invariant, so it stays
    fixed at 1), then sweep every other component over ``grid`` in a fixed order, keeping a value
    only when it improves NDCG@10 by more than 1e-9. Returns the weights and their NDCG@10.
    """
    singles = {name: ndcg_from_top(rank_for_validation(val, {name: 1.0}, 10), val.targets) for name in available}
    anchor = max(available, key=lambda name: (singles[name], -available.index(name)))
    weights = {name: (1.0 if name == anchor else 0.0) for name in available}
    best = singles[anchor]
    for _ in range(rounds):
        improved = False
        for name in available:
            if name == anchor:
                continue
            for value in grid:
                if value == weights[name]:
                    continue
                trial = {**weights, name: float(value)}
                score = ndcg_from_top(rank_for_validation(val, trial, 10), val.targets)
                if score > best + 1e-9:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return weights, best
