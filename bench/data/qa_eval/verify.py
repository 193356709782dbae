"""Check every row of ``questions.jsonl`` against the real documents and print a summary.

    python bench/data/qa_eval/verify.py [--docs PATH] [--verbose]

- Schema: unique ids, required fields, types; unanswerable rows have no answer, no pages and a
  note; PDF answers list pages inside the document; DOCX/TXT answers list no pages and name a
  section; ``split`` is "tune" or "test" ("val" / "holdout" in ``validation.jsonl`` /
  ``holdout.jsonl``, checked with ``--questions``) and rows of one ``group`` share it.
- Answers: each answerable row's ``answer``, normalised (Unicode NFKC, case, dashes, quotes,
  whitespace, ligatures, soft hyphens and hyphenated line breaks), must occur in the text of at
  least one listed page (PDF; pypdfium2, then pypdf) or in the document's text (DOCX: body, tables,
  nested tables, text boxes, headers, footers, footnotes, endnotes read from the XML parts; TXT).
  Rows with ``"verify": "manual"`` carry a ``verify_reason`` (e.g. an OCR-garbled text layer) and
  are reported, not checked; a manual row whose answer does match is flagged so the flag can go.

Exit status 1 when any check fails. The documents are read from ``shared/data/docs`` next to the
repository (``--docs`` or ``PORTAL_SHARED_DATA`` override it); they are never copied into the repository.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import unicodedata
import zipfile
from functools import cache
from pathlib import Path
from xml.etree import ElementTree as ET

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "questions.jsonl"
REPO = HERE.parents[2]

W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
DOCX_PARTS = re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml$")
SOFT_HYPHENS = "\u00ad\ufffe\x02"
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
QUOTES = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
}
REQUIRED = (
    "id",
    "doc",
    "question",
    "answer",
    "pages",
    "answerable",
    "qtype",
    "tags",
    "evidence",
    "note",
    "split",
)


def docs_root(arg: str | None = None) -> Path:
    """The shared ``docs`` folder: ``--docs``, else ``$PORTAL_SHARED_DATA/docs`` (as the tests),
    else ``shared/data/docs`` beside the repository, else the lead's checkout layout."""
    shared = os.environ.get("PORTAL_SHARED_DATA")
    candidates = (
        arg,
        shared and Path(shared) / "docs",
        REPO.parent / "shared" / "data" / "docs",
        "/work/shared/data/docs",
    )
    for cand in candidates:
        if cand and Path(cand).is_dir():
            return Path(cand)
    sys.exit("documents not found: pass --docs PATH (the shared/data/docs folder) or set PORTAL_SHARED_DATA")


def normalise(text: str, *, join_hyphens: bool = False) -> str:
    """Compare-ready text: NFKC (ligatures, full-width forms), unified dashes and quotes, casefold,
    soft hyphens removed with their line break, optionally ``word-\\nword`` joined, one space."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(f"[{SOFT_HYPHENS}]\\s*", "", text)
    text = re.sub(f"[{DASHES}]", "-", text)
    text = "".join(QUOTES.get(c, c) for c in text)
    if join_hyphens:
        text = re.sub(r"(\w)-[ \t]*\n\s*(\w)", r"\1\2", text)
    return re.sub(r"\s+", " ", text.casefold()).strip()


@cache
def pdf_pages(path: Path) -> list[list[str]]:
    """Per page, the text from each extractor that reads it (pypdfium2 first, then pypdf)."""
    import pypdf
    import pypdfium2 as pdfium

    out: list[list[str]] = []
    pdf = pdfium.PdfDocument(str(path))
    try:
        for i in range(len(pdf)):
            out.append([pdf[i].get_textpage().get_text_range()])
    finally:
        pdf.close()
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = pypdf.PdfReader(str(path))
    for i, page in enumerate(reader.pages):
        out[i].append(page.extract_text() or "")
    return out


def _docx_walk(el: ET.Element, parts: list[str]) -> None:
    tag = el.tag
    if tag == W_NS + "t":
        parts.append(el.text or "")
    elif tag in (W_NS + "tab", W_NS + "ptab"):
        parts.append(" ")
    elif tag in (W_NS + "br", W_NS + "cr"):
        parts.append("\n")
    for child in el:
        _docx_walk(child, parts)
    if tag in (W_NS + "p", W_NS + "tc"):
        parts.append("\n")


@cache
def docx_text(path: Path) -> str:
    """All text of a DOCX from its XML parts, including what python-docx's paragraph API skips
    (text boxes, nested tables, footnotes, endnotes, every header/footer variant)."""
    parts: list[str] = []
    with zipfile.ZipFile(path) as z:
        for name in sorted(n for n in z.namelist() if DOCX_PARTS.match(n)):
            parts.append(f"\n[{name}]\n")
            _docx_walk(ET.fromstring(z.read(name)), parts)
    return "".join(parts)


def texts_for(row: dict, root: Path) -> list[str]:
    path = root / row["doc"]
    if path.suffix == ".pdf":
        pages = pdf_pages(path)
        return [t for p in row["pages"] if 1 <= p <= len(pages) for t in pages[p - 1]]
    if path.suffix == ".docx":
        return [docx_text(path)]
    return [path.read_text(encoding="utf-8", errors="replace")]


def answer_found(row: dict, root: Path) -> bool:
    # Whole-token match, so "41" is not found inside "141" or "2,941".
    # A yes/no answer is not a quote, so its evidence sentence is checked instead.
    needle = normalise(row["evidence"] if row["qtype"] == "yes_no" else row["answer"])
    pattern = re.compile(r"(?<![^\W_])" + re.escape(needle) + r"(?![^\W_])")
    for text in texts_for(row, root):
        if pattern.search(normalise(text)) or pattern.search(normalise(text, join_hyphens=True)):
            return True
    return False


def schema_errors(rows: list[dict], root: Path) -> list[str]:
    errs: list[str] = []
    ids = collections.Counter(r.get("id") for r in rows)
    errs += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    group_split: dict[str, set[str]] = collections.defaultdict(set)
    for r in rows:
        rid = r.get("id", "?")
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            errs.append(f"{rid}: missing {missing}")
            continue
        path = root / r["doc"]
        if not path.is_file():
            errs.append(f"{rid}: no such document {r['doc']}")
            continue
        if r["split"] not in ("tune", "test", "val", "holdout"):  # validation.jsonl, holdout.jsonl
            errs.append(f"{rid}: split {r['split']!r}")
        if r.get("group"):
            group_split[r["group"]].add(r["split"])
        if not isinstance(r["tags"], list) or not r["question"].strip():
            errs.append(f"{rid}: tags must be a list and question non-empty")
        if not r["answerable"]:
            if r["answer"] is not None or r["pages"] or not r["note"]:
                errs.append(f"{rid}: unanswerable rows need answer null, pages [] and a note")
            continue
        if not r["answer"] or not r["evidence"]:
            errs.append(f"{rid}: answerable rows need an answer and evidence")
        if path.suffix == ".pdf":
            n = len(pdf_pages(path))
            if not r["pages"] or any(not (isinstance(p, int) and 1 <= p <= n) for p in r["pages"]):
                errs.append(f"{rid}: pages {r['pages']} outside 1..{n}")
        elif r["pages"] or not r.get("section"):
            errs.append(f"{rid}: DOCX/TXT rows have pages [] and a section")
        if r.get("verify") == "manual" and not r.get("verify_reason"):
            errs.append(f"{rid}: verify=manual needs a verify_reason")
    errs += [f"group {g} spans splits {sorted(s)}" for g, s in group_split.items() if len(s) > 1]
    return errs


def summary(rows: list[dict]) -> None:
    def table(title: str, counter: collections.Counter) -> None:
        print(f"\n{title}")
        for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            print(f"  {n:4d}  {key}")

    ans = sum(r["answerable"] for r in rows)
    print(
        f"\n{len(rows)} questions: {ans} answerable, {len(rows) - ans} unanswerable, {len({r['doc'] for r in rows})} documents"
    )
    table(
        "per split (answerable / unanswerable)",
        collections.Counter(f"{r['split']} {'answerable' if r['answerable'] else 'unanswerable'}" for r in rows),
    )
    table("per document", collections.Counter(r["doc"] for r in rows))
    table("per tag", collections.Counter(t for r in rows for t in r["tags"]))
    table("per question type", collections.Counter(r["qtype"] for r in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", help="the shared/data/docs folder")
    ap.add_argument("--questions", default=str(QUESTIONS))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    root = docs_root(args.docs)
    rows = [json.loads(line) for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line.strip()]

    errors = schema_errors(rows, root)
    manual: list[str] = []
    for r in rows:
        if not r.get("answerable") or any(e.startswith(f"{r.get('id')}:") for e in errors):
            continue
        found = answer_found(r, root)
        if r.get("verify") == "manual":
            manual.append(f"{r['id']}: {r['verify_reason']}")
            if found:
                errors.append(f"{r['id']}: marked manual but the answer is found; drop the flag")
        elif not found:
            errors.append(f"{r['id']}: answer {r['answer']!r} not found on pages {r['pages']} of {r['doc']}")
        elif args.verbose:
            print(f"ok  {r['id']}  {r['answer']!r}")

    summary(rows)
    print(f"\nmanual checks ({len(manual)}):")
    for m in manual:
        print("  " + m)
    if errors:
        print(f"\nFAILED ({len(errors)}):")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print(f"\nall {sum(r['answerable'] for r in rows) - len(manual)} automatically checked answers found; schema ok")


if __name__ == "__main__":
    main()
