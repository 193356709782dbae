"""Extraction speed: pages/s of ``documents.extraction.extract`` on every PDF in good/.

Usage::

    python bench/extract_speed.py [--runs 3] [--docs ../shared/data/docs/good]

Prints, per document, the median of ``--runs`` timed runs (after one warm-up run) for the
layout-aware extraction and, for comparison, for PDFium's plain page text (the previous
extractor: ``get_text_bounded`` + normalisation), then the overall pages/s (total pages over
the sum of the medians) and the machine load from ``os.getloadavg`` before and after. The
extraction stage has to stay well below the embedding time of the same pages (embedding runs
at ~20-25 chunks/s on 2 cores, 2-4 chunks per page, i.e. 5-12 pages/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pypdfium2 as pdfium  # noqa: E402
from shared_data import shared_dir  # noqa: E402

from documents.extraction import extract  # noqa: E402
from documents.extraction.normalize import normalize_text  # noqa: E402


def _plain(data: bytes) -> int:
    pdf = pdfium.PdfDocument(data)
    try:
        n = len(pdf)
        for i in range(n):
            page = pdf[i]
            textpage = page.get_textpage()
            normalize_text(textpage.get_text_bounded())
            textpage.close()
            page.close()
        return n
    finally:
        pdf.close()


def _timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up (imports, tokenizer-free)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", default=str(shared_dir() / "data" / "docs" / "good"))
    args = parser.parse_args()
    files = sorted(Path(args.docs).glob("*.pdf"))
    if not files:
        raise SystemExit(f"no PDFs in {args.docs}")
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; runs={args.runs}")
    print(f"{'document':44s} {'pages':>5s} {'layout s':>9s} {'pages/s':>8s} {'plain s':>8s} {'pages/s':>8s}")
    total_pages = 0
    total_layout = 0.0
    total_plain = 0.0
    for f in files:
        data = f.read_bytes()
        doc = extract(data, f.name)
        pages = doc.page_count or 0
        layout_s = _timed(lambda data=data, name=f.name: extract(data, name), args.runs)
        plain_s = _timed(lambda data=data: _plain(data), args.runs)
        total_pages += pages
        total_layout += layout_s
        total_plain += plain_s
        print(
            f"{f.name[:44]:44s} {pages:5d} {layout_s:9.3f} {pages / layout_s:8.1f} {plain_s:8.3f} {pages / plain_s:8.1f}"
        )
    load_after = os.getloadavg()
    print(
        f"{'all':44s} {total_pages:5d} {total_layout:9.3f} {total_pages / total_layout:8.1f}"
        f" {total_plain:8.3f} {total_pages / total_plain:8.1f}"
    )
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
