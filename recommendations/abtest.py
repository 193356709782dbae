"""A/B experiment math: deterministic bucketing, attribution, Wilson score intervals. Pure Python.

Invariants:

* ``bucket(key, user, variants)`` depends only on its arguments: the same user always lands in
  the same variant of an experiment, and the share of users per variant converges to
  ``weight / sum(weights)`` (sha256 is uniform enough for this).
* Attribution credits an event to at most one exposure: the latest exposure of the same user
  that contained the item, was served at or before the event, and is at most ``window_s`` older.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def bucket_point(key: str, user_id: str) -> float:
    """A number in [0, 1) from sha256(experiment key + ":" + user id)."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def bucket(key: str, user_id: str, variants: Sequence[Mapping[str, Any]]) -> str:
    """The variant name for this user; ``variants`` are ``{"name", "weight"}`` with weights > 0."""
    if not variants:
        raise ValueError("an experiment needs at least one variant")
    total = float(sum(float(v["weight"]) for v in variants))
    point = bucket_point(key, user_id) * total
    acc = 0.0
    for v in variants:
        acc += float(v["weight"])
        if point < acc:
            return str(v["name"])
    return str(variants[-1]["name"])  # float rounding at the very top


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 0) when n == 0."""
    if n <= 0:
        return (0.0, 0.0)
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ExposureRow:
    id: int
    variant: str
    user_id: str
    item_ids: tuple[str, ...]
    at: float  # unix seconds


@dataclass(frozen=True)
class EventRow:
    user_id: str
    item_id: str
    type: str
    at: float


@dataclass
class VariantResult:
    name: str
    exposures: int = 0
    users: int = 0
    clicked: int = 0  # exposures with at least one attributed click
    converted: int = 0  # exposures with at least one attributed purchase
    clicks: int = 0
    purchases: int = 0
    _users: set[str] = field(default_factory=set, repr=False)

    def to_dict(self) -> dict[str, Any]:
        ctr_lo, ctr_hi = wilson_interval(self.clicked, self.exposures)
        cv_lo, cv_hi = wilson_interval(self.converted, self.exposures)
        return {
            "variant": self.name,
            "exposures": self.exposures,
            "users": self.users,
            "clicks": self.clicks,
            "purchases": self.purchases,
            "ctr": self.clicked / self.exposures if self.exposures else 0.0,
            "ctr_ci95": [ctr_lo, ctr_hi],
            "conversion_rate": self.converted / self.exposures if self.exposures else 0.0,
            "conversion_ci95": [cv_lo, cv_hi],
        }


def attribute(
    exposures: Iterable[ExposureRow],
    events: Iterable[EventRow],
    *,
    window_s: float,
    variant_names: Sequence[str],
    click_types: Sequence[str] = ("click",),
    conversion_types: Sequence[str] = ("purchase",),
) -> list[VariantResult]:
    """Per-variant exposures, CTR and conversion (see the module docstring for the rule)."""
    results = {name: VariantResult(name) for name in variant_names}
    # (user, item) -> exposures containing that item, sorted by time
    index: dict[tuple[str, str], list[tuple[float, int]]] = {}
    by_id: dict[int, ExposureRow] = {}
    for ex in exposures:
        by_id[ex.id] = ex
        res = results.setdefault(ex.variant, VariantResult(ex.variant))
        res.exposures += 1
        res._users.add(ex.user_id)
        for item in ex.item_ids:
            index.setdefault((ex.user_id, item), []).append((ex.at, ex.id))
    for lst in index.values():
        lst.sort()
    clicked: set[int] = set()
    converted: set[int] = set()
    for ev in events:
        if ev.type not in click_types and ev.type not in conversion_types:
            continue
        cands = index.get((ev.user_id, ev.item_id))
        if not cands:
            continue
        pos = bisect.bisect_right(cands, (ev.at, math.inf)) - 1
        if pos < 0 or ev.at - cands[pos][0] > window_s:
            continue
        ex = by_id[cands[pos][1]]
        res = results[ex.variant]
        if ev.type in click_types:
            res.clicks += 1
            clicked.add(ex.id)
        else:
            res.purchases += 1
            converted.add(ex.id)
    for ex_id in clicked:
        results[by_id[ex_id].variant].clicked += 1
    for ex_id in converted:
        results[by_id[ex_id].variant].converted += 1
    for res in results.values():
        res.users = len(res._users)
    return list(results.values())
