"""The trained model: everything serving needs, as plain arrays (no pickled objects).

Invariants of :class:`ModelState`:

* Every per-item array has ``n_items`` rows aligned with ``item_keys`` (sorted, unique).
* ``collab`` and ``content`` are ``n_items x n_items`` CSR float32 with sorted indices and
  non-negative data; blend weights are already multiplied in, so serving adds them unchanged.
* ``popularity`` is decayed popularity scaled to max 1 (all zeros when there were no events) and
  ``blend_weights["popularity"]`` multiplies it at serving time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.blend import HistoryConfig
from recommendations.engine.data import EventWeights

FORMAT_VERSION = 1


@dataclass
class ModelState:
    item_keys: np.ndarray
    titles: list[str]
    categories: list[str]
    popularity: np.ndarray  # float32 [n], max 1
    week_popularity: np.ndarray  # float32 [n], summed event weights in the last 7 days
    category_week_rank: np.ndarray  # int32 [n], rank in own category by week popularity, -1 if none
    collab: sp.csr_matrix
    content: sp.csr_matrix
    blend_weights: dict[str, float]
    event_weights: EventWeights
    history: HistoryConfig
    context_weight: float
    reference_time: float
    reason_top_n: int = 10

    @property
    def n_items(self) -> int:
        return int(self.item_keys.size)


@dataclass
class TrainedModel:
    """A model plus how it was made; what :mod:`artifact` saves and :class:`Recommender` serves."""

    state: ModelState
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_hash: str
    timing: dict[str, float]
    stats: dict[str, int] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
