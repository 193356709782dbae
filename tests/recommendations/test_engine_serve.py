"""Training + serving on a synthetic co-purchase catalog where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recommendations.engine import (
    InteractionData,
    InvalidEventError,
    ItemMeta,
    Recommender,
    TrainedModel,
    TrainingError,
    TrainParams,
    train,
)

from .conftest import DAY, N_PAIRS


@pytest.fixture(scope="module")
def rec(pair_model: TrainedModel) -> Recommender:
    return Recommender(pair_model)


def test_buyer_of_one_side_gets_the_partner_with_a_grounded_reason(rec: Recommender) -> None:
    for p in range(N_PAIRS):
        for mine, partner in (("a", "b"), ("b", "a")):
            recs = rec.recommend(user_history=[(f"p{p}{mine}", "purchase", 100 * DAY)], k=3)
            assert recs[0].item_key == f"p{p}{partner}", (p, mine, recs)
            assert recs[0].reasons[0] == f"Because you bought Pair {p} item {mine.upper()}"
            assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)


def test_reason_verb_follows_the_strongest_event(rec: Recommender) -> None:
    viewed = rec.recommend(user_history=[("p3a", "view", 1.0)], k=1)
    assert viewed[0].item_key == "p3b"
    assert viewed[0].reasons[0] == "Because you viewed Pair 3 item A"
    carted = rec.recommend(user_history=[("p3a", "view", 1.0), ("p3a", "add_to_cart", 2.0)], k=1)
    assert carted[0].reasons[0] == "Because you added Pair 3 item A to your cart"
    rated = rec.recommend(user_history=[("p3a", "rating", 1.0, 5.0)], k=1)
    assert rated[0].reasons[0] == "Because you rated Pair 3 item A"


def test_the_history_item_that_contributed_most_is_named(rec: Recommender) -> None:
    history = [("p2a", "purchase", 10.0), ("p5a", "purchase", 11.0)]
    recs = rec.recommend(user_history=history, k=4)
    by_key = {r.item_key: r for r in recs}
    assert {"p2b", "p5b"} <= set(by_key), recs
    assert by_key["p2b"].reasons[0] == "Because you bought Pair 2 item A"
    assert by_key["p5b"].reasons[0] == "Because you bought Pair 5 item A"


def test_cold_start_is_popularity_with_trending_reason(rec: Recommender, pair_data: InteractionData) -> None:
    recs = rec.recommend(user_history=[], k=4)
    assert [r.item_key for r in recs][:2] in (["p0a", "p0b"], ["p0b", "p0a"])  # p0 is the most bought pair
    assert all(r.reasons == ["Trending now"] for r in recs)
    unknown_only = rec.recommend(user_history=[("not-in-catalog", "purchase", 1.0)], k=4)
    assert [r.item_key for r in unknown_only] == [r.item_key for r in recs]


def test_category_filter(rec: Recommender) -> None:
    cold = rec.recommend(user_history=[], k=5, category="Garden")
    assert len(cold) == 5
    assert all(int(r.item_key[1:-1]) % 2 == 1 for r in cold)
    assert cold[0].reasons == ["Popular in Garden this week"]
    personal = rec.recommend(user_history=[("p2a", "purchase", 1.0)], k=5, category="Garden")
    assert personal and all(int(r.item_key[1:-1]) % 2 == 1 for r in personal)
    assert rec.recommend(user_history=[], k=5, category="No such category") == []


def test_exclude_seen_and_excluded_items(rec: Recommender) -> None:
    history = [("p1a", "purchase", 1.0), ("p1b", "view", 2.0)]
    seen_out = [r.item_key for r in rec.recommend(user_history=history, k=24)]
    assert "p1a" not in seen_out and "p1b" not in seen_out
    seen_in = [r.item_key for r in rec.recommend(user_history=[("p1a", "purchase", 1.0)], k=3, exclude_seen=False)]
    assert "p1b" in seen_in
    excluded = [r.item_key for r in rec.recommend(user_history=[("p1a", "purchase", 1.0)], k=24, exclude_items={"p1b"})]
    assert "p1b" not in excluded and excluded


def test_inactive_items_never_appear(rec: Recommender) -> None:
    everything = [r.item_key for r in rec.recommend(user_history=[("p4a", "purchase", 1.0)], k=24)]
    active = set(everything[3:6])
    recs = rec.recommend(user_history=[("p4a", "purchase", 1.0)], k=10, active_items=active)
    assert {r.item_key for r in recs} == active
    assert rec.recommend(user_history=[], k=3, active_items=set()) == []


def test_context_and_session_items(rec: Recommender) -> None:
    recs = rec.recommend(user_history=[], k=3, context_item="p6a")
    assert recs[0].item_key == "p6b"
    assert recs[0].reasons[0] == "Similar to Pair 6 item A"
    assert "p6a" not in [r.item_key for r in recs]
    session = rec.recommend(user_history=[], k=1, session_items=["p7b"])
    assert session[0].item_key == "p7a"
    assert session[0].reasons[0] == "Because you viewed Pair 7 item B"


def test_k_bounds(rec: Recommender) -> None:
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError):
            rec.recommend(user_history=[], k=bad)  # type: ignore[arg-type]
    everything = rec.recommend(user_history=[], k=10**9)
    assert 0 < len(everything) <= len(rec.item_keys)
    assert len({r.item_key for r in everything}) == len(everything)
    assert all(r.score > 0 for r in everything)


def test_bad_history_entries_raise(rec: Recommender) -> None:
    with pytest.raises(InvalidEventError):
        rec.recommend(user_history=[("p1a", "like", 1.0)], k=3)
    with pytest.raises(InvalidEventError):
        rec.recommend(user_history=[("p1a", "view")], k=3)  # type: ignore[list-item]


def test_no_events_raises_training_error() -> None:
    empty = InteractionData.from_events([], items=[ItemMeta("a")])
    with pytest.raises(TrainingError, match="no events to train on"):
        train(empty)


def test_single_item_trains_a_popularity_only_model() -> None:
    data = InteractionData.from_events([("u1", "only", "purchase", None, 1.0), ("u2", "only", "view", None, 2.0)])
    model = train(data)
    assert model.metrics["validation_users"] == 0
    assert model.state.collab.nnz == 0
    rec = Recommender(model)
    cold = rec.recommend(user_history=[], k=5)
    assert [(r.item_key, r.reasons) for r in cold] == [("only", ["Trending now"])]
    assert rec.recommend(user_history=[("only", "purchase", 3.0)], k=5) == []


def test_validation_metrics_and_weights_are_reported(pair_model: TrainedModel) -> None:
    m = pair_model.metrics
    assert m["validation_users"] > 100
    blend = m["blend"]
    assert blend["hit_rate_at_10"] > 0.9  # the partner is the held-out last purchase
    assert blend["ndcg_at_10"] >= m["components"]["popularity"]["ndcg_at_10"]
    assert set(pair_model.state.blend_weights) == {"popularity", "itemknn", "ease", "content"}
    assert pair_model.data_hash and pair_model.timing["total_s"] > 0


def test_time_validation_and_bad_arguments(pair_data: InteractionData) -> None:
    model = train(pair_data, validation="time")
    assert model.metrics["validation"] == "time" and model.metrics["validation_users"] > 0
    with pytest.raises(ValueError):
        train(pair_data, validation="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        train(pair_data, embeddings=np.zeros((3, 4)))
    with pytest.raises(ValueError):
        train(pair_data, TrainParams(fixed_weights={"magic": 1.0}))


def test_training_is_deterministic(pair_data: InteractionData, pair_model: TrainedModel) -> None:
    again = train(InteractionData.from_events(list(reversed(_events(pair_data))), items=pair_data.items))
    assert again.data_hash == pair_model.data_hash
    assert again.state.blend_weights == pair_model.state.blend_weights
    assert again.metrics == pair_model.metrics
    for name in ("collab", "content"):
        a, b = getattr(again.state, name), getattr(pair_model.state, name)
        assert (a != b).nnz == 0
    assert np.array_equal(again.state.popularity, pair_model.state.popularity)


def _events(data: InteractionData) -> list[tuple[str, str, str, float | None, float]]:
    from recommendations.engine.data import EVENT_TYPES

    return [
        (data.user_keys[u], data.item_keys[i], EVENT_TYPES[c], None if np.isnan(v) else float(v), float(t))
        for u, i, c, v, t in zip(data.user_idx, data.item_idx, data.event_code, data.value, data.timestamp, strict=True)
    ]
