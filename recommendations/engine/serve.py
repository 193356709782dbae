"""In-memory serving: :class:`Recommender` answers ``recommend()`` from a :class:`TrainedModel`.

Everything per item is precomputed at construction; a request does a few dictionary look-ups,
two sparse row gathers over at most ``max_history`` (+ session/context) items, one ``bincount``
over the catalog and an ``argpartition``. The object is read-only after construction, so one
instance can serve concurrent threads.

Guarantees of ``recommend()``:

* Returned items have a score > 0, are distinct, are ordered by score (ties: item key order of
  the catalog), and number at most ``k``; fewer when fewer items are eligible.
* An item in ``exclude_items``, outside ``active_items`` (when given), outside ``category``
  (when given), or equal to ``context_item`` never appears; with ``exclude_seen`` neither do
  history or session items.
* ``k < 1`` raises ``ValueError``; a ``k`` above the catalog size is clamped to it.
* Unknown item keys in the history, session or context are ignored; an unknown event type raises
  ``InvalidEventError``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommendations.engine.artifact import load_artifact
from recommendations.engine.blend import History, gather_rows, history_vector, top_k_sorted
from recommendations.engine.data import EVENT_CODE, RATING_CODE
from recommendations.engine.errors import InvalidEventError
from recommendations.engine.model import TrainedModel

_BECAUSE = {
    "view": "Because you viewed {t}",
    "click": "Because you viewed {t}",
    "add_to_cart": "Because you added {t} to your cart",
    "purchase": "Because you bought {t}",
    "rating": "Because you rated {t}",
}
_CODE_NAMES = {code: name for name, code in EVENT_CODE.items()}
_VIEW = EVENT_CODE["view"]
# History sources of kind "context" explain with "Similar to"; "history"/"session" with "Because".
_SRC_HISTORY, _SRC_CONTEXT = 0, 1


@dataclass(frozen=True)
class Recommendation:
    item_key: str
    score: float
    reasons: list[str] = field(default_factory=list)


class Recommender:
    """Serves one :class:`TrainedModel`; build once per process (or per artifact version)."""

    def __init__(self, model: TrainedModel) -> None:
        st = model.state
        self.model = model
        self._state = st
        self._n = st.n_items
        self._keys: list[str] = st.item_keys.tolist()
        self._pos = {k: i for i, k in enumerate(self._keys)}
        self._titles = st.titles
        self._categories = st.categories
        self._w_pop = float(st.blend_weights.get("popularity", 0.0))
        self._pop_term = (st.popularity.astype(np.float64) * self._w_pop) if self._w_pop else None
        self._cold = st.popularity.astype(np.float64)
        self._collab = st.collab
        self._content = st.content
        self._code_weight = st.event_weights.per_code()
        self._rating_per_point = st.event_weights.rating_per_point
        self._category_mask: dict[str, np.ndarray] = {}
        cats = np.array(st.categories, dtype=object)
        for cat in sorted(set(st.categories)):
            if cat:
                self._category_mask[cat] = cats == cat
        self._week = st.week_popularity
        self._cat_rank = st.category_week_rank
        self._reason_top_n = st.reason_top_n

    @classmethod
    def from_path(cls, path: str | Path) -> Recommender:
        return cls(load_artifact(path))

    @property
    def item_keys(self) -> list[str]:
        return list(self._keys)

    # ------------------------------------------------------------------ request
    def recommend(
        self,
        *,
        user_history: Sequence[Sequence[object]],
        k: int,
        context_item: str | None = None,
        session_items: Sequence[str] = (),
        category: str | None = None,
        exclude_items: Collection[str] = frozenset(),
        exclude_seen: bool = True,
        active_items: Collection[str] | None = None,
    ) -> list[Recommendation]:
        """Top-``k`` items for one user; see the module docstring for the guarantees.

        ``user_history`` holds ``(item_key, event_type, timestamp)`` or
        ``(item_key, event_type, timestamp, rating_value)`` tuples, any order.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        k = min(int(k), self._n)
        history = self._history(user_history, session_items)
        rows, weights, kinds = history.items, history.weights, np.zeros(history.items.size, dtype=np.int8)
        ctx = self._pos.get(context_item) if context_item is not None else None
        if ctx is not None:
            rows = np.r_[rows, ctx]
            weights = np.r_[weights, self._state.context_weight]
            kinds = np.r_[kinds, _SRC_CONTEXT].astype(np.int8)

        personal = rows.size > 0
        if personal:
            c_src, c_col, c_val = gather_rows(self._collab, rows, weights)
            t_src, t_col, t_val = gather_rows(self._content, rows, weights)
            # bincount of an empty input is int64, hence the explicit float64
            scores = np.bincount(c_col, c_val, minlength=self._n).astype(np.float64)
            scores += np.bincount(t_col, t_val, minlength=self._n)
            if self._pop_term is not None:
                scores += self._pop_term
        else:
            scores = self._cold.copy()

        if category is not None:
            mask = self._category_mask.get(category)
            if mask is None:
                return []
            scores[~mask] = -np.inf
        blocked = [self._pos[key] for key in exclude_items if key in self._pos]
        if ctx is not None:
            blocked.append(ctx)
        if exclude_seen:
            blocked.extend(history.items.tolist())
        if blocked:
            scores[blocked] = -np.inf

        chosen = self._select(scores, k, active_items)
        if not chosen:
            return []
        if not personal:
            return [Recommendation(self._keys[j], float(scores[j]), self._cold_reasons(j, category)) for j in chosen]
        top = np.asarray(chosen, dtype=np.int64)
        collab_best = self._best_source(top, c_src, c_col, c_val)
        content_best = self._best_source(top, t_src, t_col, t_val)
        out = []
        for n, j in enumerate(chosen):
            reasons = self._reasons(j, collab_best[n], content_best[n], rows, kinds, history)
            out.append(Recommendation(self._keys[j], float(scores[j]), reasons))
        return out

    # ------------------------------------------------------------------ helpers
    def _history(self, user_history: Sequence[Sequence[object]], session_items: Sequence[str]) -> History:
        items: list[int] = []
        codes: list[int] = []
        wts: list[float] = []
        stamps: list[float] = []
        for entry in user_history:
            if len(entry) not in (3, 4):
                raise InvalidEventError("a history entry is (item_key, event_type, timestamp[, value])")
            key, event, ts = entry[0], entry[1], entry[2]
            code = EVENT_CODE.get(event)  # type: ignore[arg-type]
            if code is None:
                raise InvalidEventError(f"unknown event type {event!r}")
            t = float(ts)  # type: ignore[arg-type]
            if not math.isfinite(t):
                raise InvalidEventError("history timestamps must be finite")
            pos = self._pos.get(key)  # type: ignore[arg-type]
            if pos is None:
                continue
            weight = self._code_weight[code]
            if code == RATING_CODE and len(entry) == 4 and entry[3] is not None:
                weight = self._rating_per_point * max(float(entry[3]), 0.0)  # type: ignore[arg-type]
            items.append(pos)
            codes.append(code)
            wts.append(weight)
            stamps.append(t)
        if session_items:
            # Session items are the freshest views: stamp them just after the newest history event.
            now = (max(stamps) if stamps else 0.0) + 1.0
            for key in session_items:
                pos = self._pos.get(key)
                if pos is not None:
                    items.append(pos)
                    codes.append(_VIEW)
                    wts.append(self._code_weight[_VIEW])
                    stamps.append(now)
        return history_vector(
            np.asarray(items, dtype=np.int64),
            np.asarray(codes, dtype=np.int8),
            np.asarray(wts, dtype=np.float64),
            np.asarray(stamps, dtype=np.float64),
            self._state.history,
        )

    def _select(self, scores: np.ndarray, k: int, active: Collection[str] | None) -> list[int]:
        """Best ``k`` positive-score items; with ``active`` filter lazily, widening the pool as needed."""
        pool = k if active is None else min(self._n, 4 * k + 16)
        while True:
            cand = top_k_sorted(scores, pool)
            out: list[int] = []
            for j in cand.tolist():
                if not scores[j] > 0:
                    return out
                if active is None or self._keys[j] in active:
                    out.append(j)
                    if len(out) == k:
                        return out
            if pool >= self._n:
                return out
            pool = min(self._n, pool * 4)

    @staticmethod
    def _best_source(top: np.ndarray, src: np.ndarray, col: np.ndarray, val: np.ndarray) -> list[tuple[int, float]]:
        """For each item in ``top``: (source position, contribution) of its largest vote, or (-1, 0)."""
        best: list[tuple[int, float]] = [(-1, 0.0)] * top.size
        if col.size == 0:
            return best
        keep = np.isin(col, top)
        if not keep.any():
            return best
        s, c, v = src[keep], col[keep], val[keep]
        order = np.lexsort((s, -v, c))  # per item: largest vote first, then earliest source
        s, c, v = s[order], c[order], v[order]
        first = np.r_[True, c[1:] != c[:-1]]
        lookup = {int(ci): (int(si), float(vi)) for si, ci, vi in zip(s[first], c[first], v[first], strict=True)}
        return [lookup.get(int(j), (-1, 0.0)) for j in top]

    def _reasons(
        self,
        j: int,
        collab: tuple[int, float],
        content: tuple[int, float],
        rows: np.ndarray,
        kinds: np.ndarray,
        history: History,
    ) -> list[str]:
        pop_part = self._w_pop * float(self._cold[j])
        reasons: list[str] = []
        best_src, best_val, via_content = collab[0], collab[1], False
        if content[1] > best_val:
            best_src, best_val, via_content = content[0], content[1], True
        if best_src >= 0 and best_val >= pop_part:
            title = self._titles[int(rows[best_src])]
            if via_content or kinds[best_src] == _SRC_CONTEXT:
                reasons.append(f"Similar to {title}")
            else:
                verb = _CODE_NAMES[int(history.strongest_code[best_src])]
                reasons.append(_BECAUSE[verb].format(t=title))
        popular = self._popular_reason(j)
        if popular:
            reasons.append(popular)
        if not reasons:
            reasons.append("Trending now")
        return reasons

    def _popular_reason(self, j: int) -> str | None:
        cat = self._categories[j]
        if cat and 0 <= self._cat_rank[j] < self._reason_top_n:
            return f"Popular in {cat} this week"
        return None

    def _cold_reasons(self, j: int, category: str | None) -> list[str]:
        # Cold start ranks by recency-decayed popularity, which is what "trending" means here.
        if category is None:
            return ["Trending now"]
        return [self._popular_reason(j) or f"Popular in {category}"]
