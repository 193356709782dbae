"""InteractionData: index mapping, weights, matrix, timestamps, snapshot hash."""

from __future__ import annotations

import numpy as np
import pytest

from recommendations.engine import EventWeights, InteractionData, InvalidEventError, ItemMeta

EVENTS = [
    ("u2", "b", "view", None, 10.0),
    ("u1", "a", "purchase", None, 20.0),
    ("u1", "a", "view", None, 5.0),
    ("u1", "c", "rating", 4.0, 30.0),
    ("u2", "c", "rating", None, 40.0),
    ("u2", "b", "add_to_cart", None, 50.0),
]


def test_indices_are_sorted_and_contiguous_with_catalog_only_items() -> None:
    data = InteractionData.from_events(EVENTS, items=[ItemMeta("z", title="Zed", category="Toys")])
    assert data.user_keys.tolist() == ["u1", "u2"]
    assert data.item_keys.tolist() == ["a", "b", "c", "z"]  # z has metadata but no events
    assert data.n_events == 6
    assert data.items["z"].display_title == "Zed"
    assert data.items["a"].display_title == "a"
    assert data.max_timestamp == 50.0


def test_matrix_sums_configured_weights() -> None:
    weights = EventWeights(view=1, click=2, add_to_cart=4, purchase=8, rating_per_point=2, rating_default_value=3)
    data = InteractionData.from_events(EVENTS, event_weights=weights)
    m = data.matrix.toarray()
    assert m.shape == (2, 3)
    assert m[0].tolist() == [9.0, 0.0, 8.0]  # purchase 8 + view 1; rating 4 * 2
    assert m[1].tolist() == [0.0, 5.0, 6.0]  # view 1 + cart 4; default rating 3 * 2


def test_invalid_events_are_rejected() -> None:
    with pytest.raises(InvalidEventError, match="unknown event type"):
        InteractionData.from_events([("u", "a", "like", None, 1.0)])
    with pytest.raises(InvalidEventError, match="finite"):
        InteractionData.from_events([("u", "a", "view", None, float("nan"))])
    with pytest.raises(InvalidEventError, match="empty"):
        InteractionData.from_events([("", "a", "view", None, 1.0)])
    with pytest.raises(InvalidEventError, match="rating"):
        InteractionData.from_events([("u", "a", "rating", -1.0, 1.0)])
    with pytest.raises(ValueError):
        EventWeights(view=-1)


def test_snapshot_hash_is_order_independent_and_content_sensitive() -> None:
    base = InteractionData.from_events(EVENTS).snapshot_hash()
    shuffled = list(reversed(EVENTS))
    assert InteractionData.from_events(shuffled).snapshot_hash() == base
    changed = [*EVENTS[:-1], ("u2", "b", "purchase", None, 50.0)]
    assert InteractionData.from_events(changed).snapshot_hash() != base
    with_meta = InteractionData.from_events(EVENTS, items=[ItemMeta("a", title="Apple")])
    assert with_meta.snapshot_hash() != base
    heavier = InteractionData.from_events(EVENTS, event_weights=EventWeights(view=3))
    assert heavier.snapshot_hash() != base


def test_from_arrays_matches_from_events() -> None:
    cols = list(zip(*EVENTS, strict=True))
    data = InteractionData.from_arrays(
        user_keys=np.array(cols[0]),
        item_keys=np.array(cols[1]),
        event_types=np.array(cols[2]),
        values=list(cols[3]),
        timestamps=np.array(cols[4]),
    )
    assert data.snapshot_hash() == InteractionData.from_events(EVENTS).snapshot_hash()
    assert data.content_texts() == ["a", "b", "c"]
