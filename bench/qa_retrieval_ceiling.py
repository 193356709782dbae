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
    ap.add_argument(
        "--weights",
        type=Path,
        action="append",
        default=[],
        help="compare reranker weight files instead (repeatable): top-1 and top-3 relevant, answer in the top 8",
    )
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        eval_workdir(stack, args.workdir)
        from documents.rerank import load_model, rerank
        from documents.retrieval import RetrievalConfig

        tenant, _actor, docs = tenant_and_docs()
        if args.weights:
            compare_weights(args, tenant, docs)
            return
        model = load_model()
        cfg = RetrievalConfig()
        counts: dict[str, int] = {}
        rows = _answerable(args)
        for row in rows:
            cands = _first_stage(tenant, row, cfg)
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
        print(f"{_label(args)}: {len(rows)} answerable questions; passages holding the answer:")
        for name, n in counts.items():
            print(f"  {name:<26} {n}/{len(rows)} ({n / len(rows):.1%})")


def _answerable(args: argparse.Namespace) -> list[dict[str, Any]]:
    source = load_questions(args.questions) if args.questions else load_questions(split=args.split)
    return [r for r in source if r["answerable"]]


def _label(args: argparse.Namespace) -> str:
    return f"questions={args.questions}" if args.questions else f"split={args.split}"


def _first_stage(tenant: Any, row: dict[str, Any], cfg: Any) -> list[Any]:
    """The product's fused first-stage candidates for one question (both legs)."""
    from documents.retrieval import chunks_candidates
    from models_registry.backends import get_embedder, get_vector_store

    cands, _ = chunks_candidates(
        tenant=tenant,
        query=row["question"],
        store=get_vector_store(),
        embedder=get_embedder(),
        config=cfg,
        with_legs=True,
    )
    return cands


def compare_weights(args: argparse.Namespace, tenant: Any, docs: dict[str, int]) -> None:
    """The same first-stage pool reranked by each weight file (a learning curve: weights fitted on
    more or fewer question files, scored on a file none of them saw)."""
    from qa_retrieval_lib import Corpus, relevant

    from documents.rerank import load_model, rerank
    from documents.retrieval import RetrievalConfig

    corpus = Corpus(tenant=tenant, doc_ids=docs)
    models = {path: load_model(path) for path in args.weights}
    cfg = RetrievalConfig()
    rows = _answerable(args)
    counts = {path: [0, 0, 0] for path in models}
    for row in rows:
        pool = _first_stage(tenant, row, cfg)[: cfg.rerank_pool]
        for path, model in models.items():
            if model is None:
                raise SystemExit(f"{path}: no such weights file")
            ranked = rerank(row["question"], pool, model)
            counts[path][0] += int(relevant(row, ranked[0], corpus))
            counts[path][1] += int(any(relevant(row, c, corpus) for c in ranked[:3]))
            counts[path][2] += int(holds_answer(row, ranked[:8]))
    print(f"{_label(args)}: {len(rows)} answerable questions")
    for path, (top1, top3, in8) in counts.items():
        print(f"  {path.name:<28} top-1 relevant {top1:3d}  top-3 relevant {top3:3d}  answer in top 8 {in8:3d}")


if __name__ == "__main__":
    main()
