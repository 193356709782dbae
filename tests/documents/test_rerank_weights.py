"""The shipped reranker weights (documents/rerank_weights.json) and their provenance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from documents.rerank import FEATURES, WEIGHTS_PATH, load_model
from tests.documents.conftest import SHARED_DATA


def test_shipped_weights_were_fitted_on_the_tune_half_only() -> None:
    model = load_model()
    assert model is not None, f"{WEIGHTS_PATH} is missing; run bench/train_reranker.py"
    assert set(model.weights) == set(FEATURES)
    # the recorded hash is that of the tune rows as committed (bench/qa_retrieval_lib.rows_hash)
    rows = [
        json.loads(line)
        for line in (Path(__file__).resolve().parents[2] / "bench/data/qa_eval/questions.jsonl")
        .read_text()
        .splitlines()
        if line.strip()
    ]
    h = hashlib.sha256()
    for r in (r for r in rows if r["split"] == "tune"):
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    assert model.meta["tune_rows_sha256"] == h.hexdigest()
    assert "split=tune" in str(model.meta["trained_on"])
    extra = model.meta.get("extra_rows_sha256")
    if extra is not None:
        # the only other rows it may see: the shared dev set and the validation set, in that
        # order (bench/train_reranker.py --extra-questions dev.jsonl --extra-questions
        # validation.jsonl); none of their questions is in either half
        dev_path = SHARED_DATA / "qa" / "dev.jsonl"
        val_path = Path(__file__).resolve().parents[2] / "bench/data/qa_eval/validation.jsonl"
        extra_rows = [
            json.loads(line) for path in (dev_path, val_path) for line in path.read_text().splitlines() if line.strip()
        ]
        d = hashlib.sha256()
        for r in extra_rows:
            d.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode())
            d.update(b"\n")
        assert extra == d.hexdigest()
        assert not any(r.get("split") == "test" for r in extra_rows)
        assert not {r["question"] for r in extra_rows} & {r["question"] for r in rows}
