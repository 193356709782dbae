"""Second-stage reranking of fused hybrid candidates: a small logistic model over features.

No cross-encoder ships in any PyPI wheel (docs/notes-models.md section 1), and running one over
30 passages does not fit the latency budget on CPU. Instead each candidate gets a handful of
cheap features that the first stage already has or that are plain string checks:

- the dense cosine (multilingual-e5 with contextual ``index_text``) and the BM25 score (relative
  to the best candidate), each leg's rank and the fused RRF rank;
- exact overlap of the question's numbers, names (capitalised words) and content words with the
  chunk's indexed text, and of its content words with the chunk's heading path / location;
- the chunk's kind (table row, footnote, header/footer, ...) crossed with the question type
  ("how many"/"wie viele" questions favour rows that carry numbers);
- whether the question and the chunk are in the same language (English/German/Portuguese
  function words).

The weights (``rerank_weights.json`` beside this module) are fitted by ``bench/train_reranker.py``
on the TUNE half of ``bench/data/qa_eval`` and the shared dev set (``shared/data/qa/dev.jsonl``,
``--extra-questions``; never the test half), and record the hashes of the rows they were fitted
on; ``bench/qa_retrieval_eval.py`` reports the TEST half. Django-free: it reads passages and
numbers, never models.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from documents.lexical import STOPWORDS as _STOP
from documents.lexical import fold as _fold
from documents.lexical import language as _lang
from documents.passages import RetrievedChunk

__all__ = ["FEATURES", "Candidate", "RerankModel", "candidate_features", "load_model", "rerank"]

WEIGHTS_PATH = Path(__file__).resolve().parent / "rerank_weights.json"

FEATURES: tuple[str, ...] = (
    "dense_cos",
    "dense_missing",
    "bm25_rel",
    "bm25_missing",
    "dense_rank_inv",
    "sparse_rank_inv",
    "rrf_rank_inv",
    "num_overlap",
    "q_has_numbers",
    "name_overlap",
    "word_overlap",
    "heading_overlap",
    "kind_table",
    "kind_note",
    "kind_furniture",
    "wants_number_x_chunk_numbers",
    "wants_number_x_table",
    "lang_match",
    "short_chunk",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fused candidate with what each first-stage leg said about it (None: not in that leg)."""

    chunk: RetrievedChunk
    fused_rank: int  # 0-based
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_score: float | None = None
    sparse_rank: int | None = None


_NUMBER = re.compile(r"\d[\d,.\u2009\u00a0 ]*\d|\d")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


_WANTS_NUMBER = re.compile(
    r"\b(how (many|much|long|old)|what (was|is) the (total|number|amount|rate|price|count|percentage)|"
    r"wie (viele|viel|lange|hoch)|quant[oa]s?|what percentage|what amount|in what year|what year|when)\b",
    re.I,
)


def _numbers(text: str) -> set[str]:
    out = set()
    for m in _NUMBER.finditer(text):
        digits = re.sub(r"[,\u2009\u00a0 ]", "", m.group()).rstrip(".")
        if digits:
            out.add(digits)
    return out


def _words(text: str) -> list[str]:
    return [w for w in (_fold(m.group()) for m in _WORD.finditer(text)) if len(w) >= 3 and w not in _STOP]


def _names(question: str) -> set[str]:
    toks = question.split()
    return {_fold(t.strip("?,.:;()\"'")) for t in toks[1:] if t[:1].isupper() and _fold(t) not in _STOP} - {""}


def _overlap(needles: set[str] | list[str], hay: str) -> float:
    items = set(needles)
    if not items:
        return 0.0
    return sum(1 for n in items if n in hay) / len(items)


def candidate_features(question: str, cands: Sequence[Candidate]) -> list[list[float]]:
    """One feature row (in :data:`FEATURES` order) per candidate."""
    q_numbers = _numbers(question)
    q_names = _names(question)
    q_words = _words(question)
    q_lang = _lang(question)
    wants_number = 1.0 if _WANTS_NUMBER.search(question) else 0.0
    best_bm25 = max((c.sparse_score or 0.0 for c in cands), default=0.0) or 1.0
    dense_known = [c.dense_score for c in cands if c.dense_score is not None]
    dense_floor = min(dense_known) if dense_known else 0.0
    rows: list[list[float]] = []
    for c in cands:
        ch = c.chunk
        indexed = ch.index_text or ch.text
        hay = _fold(indexed)
        hay_words = set(_words(indexed))
        heading = _fold(" ".join([*ch.heading_path, ch.location]))
        chunk_numbers = _numbers(ch.text)
        num_hay = {re.sub(r"[,.\s]", "", n) for n in chunk_numbers} | chunk_numbers
        kind = ch.kind or "paragraph"
        rows.append(
            [
                c.dense_score if c.dense_score is not None else dense_floor,
                1.0 if c.dense_score is None else 0.0,
                (c.sparse_score or 0.0) / best_bm25,
                1.0 if c.sparse_score is None else 0.0,
                1.0 / (1 + c.dense_rank) if c.dense_rank is not None else 0.0,
                1.0 / (1 + c.sparse_rank) if c.sparse_rank is not None else 0.0,
                1.0 / (1 + c.fused_rank),
                (sum(1 for n in q_numbers if n in num_hay or re.sub(r"[,.]", "", n) in num_hay) / len(q_numbers))
                if q_numbers
                else 0.0,
                1.0 if q_numbers else 0.0,
                _overlap(q_names, hay),
                (sum(1 for w in q_words if w in hay_words) / len(set(q_words))) if q_words else 0.0,
                _overlap(set(q_words), heading) if heading.strip() else 0.0,
                1.0 if kind == "table" else 0.0,
                1.0 if kind in ("footnote", "endnote", "comment") else 0.0,
                1.0 if kind in ("header", "footer") else 0.0,
                wants_number * min(len(chunk_numbers), 10) / 10,
                wants_number * (1.0 if kind == "table" else 0.0),
                1.0 if q_lang != "?" and q_lang == _lang(ch.text) else 0.0,
                1.0 if len(ch.text) < 80 else 0.0,
            ]
        )
    return rows


@dataclass(frozen=True)
class RerankModel:
    """Logistic regression: ``p = sigmoid(bias + sum(w_i * x_i))`` over :data:`FEATURES`."""

    weights: Mapping[str, float]
    bias: float
    meta: Mapping[str, object]

    def score(self, row: Sequence[float]) -> float:
        z = self.bias + sum(self.weights.get(name, 0.0) * x for name, x in zip(FEATURES, row, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@lru_cache(maxsize=4)
def load_model(path: Path = WEIGHTS_PATH) -> RerankModel | None:
    """The fitted model, or None when no weights file exists (reranking is then skipped)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    unknown = set(data["weights"]) - set(FEATURES)
    if unknown:
        raise ValueError(f"{path}: weights for unknown features {sorted(unknown)}; retrain the reranker")
    return RerankModel(weights=dict(data["weights"]), bias=float(data["bias"]), meta=data.get("meta", {}))


def rerank(question: str, cands: Sequence[Candidate], model: RerankModel) -> list[RetrievedChunk]:
    """The candidates' chunks ordered by the model's probability (ties: first-stage order);
    ``score`` becomes that probability."""
    feats = candidate_features(question, cands)
    scored = [(model.score(f), -c.fused_rank, c.chunk) for f, c in zip(feats, cands, strict=True)]
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [
        RetrievedChunk(
            chunk_id=ch.chunk_id,
            document_id=ch.document_id,
            document_title=ch.document_title,
            page=ch.page,
            text=ch.text,
            score=p,
            location=ch.location,
            kind=ch.kind,
            heading_path=ch.heading_path,
            index_text=ch.index_text,
        )
        for p, _, ch in scored
    ]
