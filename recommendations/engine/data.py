"""Interaction data: events mapped to contiguous indices, plus item metadata.

Invariants of :class:`InteractionData`:

* ``item_keys`` and ``user_keys`` are sorted, unique ``str`` arrays; an item or user index is a
  position in them. Items with metadata but no events are part of the catalog (content
  similarity can still recommend them).
* Events are stored in one canonical order (timestamp, user, item, event type, value), so the same
  multiset of events gives the same arrays, the same matrix and the same ``snapshot_hash()``
  whatever order the caller fed them in.
* Every event weight is finite and >= 0; every timestamp is finite (seconds, any epoch).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.errors import InvalidEventError

# Order matters: the position is the stored event code.
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "rating")
EVENT_CODE: dict[str, int] = {name: code for code, name in enumerate(EVENT_TYPES)}
RATING_CODE = EVENT_CODE["rating"]


@dataclass(frozen=True)
class EventWeights:
    """How much one event counts; a rating weighs ``rating_per_point * value``.

    A rating without a value counts as ``rating_default_value`` points.
    """

    view: float = 1.0
    click: float = 2.0
    add_to_cart: float = 4.0
    purchase: float = 8.0
    rating_per_point: float = 1.6
    rating_default_value: float = 3.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"event weight {name} must be finite and >= 0, got {value!r}")

    def per_code(self) -> np.ndarray:
        """Weights indexed by event code; the rating entry is the weight of a default rating."""
        return np.array(
            [
                self.view,
                self.click,
                self.add_to_cart,
                self.purchase,
                self.rating_per_point * self.rating_default_value,
            ],
            dtype=np.float64,
        )

    def weights_for(self, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Vectorised event weights; ``values`` is NaN where an event carries no value."""
        weights = self.per_code()[codes]
        is_rating = (codes == RATING_CODE) & ~np.isnan(values)
        weights[is_rating] = self.rating_per_point * values[is_rating]
        return weights

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EventWeights:
        return cls(**{k: float(v) for k, v in raw.items()})


@dataclass(frozen=True)
class ItemMeta:
    """Catalog facts about one item, used for reasons, category filters and content text."""

    key: str
    title: str = ""
    category: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    text: str = ""

    @property
    def display_title(self) -> str:
        return self.title or self.key

    def content_text(self) -> str:
        """Text to embed for content similarity (the caller computes the embeddings)."""
        parts = [self.title, self.category, ", ".join(self.tags), self.text]
        return ". ".join(p for p in parts if p)


def _as_str_array(values: Iterable[Any] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values))
    if arr.ndim != 1:
        raise InvalidEventError(f"{what} must be one-dimensional")
    arr = arr.astype(str)
    if arr.size and (np.char.str_len(arr) == 0).any():
        raise InvalidEventError(f"{what} must not contain empty keys")
    return arr


class InteractionData:
    """Events of users on items, mapped to contiguous indices (see the module docstring)."""

    def __init__(
        self,
        *,
        user_keys: np.ndarray,
        item_keys: np.ndarray,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        event_code: np.ndarray,
        value: np.ndarray,
        timestamp: np.ndarray,
        items: Mapping[str, ItemMeta],
        event_weights: EventWeights,
    ) -> None:
        # Callers go through from_events/from_arrays/subset, which establish the invariants.
        self.user_keys = user_keys
        self.item_keys = item_keys
        self.user_idx = user_idx
        self.item_idx = item_idx
        self.event_code = event_code
        self.value = value
        self.timestamp = timestamp
        self.event_weights = event_weights
        self.weight = event_weights.weights_for(event_code, value)
        self.items: dict[str, ItemMeta] = {k: items.get(k) or ItemMeta(key=k) for k in item_keys.tolist()}

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_events(
        cls,
        events: Iterable[Sequence[Any]],
        *,
        items: Mapping[str, ItemMeta] | Iterable[ItemMeta] = (),
        event_weights: EventWeights | None = None,
    ) -> InteractionData:
        """Build from ``(user_key, item_key, event_type, value, timestamp)`` tuples."""
        rows = list(events)
        for row in rows:
            if len(row) != 5:
                raise InvalidEventError(f"an event is (user, item, event_type, value, timestamp); got {row!r}")
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        return cls.from_arrays(
            user_keys=cols[0],
            item_keys=cols[1],
            event_types=cols[2],
            values=[math.nan if v is None else v for v in cols[3]],
            timestamps=cols[4],
            items=items,
            event_weights=event_weights,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        user_keys: Iterable[Any] | np.ndarray,
        item_keys: Iterable[Any] | np.ndarray,
        event_types: Iterable[str] | np.ndarray,
        values: Iterable[float | None] | np.ndarray | None = None,
        timestamps: Iterable[float] | np.ndarray,
        items: Mapping[str, ItemMeta] | Iterable[ItemMeta] = (),
        event_weights: EventWeights | None = None,
    ) -> InteractionData:
        """Vectorised constructor; ``values`` may be None (no event carries a value) or NaN/None per event."""
        users = _as_str_array(user_keys, "user keys")
        item_arr = _as_str_array(item_keys, "item keys")
        types = np.asarray(event_types if isinstance(event_types, np.ndarray) else list(event_types)).astype(str)
        ts = np.asarray(timestamps if isinstance(timestamps, np.ndarray) else list(timestamps), dtype=np.float64)
        n = users.size
        if values is None:
            vals = np.full(n, np.nan)
        else:
            raw = values if isinstance(values, np.ndarray) else [np.nan if v is None else v for v in values]
            vals = np.asarray(raw, dtype=np.float64)
        if not (item_arr.size == types.size == ts.size == vals.size == n):
            raise InvalidEventError("event columns have different lengths")
        if n and not np.isfinite(ts).all():
            raise InvalidEventError("timestamps must be finite numbers")

        type_names = np.array(EVENT_TYPES)
        order = np.argsort(type_names)
        pos = np.searchsorted(type_names[order], types)
        pos = np.clip(pos, 0, len(EVENT_TYPES) - 1)
        codes = order[pos].astype(np.int8)
        bad = type_names[codes] != types
        if n and bad.any():
            raise InvalidEventError(f"unknown event type {types[bad][0]!r}; expected one of {', '.join(EVENT_TYPES)}")
        rated = codes == RATING_CODE
        if (~rated & ~np.isnan(vals)).any():
            # Values only mean something for ratings; dropping them keeps the hash canonical.
            vals = np.where(rated, vals, np.nan)
        bad_rating = rated & ~np.isnan(vals) & (~np.isfinite(vals) | (vals < 0))
        if bad_rating.any():
            raise InvalidEventError("rating values must be finite and >= 0")

        meta = _index_items(items)
        user_keys_sorted, user_idx = np.unique(users, return_inverse=True)
        all_items = np.unique(np.concatenate([item_arr, np.array(sorted(meta), dtype=str)]))
        item_idx = np.searchsorted(all_items, item_arr)

        sort_value = np.where(np.isnan(vals), -1.0, vals)
        perm = np.lexsort((sort_value, codes, item_idx, user_idx, ts))
        return cls(
            user_keys=user_keys_sorted.astype(str),
            item_keys=all_items.astype(str),
            user_idx=user_idx[perm].astype(np.int32),
            item_idx=item_idx[perm].astype(np.int32),
            event_code=codes[perm],
            value=vals[perm],
            timestamp=ts[perm],
            items=meta,
            event_weights=event_weights or EventWeights(),
        )

    def subset(self, mask: np.ndarray) -> InteractionData:
        """The events selected by ``mask``, keeping the same user and item index spaces."""
        return InteractionData(
            user_keys=self.user_keys,
            item_keys=self.item_keys,
            user_idx=self.user_idx[mask],
            item_idx=self.item_idx[mask],
            event_code=self.event_code[mask],
            value=self.value[mask],
            timestamp=self.timestamp[mask],
            items=self.items,
            event_weights=self.event_weights,
        )

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        return int(self.user_keys.size)

    @property
    def n_items(self) -> int:
        return int(self.item_keys.size)

    @property
    def n_events(self) -> int:
        return int(self.user_idx.size)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """User x item CSR matrix of summed event weights (float32, canonical: sorted, no duplicates)."""
        mat = sp.csr_matrix(
            (self.weight.astype(np.float64), (self.user_idx, self.item_idx)),
            shape=(self.n_users, self.n_items),
        )
        mat.sum_duplicates()
        mat.sort_indices()
        return mat.astype(np.float32)

    @property
    def max_timestamp(self) -> float:
        return float(self.timestamp.max()) if self.n_events else 0.0

    def titles(self) -> list[str]:
        return [self.items[k].display_title for k in self.item_keys.tolist()]

    def categories(self) -> list[str]:
        return [self.items[k].category for k in self.item_keys.tolist()]

    def content_texts(self) -> list[str]:
        """One text per item in index order, for the caller to embed (rows of ``embeddings``)."""
        return [self.items[k].content_text() or k for k in self.item_keys.tolist()]

    def snapshot_hash(self) -> str:
        """SHA-256 of the events, weights and catalog; independent of input order."""
        h = hashlib.sha256(b"recs-interactions-v1\0")
        for arr in (self.item_keys, self.user_keys):
            h.update("\0".join(arr.tolist()).encode())
            h.update(b"\1")
        for arr, dtype in (
            (self.user_idx, "<i4"),
            (self.item_idx, "<i4"),
            (self.event_code, "i1"),
            (self.value, "<f8"),
            (self.timestamp, "<f8"),
        ):
            h.update(np.ascontiguousarray(arr, dtype=dtype).tobytes())
        h.update(json.dumps(self.event_weights.to_dict(), sort_keys=True).encode())
        catalog = [asdict(self.items[k]) for k in self.item_keys.tolist()]
        h.update(json.dumps(catalog, sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()


def _index_items(items: Mapping[str, ItemMeta] | Iterable[ItemMeta]) -> dict[str, ItemMeta]:
    values = items.values() if isinstance(items, Mapping) else items
    out: dict[str, ItemMeta] = {}
    for meta in values:
        if not isinstance(meta, ItemMeta) or not meta.key:
            raise InvalidEventError(f"item metadata must be ItemMeta with a key, got {meta!r}")
        out[meta.key] = ItemMeta(meta.key, meta.title, meta.category, tuple(meta.tags), meta.text)
    return out
