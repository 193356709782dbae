"""Offline harness for the extractive answerer on ``shared/data/qa/dev.jsonl``.

Not the production retrieval path: it extracts text per page (pypdfium2) or per document
(python-docx incl. headers/footnotes, plain text), cuts ~140-word chunks that are exact slices
of the page text, ranks them with bm25s, and runs :func:`answer_extractive` on the top-k.

Scores (README of the data set):
- answer correct: the answer text contains the key fact (>= 80% of the gold answer's content
  tokens, parenthetical alternatives removed, normalised case/Unicode/dashes/quotes);
- citation page hit (PDF questions): a cited chunk's page is in the gold pages;
- evidence hit (all answerable): a cited quote contains >= 60% of the evidence's tokens;
- unanswerable correct: found=False.

Usage: python bench/qa_extractive_dev.py [--scope corpus|doc] [--k 8] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path

import bm25s
import docx
import pypdfium2 as pdfium

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from documents.passages import RetrievedChunk
from qa.answering.extractive import answer_extractive

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
CHUNK_WORDS = 140
OVERLAP_WORDS = 20


def _clean(text: str) -> str:
    # pypdfium2 writes \x02 for a soft hyphen at line end; other C0 controls are noise.
    text = text.replace("\x02", "")
    return "".join(c for c in text if c in "\n\t" or ord(c) >= 32 or c == "\r")


def _docx_text(path: Path) -> str:
    d = docx.Document(str(path))
    parts: list[str] = []
    for section in d.sections:
        for hdr in (section.first_page_header, section.header):
            parts.extend(p.text for p in hdr.paragraphs if p.text.strip())
    parts.extend(p.text for p in d.paragraphs)
    for table in d.tables:
        for row in table.rows:
            parts.append(" | ".join(c.text.strip() for c in row.cells))
    for rel in d.part.rels.values():
        if rel.reltype.endswith("/footnotes"):
            xml = rel.target_part.blob.decode("utf-8", "replace")
            for note in re.findall(r"<w:footnote\b[^>]*>(.*?)</w:footnote>", xml, re.S):
                txt = "".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", note)).strip()
                if txt:
                    parts.append(txt)
    return "\n".join(parts)


def load_pages(path: Path) -> list[tuple[int | None, str]]:
    if path.suffix == ".pdf":
        pdf = pdfium.PdfDocument(str(path))
        try:
            return [(i + 1, _clean(pdf[i].get_textpage().get_text_bounded())) for i in range(len(pdf))]
        finally:
            pdf.close()
    if path.suffix == ".docx":
        return [(None, _docx_text(path))]
    return [(None, path.read_text(encoding="utf-8", errors="replace"))]


def chunk_page(text: str) -> list[str]:
    """~140-word windows with 20 words of overlap, each an exact slice of ``text``."""
    words = list(re.finditer(r"\S+", text))
    out: list[str] = []
    step = CHUNK_WORDS - OVERLAP_WORDS
    for i in range(0, max(1, len(words)), step):
        window = words[i : i + CHUNK_WORDS]
        if not window:
            break
        out.append(text[window[0].start() : window[-1].end()])
        if i + CHUNK_WORDS >= len(words):
            break
    return out


def build_corpus() -> list[RetrievedChunk]:
    chunks: list[RetrievedChunk] = []
    for path in sorted((DATA / "docs" / "good").iterdir()):
        for page, text in load_pages(path):
            for j, piece in enumerate(chunk_page(text)):
                chunks.append(
                    RetrievedChunk(
                        chunk_id=f"{path.name}:{page}:{j}",
                        document_id=f"good/{path.name}",
                        document_title=path.name,
                        page=page,
                        text=piece,
                        score=0.0,
                    )
                )
    return chunks


def _norm(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = re.sub("[\u2010-\u2015\u2212]", "-", t)
    t = re.sub("[\u2018\u2019`\u00b4]", "'", t).replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(t.split())


_STOP = {"a", "an", "the", "of", "on", "or", "and", "to", "up", "in", "with", "each", "per"}


def _tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"[\w$€%]+(?:[.,/-]\w+)*", _norm(text)) if t not in _STOP]


def answer_correct(answer: str, gold: str) -> bool:
    gold = re.sub(r"\([^)]*\)", " ", gold)
    toks = _tokens(gold)
    have = set(_tokens(answer))
    return bool(toks) and sum(t in have for t in toks) / len(toks) >= 0.8


def evidence_hit(quotes: list[str], evidence: str) -> bool:
    toks = _tokens(evidence)
    return any(sum(t in set(_tokens(q)) for t in toks) / max(1, len(toks)) >= 0.6 for q in quotes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scope", choices=["corpus", "doc"], default="corpus")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--min-support", type=float, default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    rows = [json.loads(line) for line in (DATA / "qa" / "dev.jsonl").read_text().splitlines() if line]
    corpus = build_corpus()
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(corpus):
        by_doc.setdefault(str(c.document_id), []).append(i)

    def make_index(ids: list[int]) -> bm25s.BM25:
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize([corpus[i].text for i in ids], show_progress=False), show_progress=False)
        return retriever

    indexes = {"corpus": (make_index(list(range(len(corpus)))), list(range(len(corpus))))}
    kwargs = {} if args.min_support is None else {"min_support": args.min_support}

    n_ans = n_correct = n_pdf = n_page_hit = n_ev_hit = n_unans = n_declined = n_false_decline = 0
    n_retrieval_hit = 0
    times: list[float] = []
    for row in rows:
        key = "corpus" if args.scope == "corpus" else row["doc"]
        if key not in indexes:
            indexes[key] = (make_index(by_doc[key]), by_doc[key])
        retriever, ids = indexes[key]
        q_tokens = bm25s.tokenize([row["question"]], show_progress=False)
        res, scores = retriever.retrieve(q_tokens, k=min(args.k, len(ids)), show_progress=False)
        retrieved = [
            RetrievedChunk(**_with_score(corpus[ids[j]], float(s))) for j, s in zip(res[0], scores[0], strict=True)
        ]
        # Min of 5 runs: the shared 2-core machine adds scheduling noise, not our cost.
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            ans = answer_extractive(row["question"], retrieved, **kwargs)
            best = min(best, (time.perf_counter() - t0) * 1000)
        times.append(best)
        quotes = [c.quote for c in ans.citations]
        if row["answerable"]:
            n_ans += 1
            ok = ans.found and answer_correct(ans.text, row["answer"])
            n_correct += ok
            n_false_decline += not ans.found
            ev = ans.found and evidence_hit(quotes, row["evidence"])
            n_ev_hit += ev
            if row["pages"]:
                n_pdf += 1
                page_hit = any(c.page in row["pages"] and c.document_id == row["doc"] for c in ans.citations)
                n_page_hit += page_hit
                n_retrieval_hit += any(c.page in row["pages"] and c.document_id == row["doc"] for c in retrieved)
            status = "OK " if ok else "BAD"
        else:
            n_unans += 1
            n_declined += not ans.found
            status = "OK " if not ans.found else "BAD"
        if args.verbose:
            print(f"{status} {row['id']} found={ans.found} | {row['question']}")
            print(f"     gold: {row['answer']} | pages {row['pages']}")
            print(f"     ans : {ans.text[:400]}")
            print(f"     cite: {[(c.document_title, c.page) for c in ans.citations]} ({ans.reason})")

    print(f"scope={args.scope} k={args.k} chunks={len(corpus)} questions={len(rows)}")
    print(f"answer correct (key fact in answer): {n_correct}/{n_ans} = {n_correct / n_ans:.1%}")
    print(f"citation page hit (PDF questions):   {n_page_hit}/{n_pdf} = {n_page_hit / n_pdf:.1%}")
    print(f"  (retrieval ceiling: gold page in top-{args.k}: {n_retrieval_hit}/{n_pdf})")
    print(f"evidence in a cited quote:           {n_ev_hit}/{n_ans} = {n_ev_hit / n_ans:.1%}")
    print(f"answerable wrongly declined:         {n_false_decline}/{n_ans}")
    print(f"unanswerable correctly declined:     {n_declined}/{n_unans}")
    print(
        f"answer_extractive latency ms (k={args.k} chunks, min of 5 runs): "
        f"median {statistics.median(times):.2f}, "
        f"p95 {sorted(times)[int(0.95 * (len(times) - 1))]:.2f}, max {max(times):.2f}"
    )


def _with_score(chunk: RetrievedChunk, score: float) -> dict:
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "document_title": chunk.document_title,
        "page": chunk.page,
        "text": chunk.text,
        "score": score,
    }


if __name__ == "__main__":
    main()
