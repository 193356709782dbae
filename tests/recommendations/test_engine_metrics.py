"""Ranking metrics on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.blend import ndcg_from_top, top_k_rows, top_k_sorted
from recommendations.engine.metrics import (
    catalog_coverage,
    evaluate,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

RECS = ["a", "b", "c", "d"]
REL = {"b", "d", "e"}


def test_precision_recall_hit_rate_by_hand() -> None:
    assert precision_at_k(RECS, REL, 3) == pytest.approx(1 / 3)  # only b in a, b, c
    assert precision_at_k(RECS, REL, 4) == pytest.approx(2 / 4)
    assert recall_at_k(RECS, REL, 10) == pytest.approx(2 / 3)  # b, d of b, d, e
    assert hit_rate_at_k(RECS, REL, 10) == 1.0
    assert hit_rate_at_k(RECS, REL, 1) == 0.0


def test_ndcg_by_hand() -> None:
    # hits at ranks 2 and 4: 1/log2(3) + 1/log2(5); ideal: 3 hits at ranks 1..3
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECS, REL, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(RECS, REL, 10) == pytest.approx(0.498190, abs=1e-6)
    assert ndcg_at_k(["x", "b"], {"b"}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["b"], {"b"}, 10) == 1.0


def test_short_list_and_no_hits() -> None:
    assert precision_at_k(["b"], {"b"}, 3) == pytest.approx(1 / 3)  # still divided by k
    assert recall_at_k([], {"b"}, 10) == 0.0
    assert ndcg_at_k(["x", "y"], {"b"}, 10) == 0.0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        precision_at_k(RECS, set(), 3)
    with pytest.raises(ValueError):
        ndcg_at_k(RECS, REL, 0)
    with pytest.raises(ValueError):
        catalog_coverage([RECS], 0, 10)


def test_coverage_by_hand() -> None:
    lists = [["a", "b"], ["b", "c"]]
    assert catalog_coverage(lists, 4, 10) == pytest.approx(3 / 4)
    assert catalog_coverage(lists, 4, 1) == pytest.approx(2 / 4)


def test_evaluate_skips_users_without_relevant_items() -> None:
    report = evaluate([RECS, ["z"], ["e"]], [REL, set(), {"e"}], catalog_size=10)
    assert report.users == 2
    assert report.precision_at_3 == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert report.hit_rate_at_10 == 1.0
    assert report.coverage_at_10 == pytest.approx(5 / 10)  # a, b, c, d, e


def test_vectorised_ndcg_matches_reference() -> None:
    rng = np.random.default_rng(3)
    n_items, users = 30, 40
    top = np.array([rng.permutation(n_items)[:10] for _ in range(users)])
    rows, cols = [], []
    rel_sets = []
    for u in range(users):
        rel = rng.choice(n_items, int(rng.integers(1, 6)), replace=False)
        rel_sets.append(set(rel.tolist()))
        rows += [u] * rel.size
        cols += rel.tolist()
    targets = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users, n_items))
    expected = np.mean([ndcg_at_k(top[u].tolist(), rel_sets[u], 10) for u in range(users)])
    assert ndcg_from_top(top, targets) == pytest.approx(expected)


def test_top_k_orders_by_score_then_index() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9])
    assert top_k_sorted(scores, 3).tolist() == [1, 4, 0]
    assert top_k_sorted(scores, 4).tolist() == [1, 4, 0, 2]
    assert top_k_rows(scores[None, :], 2).tolist() == [[1, 4]]
    assert top_k_sorted(scores, 99).tolist() == [1, 4, 0, 2, 3]
