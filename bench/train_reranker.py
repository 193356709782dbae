"""Fit the second-stage reranker (documents/rerank.py) on the TUNE half of bench/data/qa_eval.

    python bench/train_reranker.py [--pool 30] [--out documents/rerank_weights.json]
        [--extra-questions ../shared/data/qa/dev.jsonl --extra-questions bench/data/qa_eval/validation.jsonl]

Ingests the eval corpus with the default embedder (multilingual-e5-small, contextual chunks)
through the real pipeline into a throw-away database and Milvus Lite, takes each answerable
TUNE question's first-stage candidates (``chunks_candidates``, both legs, top ``pool``), labels
a candidate relevant when it is on the right page (PDF) or holds the answer (DOCX/TXT), and fits
a logistic regression (scikit-learn) over ``documents.rerank.FEATURES``. The regularisation C is
chosen by 5-fold grouped cross-validation on the tune half (questions as groups, metric: top-1
relevant). ``--extra-questions`` (repeatable) adds other files' answerable rows: the shipped
weights add the shared dev set's 32 and the validation set's 70 (``--extra-questions
../shared/data/qa/dev.jsonl --extra-questions bench/data/qa_eval/validation.jsonl``: 187
questions instead of 85); test rows are never read. Writes the weights with the SHA-256 of the
tune rows and of the extra rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_eval_lib import load_questions
from qa_retrieval_lib import build_corpus, relevant, rows_hash

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "documents" / "rerank_weights.json")
    parser.add_argument(
        "--extra-questions",
        type=Path,
        action="append",
        default=[],
        help="also fit on the answerable rows of this file (repeatable: ../shared/data/qa/dev.jsonl, "
        "bench/data/qa_eval/validation.jsonl; never the test half)",
    )
    args = parser.parse_args()
    import numpy as np

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rerank-train-")))
        corpus = build_corpus(stack, tmp)
        from sklearn.linear_model import LogisticRegression

        from documents.rerank import FEATURES, candidate_features
        from documents.retrieval import RetrievalConfig, chunks_candidates
        from models_registry.backends import get_embedder, get_vector_store

        tune = load_questions(split="tune")
        assert all(r["split"] == "tune" for r in tune)
        rows = [r for r in tune if r["answerable"]]
        extra = [r for path in args.extra_questions for r in load_questions(path)]
        if any(r.get("split") == "test" for r in extra):
            raise SystemExit("--extra-questions must not hold test rows")
        rows += [r for r in extra if r["answerable"]]
        cfg = RetrievalConfig(top_k=args.pool, rerank_pool=args.pool)
        X: list[list[float]] = []
        y: list[int] = []
        groups: list[int] = []
        first_stage_top1 = 0
        usable = 0
        for gi, row in enumerate(rows):
            cands, _ = chunks_candidates(
                tenant=corpus.tenant,
                query=row["question"],
                store=get_vector_store(),
                embedder=get_embedder(),
                config=cfg,
                with_legs=True,
            )
            cands = cands[: args.pool]
            labels = [int(relevant(row, c.chunk, corpus)) for c in cands]
            if not any(labels):
                continue  # nothing to learn: the first stage missed the answer entirely
            usable += 1
            first_stage_top1 += labels[0]
            X.extend(candidate_features(row["question"], cands))
            y.extend(labels)
            groups.extend([gi] * len(cands))
        Xa, ya, ga = np.array(X), np.array(y), np.array(groups)

        def top1(model: LogisticRegression, mask: np.ndarray) -> float:
            hits = 0
            qs = sorted(set(ga[mask].tolist()))
            for g in qs:
                m = ga == g
                p = model.predict_proba(Xa[m])[:, 1]
                hits += int(ya[m][int(np.argmax(p))])
            return hits / max(1, len(qs))

        uniq = np.array(sorted(set(groups)))
        rng = np.random.default_rng(20251111)
        folds = np.array_split(rng.permutation(uniq), 5)
        best_c, best_score = 1.0, -1.0
        for c in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
            scores = []
            for f in folds:
                test_mask = np.isin(ga, f)
                m = LogisticRegression(C=c, max_iter=2000).fit(Xa[~test_mask], ya[~test_mask])
                scores.append(top1(m, test_mask))
            mean = float(np.mean(scores))
            print(f"C={c:<5} grouped 5-fold top-1 relevant (tune): {mean:.3f}")
            if mean > best_score:
                best_c, best_score = c, mean
        model = LogisticRegression(C=best_c, max_iter=2000).fit(Xa, ya)
        weights = {name: round(float(w), 6) for name, w in zip(FEATURES, model.coef_[0], strict=True)}
        out = {
            "model": "logistic regression over documents.rerank.FEATURES",
            "weights": weights,
            "bias": round(float(model.intercept_[0]), 6),
            "meta": {
                "trained_on": "bench/data/qa_eval/questions.jsonl, split=tune, answerable rows"
                + "".join(f" + {path.name}" for path in args.extra_questions),
                "tune_rows_sha256": rows_hash(tune),
                **({"extra_rows_sha256": rows_hash(extra)} if extra else {}),
                "questions_used": usable,
                "questions_without_a_relevant_candidate": len(rows) - usable,
                "candidates": len(ya),
                "positives": int(ya.sum()),
                "pool": args.pool,
                "C": best_c,
                "cv_top1_relevant": round(best_score, 4),
                "first_stage_top1_relevant": round(first_stage_top1 / max(1, usable), 4),
                "embedder": get_embedder().model_id,
                "script": "bench/train_reranker.py",
            },
        }
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"first-stage top-1 relevant on tune (usable questions): {out['meta']['first_stage_top1_relevant']}")
        print(f"chosen C={best_c}; wrote {args.out}")
        print(json.dumps(weights, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
