"""Reciprocal Rank Fusion on hand-computed examples."""

from __future__ import annotations

import pytest

from documents.fusion import rrf


def test_rrf_hand_example() -> None:
    # k=60: a = 1/61 + 1/62, b = 1/62 + 1/61, c = 1/63, d = 1/63
    fused = rrf([["a", "b", "c"], ["b", "a", "d"]], k=60)
    ids = [d for d, _ in fused]
    assert ids == ["a", "b", "c", "d"]  # a/b tie -> best rank tie -> first seen; c/d same
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 63)


def test_rrf_weights_and_missing_ids() -> None:
    fused = dict(rrf([["x", "y"], ["y"]], k=1, weights=[1.0, 3.0]))
    assert fused["x"] == pytest.approx(1 / 2)
    assert fused["y"] == pytest.approx(1 / 3 + 3 / 2)


def test_rrf_duplicate_in_one_list_counts_once_and_deterministic() -> None:
    fused = rrf([["a", "a", "b"]], k=0)
    assert fused == [("a", 1.0), ("b", pytest.approx(1 / 3))]
    # Unorderable ids (mixed types) are fine: ties never compare ids.
    assert [d for d, _ in rrf([[1, "1", (1,)]])] == [1, "1", (1,)]
    assert rrf([["p", "q"], ["q", "p"]]) == rrf([["p", "q"], ["q", "p"]])


def test_rrf_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 2.0])
    with pytest.raises(ValueError):
        rrf([["a"]], k=-1)
    assert rrf([]) == []
