"""Artifact round-trip, integrity checks, and validation/serving consistency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommendations.engine import (
    FORMAT_VERSION,
    ArtifactError,
    InteractionData,
    Recommender,
    TrainedModel,
    TrainParams,
    load_artifact,
    read_meta,
    save_artifact,
    train,
)
from recommendations.engine.blend import rank_for_validation
from recommendations.engine.data import EVENT_TYPES
from recommendations.engine.train import _fit_components, _validation_set, split

REQUESTS = [
    {"user_history": [], "k": 5},
    {"user_history": [], "k": 5, "category": "Kitchen"},
    {"user_history": [("p3a", "purchase", 1.0), ("p8b", "view", 2.0)], "k": 6},
    {"user_history": [("p1a", "rating", 1.0, 4.0)], "k": 3, "context_item": "p9b"},
    {"user_history": [("p0a", "purchase", 1.0)], "k": 10, "exclude_seen": False, "session_items": ["p4a"]},
]


def test_round_trip_gives_identical_recommendations(pair_model: TrainedModel, tmp_path: Path) -> None:
    path = save_artifact(pair_model, tmp_path / "v1")
    assert sorted(p.name for p in path.iterdir()) == ["meta.json", "model.npz"]
    with np.load(path / "model.npz", allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
    loaded = load_artifact(path)
    assert loaded.data_hash == pair_model.data_hash
    assert loaded.metrics == json.loads(json.dumps(pair_model.metrics))
    assert loaded.state.blend_weights == pair_model.state.blend_weights
    before, after = Recommender(pair_model), Recommender.from_path(path)
    for request in REQUESTS:
        assert before.recommend(**request) == after.recommend(**request)  # type: ignore[arg-type]
    meta = read_meta(path)
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["params"]["knn_neighbours"] == 100


def test_existing_path_is_never_overwritten(pair_model: TrainedModel, tmp_path: Path) -> None:
    save_artifact(pair_model, tmp_path / "v1")
    with pytest.raises(ArtifactError, match="exists"):
        save_artifact(pair_model, tmp_path / "v1")
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]  # no temporary directory left behind


def test_corrupt_or_foreign_artifacts_are_refused(pair_model: TrainedModel, tmp_path: Path) -> None:
    path = save_artifact(pair_model, tmp_path / "v1")
    npz = path / "model.npz"
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(path)

    other = save_artifact(pair_model, tmp_path / "v2")
    meta = json.loads((other / "meta.json").read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format version"):
        load_artifact(other)
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path / "missing")


def _history_tuples(data: InteractionData, user: int) -> list[tuple[str, str, float]]:
    ev = np.flatnonzero(data.user_idx == user)
    return [(data.item_keys[data.item_idx[e]], EVENT_TYPES[data.event_code[e]], float(data.timestamp[e])) for e in ev]


def test_validation_ranking_equals_serving_ranking(pair_data: InteractionData) -> None:
    """The batch path used to pick weights must rank exactly like recommend() does."""
    weights = {"popularity": 0.1, "itemknn": 1.0, "ease": 0.5}
    params = TrainParams(fixed_weights=weights)
    sp_ = split(pair_data, "leave_last_out", params)
    comps = _fit_components(sp_.train, params, None, sp_.train.max_timestamp)
    val = _validation_set(sp_, comps, params.history_config())
    top = rank_for_validation(val, weights, 5)
    served = Recommender(train(sp_.train, TrainParams(fixed_weights=weights)))
    same = 0
    for row, user in enumerate(sp_.users.tolist()):
        expected = [sp_.train.item_keys[j] for j in top[row] if j >= 0]
        got = [r.item_key for r in served.recommend(user_history=_history_tuples(sp_.train, user), k=5)]
        same += got == expected
    assert same / sp_.users.size >= 0.97  # float32 sums may reorder near-ties only
