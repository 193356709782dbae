"""Popularity with recency decay, and per-category "popular this week" ranks.

All functions take ``now`` explicitly (training uses the newest event time), so results are
reproducible and never depend on the wall clock. Events after ``now`` are ignored.
"""

from __future__ import annotations

import numpy as np

from recommendations.engine.data import InteractionData

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S


def decayed_popularity(data: InteractionData, *, now: float, half_life_s: float) -> np.ndarray:
    """Sum of event weights, each halved every ``half_life_s`` seconds of age; float64 [n_items]."""
    if half_life_s <= 0:
        raise ValueError("half_life_s must be > 0")
    age = now - data.timestamp
    keep = age >= 0
    decay = np.exp2(-age[keep] / half_life_s)
    return np.bincount(data.item_idx[keep], weights=data.weight[keep] * decay, minlength=data.n_items)


def window_popularity(data: InteractionData, *, now: float, window_s: float = WEEK_S) -> np.ndarray:
    """Sum of event weights in ``(now - window_s, now]``; float64 [n_items]."""
    keep = (data.timestamp <= now) & (data.timestamp > now - window_s)
    return np.bincount(data.item_idx[keep], weights=data.weight[keep], minlength=data.n_items)


def rank_within_groups(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """0-based rank of each item by descending score inside its group; -1 where score <= 0.

    Ties are broken by item index, so the ranks are deterministic.
    """
    n = scores.size
    ranks = np.full(n, -1, dtype=np.int32)
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0:
        return ranks
    order = positive[np.lexsort((positive, -scores[positive], groups[positive]))]
    g = groups[order]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    lengths = np.diff(np.r_[starts, order.size])
    ranks[order] = np.arange(order.size) - np.repeat(starts, lengths)
    return ranks
