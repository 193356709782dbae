# ruff: noqa: RUF001  (en dash and angle-quote look-alikes are used on purpose)
"""Validation of ``[n]`` citation markers in an answer (extractive or LLM-generated).

Invariants of the result:
- Every marker left in ``text`` resolves to a citation in ``citations``; numbers are contiguous
  from 1 in order of first appearance and ``citations[i].n == i + 1``.
- A citation survives only if its chunk was retrieved for this question and, when the chunk
  texts are given, its ``quote`` is a non-empty exact substring of that chunk's text.
- ``flagged`` is True whenever a marker or a citation had to be removed: the caller should show
  the answer with a warning or fall back to the extractive answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

from qa.answering.text import split_units
from qa.answering.types import NOT_FOUND_TEXT, Citation

__all__ = ["MARKER", "ValidationResult", "parse_marker", "validate_citations"]

# "[1]", "[1, 2]", "[1;2]", "[1-3]" (LLMs write all of these); "[1][2]" is two markers.
MARKER = re.compile(r"\[(\s*\d{1,3}(?:\s*(?:[,;]|[-–])\s*\d{1,3})*\s*)\]")


@dataclass(frozen=True, slots=True)
class ValidationResult:
    text: str
    citations: list[Citation]
    flagged: bool
    removed_markers: list[int]
    uncited_sentences: int


def parse_marker(body: str) -> list[int]:
    """``"1, 2"`` -> [1, 2]; ``"2-4"`` -> [2, 3, 4] (ranges over 20 are taken as two numbers)."""
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", body.strip()):
        m = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            out.extend(range(a, b + 1) if 0 <= b - a <= 20 else (a, b))
        elif part:
            out.append(int(part))
    return out


def validate_citations(
    answer_text: str,
    citations: Sequence[Citation],
    retrieved_chunk_ids: Collection[Hashable],
    *,
    chunk_texts: Mapping[Hashable, str] | None = None,
) -> ValidationResult:
    """Drop unresolvable markers and unverifiable citations, then renumber contiguously.

    ``chunk_texts`` (chunk_id -> text) enables the verbatim-quote check; without it quotes are
    not checked (pass it whenever the texts are at hand, which the Q&A service always has).
    Citations that no marker references are dropped silently (not flagged).
    """
    valid: dict[int, Citation] = {}
    flagged = False
    for c in citations:
        ok = c.chunk_id in retrieved_chunk_ids and bool(c.quote.strip())
        if ok and chunk_texts is not None:
            text = chunk_texts.get(c.chunk_id)
            ok = text is not None and c.quote in text
        if not ok or c.n in valid:
            flagged = True
            continue
        valid[c.n] = c

    renumber: dict[int, int] = {}
    removed: list[int] = []

    def fix(m: re.Match[str]) -> str:
        nonlocal flagged
        kept: list[int] = []
        for n in parse_marker(m.group(1)):
            if n in valid:
                new = renumber.setdefault(n, len(renumber) + 1)
                if new not in kept:
                    kept.append(new)
            else:
                removed.append(n)
                flagged = True
        return "[" + ", ".join(str(k) for k in kept) + "]" if kept else "\x00"

    text = MARKER.sub(fix, answer_text)
    # Remove the placeholders of dropped markers together with the space before them, unless a
    # kept marker follows ("three [3][2]" -> "three [2]").
    text = re.sub(r"\x00+(?=\[)", "", text)
    text = re.sub(r"[ \t]*\x00", "", text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()

    out = [replace(valid[old], n=new) for old, new in sorted(renumber.items(), key=lambda kv: kv[1])]
    return ValidationResult(
        text=text,
        citations=out,
        flagged=flagged,
        removed_markers=removed,
        uncited_sentences=_count_uncited(text),
    )


def _count_uncited(text: str) -> int:
    """Sentences without a marker. A marker cites the sentence it closes, so a marker that opens
    the next unit ("First. [1] Second. [2]" splits after "First.") counts for the previous one."""
    if not text or text.strip() == NOT_FOUND_TEXT:
        return 0
    units = [text[s:e] for s, e in split_units(text)]
    count = 0
    for i, unit in enumerate(units):
        if not any(ch.isalnum() for ch in MARKER.sub("", unit)):
            continue  # only markers
        inner = any(m.start() > 0 for m in MARKER.finditer(unit))
        closed_by_next = i + 1 < len(units) and MARKER.match(units[i + 1]) is not None
        if not (inner or closed_by_next):
            count += 1
    return count
