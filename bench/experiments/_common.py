"""Shared helpers for the model experiments: page text, ~200-token passages, a small BM25,
timing. Experiment code only; nothing in the product imports it."""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
DOCS = DATA / "docs"

WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Passage:
    doc: str
    page: int  # 1-based
    text: str


def page_texts(pdf: Path) -> list[str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        return [doc[i].get_textpage().get_text_range().replace("\r", "") for i in range(len(doc))]
    finally:
        doc.close()


def passages(pdf: Path, words: int = 150, stride: int = 100) -> list[Passage]:
    """Overlapping windows of ``words`` words (~200 WordPiece tokens) that never cross a page."""
    out: list[Passage] = []
    rel = str(pdf.relative_to(DOCS))
    for n, text in enumerate(page_texts(pdf), start=1):
        toks = text.split()
        if not toks:
            continue
        for start in range(0, max(1, len(toks) - words + stride), stride):
            chunk = " ".join(toks[start : start + words])
            if len(chunk) > 40:
                out.append(Passage(rel, n, chunk))
    return out


def norm(s: str) -> str:
    return " ".join(WORD.findall(s.lower()))


def tokens(s: str) -> list[str]:
    return WORD.findall(s.lower())


class BM25:
    def __init__(self, docs: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.toks = [tokens(d) for d in docs]
        self.k1, self.b = k1, b
        self.avg = sum(len(t) for t in self.toks) / max(1, len(self.toks))
        df: Counter[str] = Counter()
        for t in self.toks:
            df.update(set(t))
        n = len(self.toks)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.tf = [Counter(t) for t in self.toks]

    def scores(self, query: str) -> list[float]:
        q = tokens(query)
        out = []
        for tf, toks in zip(self.tf, self.toks, strict=True):
            s = 0.0
            for w in q:
                f = tf.get(w, 0)
                if f:
                    s += self.idf[w] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * len(toks) / self.avg))
            out.append(s)
        return out


def dev_rows() -> list[dict]:
    with (DATA / "qa" / "dev.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def median_time(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def mrr(ranks: Iterable[int]) -> float:
    r = list(ranks)
    return sum(1 / x for x in r) / max(1, len(r))
