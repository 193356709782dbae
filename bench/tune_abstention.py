"""Choose the extractive answerer's abstention thresholds on the TUNE half of the held-out set.

    python bench/tune_abstention.py [--write]

Ingests ``shared/data/docs/good`` through the real product path (as ``bench/qa_eval.py`` does),
retrieves once per ``tune`` question with the product's retrieval, then answers the same chunks
with every configuration of the grid below and scores them with ``bench/qa_eval_lib.py``.
The objective is overall correctness on the tune half (answerable rows answered correctly plus
unanswerable rows declined, over all rows); ties go to the higher abstention precision, then to
the earlier (more lenient) grid point. ``--write`` stores the winner in
``qa/answering/abstention.json`` with the sha256 of the tune half's rows, which
``qa.answering.extractive.ExtractiveConfig`` reads as its defaults. The ``test`` half is never
read here.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qa_common import REPO, setup_django, start_milvus
from qa_eval import _workdir, tenant_and_docs
from qa_eval_lib import aggregate, load_questions, score_row

OUT = REPO / "qa" / "answering" / "abstention.json"
GRID = {
    "min_support": [0.15, 0.2, 0.25, 0.3, 0.4, 0.5],
    "type_floor": [0.3, 0.5, 0.7],
    "entity_scope": ["document", "mixed", "local"],
}


def split_hash(rows: list[dict[str, Any]]) -> str:
    text = "\n".join(json.dumps(r, sort_keys=True) for r in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help=f"write the winner to {OUT.relative_to(REPO)}")
    ap.add_argument("--workdir", type=Path, help="reuse bench/qa_eval.py --workdir's ingestion")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = _workdir(stack, args.workdir)
        setup_django(tmp)
        start_milvus(stack, tmp)
        run(args)


def run(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from qa.answering.citations import validate_citations
    from qa.answering.extractive import ExtractiveConfig, answer_extractive
    from qa.services.ask import qa_prepare
    from qa.services.pipeline import retrieve

    tenant, actor, docs = tenant_and_docs()
    rows = load_questions(split="tune")
    assert all(r["split"] == "tune" for r in rows)
    retrieved = []
    for row in rows:
        trace = qa_prepare(tenant=tenant, actor=actor, question=row["question"])
        retrieve(trace, None)
        retrieved.append(trace.chunks)

    keys = list(GRID)
    results = []
    base = ExtractiveConfig()
    for values in itertools.product(*(GRID[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        min_support = params.pop("min_support")
        cfg = replace(base, **params)
        scores = []
        for row, chunks in zip(rows, retrieved, strict=True):
            body: dict[str, Any] = {"answer": "", "found": False, "citations": []}
            if chunks:
                ans = answer_extractive(row["question"], chunks, min_support=min_support, config=cfg)
                if ans.found:
                    texts = {c.chunk_id: c.text for c in chunks}
                    v = validate_citations(ans.text, ans.citations, set(texts), chunk_texts=texts)
                    body = {
                        "answer": v.text,
                        "found": bool(v.citations),
                        "citations": [{"document_id": c.document_id, "page": c.page} for c in v.citations],
                    }
            scores.append(score_row(row, body, doc_ids=docs))
        agg = aggregate(scores)
        results.append(({"min_support": min_support, **params}, agg))

    def key(item: tuple[dict[str, Any], dict[str, Any]]) -> tuple[float, float]:
        agg = item[1]
        return (agg["overall_correct"] or 0.0, agg["abstention_precision"] or 0.0)

    ranked = sorted(results, key=key, reverse=True)  # stable: the earlier grid point wins ties
    print(
        "| min_support | type_floor | require_type | require_entities | entity_scope | overall | correct | abst. P | abst. R |"
    )
    print("|---:|---:|---|---|---|---:|---:|---:|---:|")
    for params, agg in ranked[:12]:
        print(
            f"| {params['min_support']} | {params['type_floor']} | {params['entity_scope']} | "
            f"{agg['overall_correct']:.1%} | "
            f"{agg['answer_correct']:.1%} | {agg['abstention_precision'] or 0:.1%} | {agg['abstention_recall'] or 0:.1%} |"
        )
    best, agg = ranked[0]
    print(f"\nchosen on tune ({len(rows)} rows): {best}")
    if args.write:
        payload = {
            "chosen_by": "bench/tune_abstention.py",
            "split": "tune",
            "split_rows": len(rows),
            "split_sha256": split_hash(rows),
            "objective": "overall correctness on tune (answered right + declined unanswerable)",
            "tune_figures": {
                k: agg[k] for k in ("overall_correct", "answer_correct", "abstention_precision", "abstention_recall")
            },
            "values": best,
        }
        OUT.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
