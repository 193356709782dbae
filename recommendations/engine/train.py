"""Training: fit components on a train split, pick blend weights on validation, refit on all data.

``train()`` is deterministic: the same data, params and embeddings give the same model arrays,
weights and metrics (timings aside). It raises :class:`TrainingError` when there are no events.
With a single item it still trains: the model is popularity-only (there is no other item to
co-occur with), and validation reports 0 users.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recommendations.engine.blend import (
    COMPONENTS,
    History,
    HistoryConfig,
    ValidationSet,
    build_history_matrix,
    history_vector,
    rank_for_validation,
    search_weights,
)
from recommendations.engine.content import fit_content
from recommendations.engine.data import InteractionData
from recommendations.engine.ease import fit_ease
from recommendations.engine.errors import TrainingError
from recommendations.engine.itemknn import Weighting, fit_itemknn
from recommendations.engine.metrics import RankingMetrics, evaluate
from recommendations.engine.model import ModelState, TrainedModel
from recommendations.engine.neighbours import scale_to_unit
from recommendations.engine.popularity import (
    DAY_S,
    WEEK_S,
    decayed_popularity,
    rank_within_groups,
    window_popularity,
)

Validation = Literal["leave_last_out", "time"]

DEFAULT_GRID: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters; every field is JSON-serialisable and stored in the artifact."""

    popularity_half_life_days: float = 14.0
    knn_neighbours: int = 100
    knn_shrinkage: float = 10.0
    knn_weighting: Weighting = "bm25"
    use_ease: bool = True
    ease_l2: float = 250.0
    ease_max_items: int = 4000
    ease_neighbours: int = 100
    ease_weighting: Weighting = "binary"
    content_neighbours: int = 50
    content_min_similarity: float = 0.2
    max_history: int = 500
    history_half_life_days: float = 90.0
    context_weight: float = 1.0
    time_split_quantile: float = 0.8
    max_validation_users: int = 2000
    weight_grid: tuple[float, ...] = DEFAULT_GRID
    search_rounds: int = 2
    # When set, skip the search and use these weights (baselines, or a pinned production blend).
    fixed_weights: Mapping[str, float] | None = None
    seed: int = 0
    reason_top_n: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    def history_config(self) -> HistoryConfig:
        return HistoryConfig(max_history=self.max_history, half_life_s=self.history_half_life_days * DAY_S)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["weight_grid"] = list(self.weight_grid)
        out["fixed_weights"] = dict(self.fixed_weights) if self.fixed_weights is not None else None
        return out


@dataclass
class _Components:
    popularity: np.ndarray
    matrices: dict[str, sp.csr_matrix]


def _fit_components(
    data: InteractionData, params: TrainParams, embeddings: np.ndarray | None, now: float
) -> _Components:
    pop = decayed_popularity(data, now=now, half_life_s=params.popularity_half_life_days * DAY_S)
    peak = pop.max() if pop.size else 0.0
    pop = (pop / peak if peak > 0 else pop).astype(np.float32)
    x = data.matrix
    mats = {
        "itemknn": scale_to_unit(
            fit_itemknn(
                x,
                neighbours=params.knn_neighbours,
                shrinkage=params.knn_shrinkage,
                weighting=params.knn_weighting,
            )
        )
    }
    if params.use_ease:
        mats["ease"] = scale_to_unit(
            fit_ease(
                x,
                l2=params.ease_l2,
                max_items=params.ease_max_items,
                neighbours=params.ease_neighbours,
                weighting=params.ease_weighting,
            )
        )
    if embeddings is not None:
        mats["content"] = scale_to_unit(
            fit_content(embeddings, neighbours=params.content_neighbours, min_similarity=params.content_min_similarity)
        )
    return _Components(pop, mats)


# ---------------------------------------------------------------------- splits
@dataclass
class Split:
    """Training events plus, per validation user, the held-out new items."""

    train: InteractionData
    users: np.ndarray  # user indices with targets
    targets: sp.csr_matrix  # len(users) x n_items


def split(data: InteractionData, validation: Validation, params: TrainParams) -> Split:
    """Hold out each user's last timestamp group ("leave_last_out") or everything after a time cut.

    Targets are held-out items the user had not interacted with in the training part (serving
    excludes seen items, so repeats could never be hits). Users without training events or
    without new held-out items are not validated; under "leave_last_out" their events stay in
    training. At most ``max_validation_users`` users are kept (seeded, sorted sample).
    """
    n_items = data.n_items
    if validation == "leave_last_out":
        last = np.full(data.n_users, -np.inf)
        np.maximum.at(last, data.user_idx, data.timestamp)
        held = data.timestamp == last[data.user_idx]
    elif validation == "time":
        cut = float(np.quantile(data.timestamp, params.time_split_quantile))
        held = data.timestamp >= cut
        if held.all() or not held.any():
            held = np.zeros(data.n_events, dtype=bool)
    else:
        raise ValueError(f"unknown validation {validation!r}")

    pair = data.user_idx.astype(np.int64) * n_items + data.item_idx
    train_pairs = np.unique(pair[~held])
    held_pairs = np.unique(pair[held])
    new_pairs = held_pairs[~np.isin(held_pairs, train_pairs)]
    train_users = np.unique(train_pairs // n_items)
    new_pairs = new_pairs[np.isin(new_pairs // n_items, train_users)]
    users = np.unique(new_pairs // n_items)
    if validation == "leave_last_out":
        held &= np.isin(data.user_idx, users)
    if users.size > params.max_validation_users:
        rng = np.random.default_rng(params.seed)
        users = np.sort(rng.choice(users, params.max_validation_users, replace=False))
    new_pairs = new_pairs[np.isin(new_pairs // n_items, users)]
    row = np.searchsorted(users, new_pairs // n_items)
    targets = sp.csr_matrix(
        (np.ones(new_pairs.size, dtype=np.float32), (row, new_pairs % n_items)), shape=(users.size, n_items)
    )
    return Split(data.subset(~held), users, targets)


def user_histories(data: InteractionData, users: np.ndarray, config: HistoryConfig) -> list[History]:
    """The serving-time history vector of each user, from their events in ``data``."""
    order = np.argsort(data.user_idx, kind="stable")  # events are time-sorted; keep that order
    u_sorted = data.user_idx[order]
    starts = np.searchsorted(u_sorted, users, side="left")
    stops = np.searchsorted(u_sorted, users, side="right")
    out = []
    for a, b in zip(starts, stops, strict=True):
        ev = order[a:b]
        out.append(
            history_vector(
                data.item_idx[ev].astype(np.int64),
                data.event_code[ev],
                data.weight[ev],
                data.timestamp[ev],
                config,
            )
        )
    return out


def _validation_set(split_: Split, comps: _Components, config: HistoryConfig) -> ValidationSet:
    train = split_.train
    hist = build_history_matrix(user_histories(train, split_.users, config), train.n_items)
    scores = {"popularity": np.tile(comps.popularity, (split_.users.size, 1))}
    for name, mat in comps.matrices.items():
        scores[name] = np.asarray((hist @ mat).toarray(), dtype=np.float32)
    seen = train.matrix[split_.users]
    return ValidationSet(scores, seen, split_.targets)


def _metrics_for(val: ValidationSet, weights: Mapping[str, float]) -> RankingMetrics:
    top = rank_for_validation(val, weights, 10)
    lists = [[int(j) for j in row if j >= 0] for row in top]
    targets = [
        set(val.targets.indices[val.targets.indptr[u] : val.targets.indptr[u + 1]].tolist()) for u in range(val.n_users)
    ]
    return evaluate(lists, targets, val.targets.shape[1])


# ---------------------------------------------------------------------- train
def train(
    data: InteractionData,
    params: TrainParams | None = None,
    embeddings: np.ndarray | None = None,
    validation: Validation = "leave_last_out",
) -> TrainedModel:
    """Fit, validate, choose blend weights, refit on all data (see the module docstring).

    ``embeddings`` (optional) is ``[data.n_items, d]`` aligned with ``data.item_keys``.
    Raises ``TrainingError`` when ``data`` has no events, ``ValueError`` for bad arguments.
    """
    params = params or TrainParams()
    if data.n_events == 0:
        raise TrainingError("no events to train on")
    if embeddings is not None and (np.ndim(embeddings) != 2 or np.shape(embeddings)[0] != data.n_items):
        raise ValueError(f"embeddings must have shape [{data.n_items}, d], got {np.shape(embeddings)}")
    if params.fixed_weights is not None:
        unknown = set(params.fixed_weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown blend components {sorted(unknown)}")
    t0 = time.perf_counter()
    hcfg = params.history_config()
    available = (
        ["popularity", "itemknn"]
        + (["ease"] if params.use_ease else [])
        + (["content"] if embeddings is not None else [])
    )

    sp_ = split(data, validation, params)
    t_split = time.perf_counter()
    metrics: dict[str, Any] = {"validation": validation, "validation_users": int(sp_.users.size)}
    weights: dict[str, float]
    if sp_.users.size and data.n_items > 1:
        comps = _fit_components(sp_.train, params, embeddings, sp_.train.max_timestamp)
        t_fit = time.perf_counter()
        val = _validation_set(sp_, comps, hcfg)
        if params.fixed_weights is not None:
            weights = {name: float(params.fixed_weights.get(name, 0.0)) for name in available}
        else:
            weights, _ = search_weights(val, available, params.weight_grid, params.search_rounds)
        t_search = time.perf_counter()
        metrics["blend"] = _metrics_for(val, weights).to_dict()
        metrics["components"] = {name: _metrics_for(val, {name: 1.0}).to_dict() for name in available}
    else:
        # Nothing to validate on (one item, or every user has a single timestamp group).
        t_fit = t_search = time.perf_counter()
        defaults = {"popularity": 0.05, "itemknn": 1.0, "ease": 1.0, "content": 0.5}
        fixed = params.fixed_weights or defaults
        weights = {name: float(fixed.get(name, 0.0)) for name in available}
        metrics["blend"] = None
        metrics["components"] = {}
    metrics["weights_chosen_by"] = (
        "fixed" if params.fixed_weights is not None else ("search" if metrics["blend"] is not None else "defaults")
    )

    now = data.max_timestamp
    full = _fit_components(data, params, embeddings, now)
    state = _state(data, full, weights, params, hcfg, now)
    t_refit = time.perf_counter()
    timing = {
        "split_s": t_split - t0,
        "fit_validation_s": t_fit - t_split,
        "search_s": t_search - t_fit,
        "refit_s": t_refit - t_search,
        "total_s": t_refit - t0,
    }
    return TrainedModel(
        state=state,
        metrics=metrics,
        params=params.to_dict(),
        data_hash=data.snapshot_hash(),
        timing=timing,
        stats={"n_users": data.n_users, "n_items": data.n_items, "n_events": data.n_events},
    )


def _state(
    data: InteractionData,
    comps: _Components,
    weights: Mapping[str, float],
    params: TrainParams,
    hcfg: HistoryConfig,
    now: float,
) -> ModelState:
    n = data.n_items
    empty = sp.csr_matrix((n, n), dtype=np.float32)
    collab = empty
    for name in ("itemknn", "ease"):
        if weights.get(name, 0.0) and name in comps.matrices:
            collab = collab + comps.matrices[name] * np.float32(weights[name])
    content = empty
    if weights.get("content", 0.0) and "content" in comps.matrices:
        content = comps.matrices["content"] * np.float32(weights["content"])
    collab, content = sp.csr_matrix(collab, dtype=np.float32), sp.csr_matrix(content, dtype=np.float32)
    for mat in (collab, content):
        mat.sum_duplicates()
        mat.sort_indices()
        mat.eliminate_zeros()
    categories = data.categories()
    week = window_popularity(data, now=now, window_s=WEEK_S).astype(np.float32)
    _, cat_codes = np.unique(np.array(categories, dtype=str), return_inverse=True)
    return ModelState(
        item_keys=data.item_keys.copy(),
        titles=data.titles(),
        categories=categories,
        popularity=comps.popularity,
        week_popularity=week,
        category_week_rank=rank_within_groups(week, cat_codes).astype(np.int32),
        collab=collab,
        content=content,
        blend_weights={name: float(weights.get(name, 0.0)) for name in COMPONENTS},
        event_weights=data.event_weights,
        history=hcfg,
        context_weight=params.context_weight,
        reference_time=now,
        reason_top_n=params.reason_top_n,
    )
