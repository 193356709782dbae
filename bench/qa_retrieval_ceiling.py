"""How often the retrieved passages hold the answer at all: the ceiling of any answerer.

    python bench/qa_retrieval_ceiling.py [--split test|tune | --questions FILE] [--workdir /tmp/qa-work]

For every answerable question of the half, the product's retrieval (``chunks_candidates`` with
both legs, then the shipped reranker over its ``rerank_pool``) is run once; a question counts for
a configuration when one sentence/row unit of its passages (or a whole passage) holds the expected
answer by ``bench/qa_eval_lib.answer_correct``, the scorer ``bench/qa_eval.py`` uses. Printed: the
count for the reranked top 8 (the product's default), 12 and 16, the first-stage (fused) top 8,
and the whole first-stage pool of 30. ``--workdir`` reuses ``bench/qa_eval.py``'s ingestion.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qa_eval import eval_workdir, tenant_and_docs
from qa_eval_lib import answer_correct, load_questions


def holds_answer(row: dict[str, Any], chunks: list[Any]) -> bool:
    from qa.answering.text import split_units

    return any(
        answer_correct(row, c.text) or any(answer_correct(row, c.text[s:e]) for s, e in split_units(c.text))
        for c in chunks
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("test", "tune"), default="test")
    ap.add_argument("--questions", type=Path, help="a question file instead of a half (e.g. validation.jsonl)")
    ap.add_argument("--workdir", type=Path, help="reuse bench/qa_eval.py --workdir's ingestion")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        eval_workdir(stack, args.workdir)
        from documents.rerank import load_model, rerank
        from documents.retrieval import RetrievalConfig, chunks_candidates
        from models_registry.backends import get_embedder, get_vector_store

        tenant, _actor, _docs = tenant_and_docs()
        model = load_model()
        cfg = RetrievalConfig()
        counts: dict[str, int] = {}
        source = load_questions(args.questions) if args.questions else load_questions(split=args.split)
        rows = [r for r in source if r["answerable"]]
        for row in rows:
            cands, _ = chunks_candidates(
                tenant=tenant,
                query=row["question"],
                store=get_vector_store(),
                embedder=get_embedder(),
                config=cfg,
                with_legs=True,
            )
            ranked = rerank(row["question"], cands[: cfg.rerank_pool], model) if model else [c.chunk for c in cands]
            first_stage = [c.chunk for c in cands]
            configs = {
                "reranked top 8 (default)": ranked[:8],
                "reranked top 12": ranked[:12],
                "reranked top 16": ranked[:16],
                "first stage top 8": first_stage[:8],
                "first stage top 30": first_stage[:30],
            }
            for name, chunks in configs.items():
                counts[name] = counts.get(name, 0) + int(holds_answer(row, chunks))
        label = f"questions={args.questions}" if args.questions else f"split={args.split}"
        print(f"{label}: {len(rows)} answerable questions; passages holding the answer:")
        for name, n in counts.items():
            print(f"  {name:<26} {n}/{len(rows)} ({n / len(rows):.1%})")


if __name__ == "__main__":
    main()
