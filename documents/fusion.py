"""Reciprocal Rank Fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

``score(d) = sum_i w_i / (k + rank_i(d))`` with 1-based ranks; a document absent from a ranking
contributes nothing for it.

Invariants: the output is deterministic for equal inputs. Ties on score are broken by the best
(lowest) rank the id reached in any ranking, then by first appearance (ranking order, then
position), never by comparing ids, so ids only need to be hashable.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

__all__ = ["rrf"]


def rrf(
    rankings: Sequence[Sequence[Hashable]],
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Fuse ranked id lists into one list of ``(id, score)`` sorted best first.

    A repeated id inside one ranking counts once, at its first (best) position.
    Raises ValueError if ``k`` < 0, if ``weights`` has a different length than ``rankings``, or if
    a weight is negative.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    if any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0")

    scores: dict[Hashable, float] = {}
    best_rank: dict[Hashable, int] = {}
    first_seen: dict[Hashable, tuple[int, int]] = {}
    for li, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        seen_here: set[Hashable] = set()
        for pos, doc_id in enumerate(ranking):
            if doc_id in seen_here:
                continue
            seen_here.add(doc_id)
            rank = pos + 1
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
            best_rank[doc_id] = min(best_rank.get(doc_id, rank), rank)
            first_seen.setdefault(doc_id, (li, pos))
    # Rounded so that float summation order (1/61 + 1/62 vs 1/62 + 1/61) cannot break a tie.
    order = sorted(scores, key=lambda d: (-round(scores[d], 12), best_rank[d], first_seen[d]))
    return [(d, scores[d]) for d in order]
