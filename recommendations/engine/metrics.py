"""Top-k ranking metrics with binary relevance.

Conventions (stated because papers differ):

* ``recommended`` is a ranked list, best first; only its first ``k`` entries count, and a list
  shorter than ``k`` simply has fewer hits (precision still divides by ``k``).
* ``recall@k`` divides by ``|relevant|`` (not ``min(k, |relevant|)``).
* ``ndcg@k`` uses gain 1 / log2(rank + 1) with rank starting at 1; the ideal DCG places
  ``min(k, |relevant|)`` hits first.
* A user with no relevant items has no defined score; :func:`evaluate` skips such users and the
  per-user functions raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Sequence
from dataclasses import asdict, dataclass


def _check(k: int, relevant: Collection[Hashable]) -> None:
    if k < 1:
        raise ValueError("k must be >= 1")
    if not relevant:
        raise ValueError("relevant must not be empty")


def _hits(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> int:
    return sum(1 for item in recommended[:k] if item in relevant)


def precision_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    _check(k, relevant)
    return _hits(recommended, relevant, k) / k


def recall_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    _check(k, relevant)
    return _hits(recommended, relevant, k) / len(relevant)


def hit_rate_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    _check(k, relevant)
    return 1.0 if _hits(recommended, relevant, k) else 0.0


def ndcg_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    _check(k, relevant)
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal


def catalog_coverage(recommendation_lists: Sequence[Sequence[Hashable]], catalog_size: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top-k list."""
    if catalog_size < 1:
        raise ValueError("catalog_size must be >= 1")
    shown = {item for recs in recommendation_lists for item in recs[:k]}
    return len(shown) / catalog_size


@dataclass(frozen=True)
class RankingMetrics:
    """Means over evaluated users (users with at least one relevant item)."""

    precision_at_3: float
    recall_at_10: float
    ndcg_at_10: float
    hit_rate_at_10: float
    coverage_at_10: float
    users: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def evaluate(
    recommendation_lists: Sequence[Sequence[Hashable]],
    relevant_sets: Sequence[Collection[Hashable]],
    catalog_size: int,
) -> RankingMetrics:
    """The standard report: precision@3, recall@10, NDCG@10, hit-rate@10, coverage@10."""
    if len(recommendation_lists) != len(relevant_sets):
        raise ValueError("one recommendation list per relevant set")
    pairs = [(recs, rel) for recs, rel in zip(recommendation_lists, relevant_sets, strict=True) if rel]
    n = len(pairs)
    if n == 0:
        return RankingMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    return RankingMetrics(
        precision_at_3=sum(precision_at_k(r, t, 3) for r, t in pairs) / n,
        recall_at_10=sum(recall_at_k(r, t, 10) for r, t in pairs) / n,
        ndcg_at_10=sum(ndcg_at_k(r, t, 10) for r, t in pairs) / n,
        hit_rate_at_10=sum(hit_rate_at_k(r, t, 10) for r, t in pairs) / n,
        coverage_at_10=catalog_coverage([r for r, _ in pairs], catalog_size, 10),
        users=n,
    )
