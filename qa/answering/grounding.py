# ruff: noqa: RUF001  (dash/quote look-alikes are matched on purpose)
"""Post-hoc grounding of an LLM answer: every sentence kept is cited to a passage that supports it.

Small models rarely place ``[n]`` markers, and sometimes place them on sentences that are not in
the cited passage. :func:`ground_answer` takes the raw answer and the passages the prompt showed
(``chunks[n - 1]`` is passage ``[n]``) and, sentence by sentence:

- a sentence whose markers name shown passages keeps them when the cited passages support it
  (the same test as below, against the union of the cited passages); otherwise its markers are
  dropped and the sentence is treated as unmarked;
- an unmarked sentence gets ``[n]`` of the passage that supports it best, if any passage does;
- a sentence no passage supports is removed (``removed_unsupported_sentences``, answer flagged).

"Supports" is lexical, with IDF weights over the shown passages (a term every passage contains
weighs little, a term no passage contains weighs most), and looks at what the sentence adds to
the question: words of the question are the user's own premise ("the proposed 737 MAX AD
affects 73 airplanes" answering "how many airplanes does the proposed 737 MAX AD affect?"), so
they neither need support nor count as support. Of the remaining content terms
(:func:`qa.answering.text.content_terms`), the weighted share found in the passage must reach
``GroundingConfig.min_support`` (a sentence that adds nothing to the question is unsupported),
every new number and named entity (a capitalised word not opening the sentence, an acronym)
must occur in the passage (entities may also come from the document title the prompt showed),
and at least ``asked_entity_share`` of the question's names and numbers that the sentence
repeats must occur there too (so a passage about another flight does not support a sentence
about the asked one). This cannot tell a right number from a wrong one that the passage also
contains (a table full of numbers supports many wrong ones); it does stop numbers and names
that no passage has.

Invariants of the result:
- It has passed :func:`qa.answering.citations.validate_citations` with the shown chunks' ids and
  texts: every marker resolves to a citation, numbers are contiguous from 1 in order of first
  appearance, every quote is ``chunk.text[start:end]`` (a sentence of that chunk, verbatim).
- Every sentence of ``text`` ends with at least one marker; sentence wording is the model's
  (markers are moved before the sentence's final punctuation, whitespace is normalised).
- Quotes never overlap a detected prompt injection, and injected text never counts as support.
- ``text`` is empty exactly when no sentence survived (the caller falls back then).
- Pure and deterministic: no I/O, same input, same output.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from documents.passages import RetrievedChunk
from qa.answering.citations import MARKER, parse_marker, validate_citations
from qa.answering.text import content_terms, split_units
from qa.answering.types import Citation
from qa.guardrails.injection import detect_injection

__all__ = ["GroundingConfig", "GroundingResult", "ground_answer", "strip_scaffolding"]


@dataclass(frozen=True, slots=True)
class GroundingConfig:
    """Thresholds, set by hand on SmolLM2 answers to 17 ``qa/dev.jsonl`` questions
    (``bench/qa_llm_citations.py``; too few to tune finely).

    - ``min_support``: IDF-weighted share of the sentence's content terms (question words
      aside) the passage must contain;
    - ``asked_entity_share``: share of the question's names and numbers that the sentence
      repeats which the passage must contain (1.0 dropped right answers whose passage excerpt
      omits "737 MAX"; 0 kept "Lion Air Flight 610 ... 157 fatalities" from a passage about
      another flight);
    - ``verify_markers``: also test sentences the model cited itself, against the cited passages.
    """

    min_support: float = 0.5
    asked_entity_share: float = 0.5
    verify_markers: bool = True


@dataclass(frozen=True, slots=True)
class GroundingResult:
    text: str
    citations: list[Citation]
    flagged: bool
    removed_markers: list[int] = field(default_factory=list)  # unresolvable or unsupported markers
    removed_unsupported_sentences: list[str] = field(default_factory=list)
    grounded_sentences: int = 0  # sentences that got their marker here
    cited_sentences: int = 0  # sentences whose own (valid, supported) marker was kept
    removed_duplicate_sentences: int = 0
    removed_incomplete_sentence: bool = False  # the last sentence was cut by the token budget


# Prompt scaffolding a small model goes on to write after its answer ("Question: ...", an echoed
# passage header "[4] (dmca, page 18) ..."): everything from such a line on is not the answer.
_SCAFFOLD_LINE = re.compile(r"^[ \t]*(?:(?:Question|Passages?|Answer|Context|Example)\s*:|\[\d{1,3}\]\s*\()", re.M)
_LEADING_LABEL = re.compile(r"^\s*(?:Answer|A)\s*:\s*", re.IGNORECASE)
_DANGLING_MARKER = re.compile(r"\s*\[[\d,;\s-]*$")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_WORD = re.compile(r"[^\W\d_][\w’'.-]*", re.UNICODE)
_END_PUNCT = ".!?…"


def strip_scaffolding(text: str) -> str:
    """The answer without a leading ``Answer:`` label, anything from an echoed prompt line on,
    and a marker cut off by the token budget (``"... 2020 ["``)."""
    text = _LEADING_LABEL.sub("", text.strip())
    m = _SCAFFOLD_LINE.search(text)
    if m is not None:
        text = text[: m.start()]
    return _DANGLING_MARKER.sub("", text.rstrip()).strip()


def _numbers(text: str) -> set[str]:
    """Numbers as canonical strings: ``"2,236,457"`` -> ``"2236457"``, ``"five"`` -> ``"5"``."""
    out = {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    out |= {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS}
    return out


def _entities(sentence: str) -> set[str]:
    """Stems of the named entities of an answer sentence: capitalised words that do not open it,
    and acronyms anywhere (``"FAA"``, ``"DMCA's"``)."""
    out: set[str] = set()
    for i, m in enumerate(_WORD.finditer(sentence)):
        word = re.sub(r"[’']s$", "", m.group(0).rstrip(".-’'"))
        letters = [c for c in word if c.isalpha()]
        if len(letters) < 2:
            continue
        acronym = sum(c.isupper() for c in letters) >= 2
        if acronym or (i > 0 and word[0].isupper()):
            out.update(content_terms(word))
    return out


@dataclass(slots=True)
class _Passage:
    chunk: RetrievedChunk
    units: list[tuple[int, int]]  # quotable sentence spans (no injected text)
    unit_terms: list[set[str]]
    terms: set[str]
    numbers: set[str]
    names: set[str]  # terms plus the title's terms, for the entity check


def _passage(chunk: RetrievedChunk) -> _Passage:
    finding = detect_injection(chunk.text)
    bad = [(s.start, s.end) for s in finding.spans] if finding else []
    units = [(s, e) for s, e in split_units(chunk.text) if not any(s < be and bs < e for bs, be in bad)]
    unit_terms = [set(content_terms(chunk.text[s:e])) for s, e in units]
    terms = set().union(*unit_terms) if unit_terms else set()
    numbers: set[str] = set()
    for s, e in units:
        numbers |= _numbers(chunk.text[s:e])
    terms |= numbers  # "five" in the passage supports "5" in the answer
    title = set(content_terms(chunk.document_title.replace("_", " ").replace("-", " ")))
    return _Passage(chunk, units, unit_terms, terms, numbers, terms | title)


@dataclass(slots=True)
class _Sentence:
    body: str  # the model's words, markers removed, whitespace normalised
    markers: list[int]
    complete: bool  # ends with sentence punctuation or a marker


def _sentences(text: str) -> list[_Sentence]:
    """Split into sentences; a marker opening a unit ("First. [1] Second.") closes the previous one."""
    out: list[_Sentence] = []
    for s, e in split_units(text):
        unit = text[s:e]
        lead = re.match(r"(?:\s*" + MARKER.pattern + r")+", unit)
        if lead and out:
            out[-1].markers += [n for m in MARKER.finditer(lead.group(0)) for n in parse_marker(m.group(1))]
            unit = unit[lead.end() :]
        markers = [n for m in MARKER.finditer(unit) for n in parse_marker(m.group(1))]
        body = " ".join(MARKER.sub(" ", unit).split())
        body = re.sub(r"\s+([.,;:!?…])", r"\1", body)
        if not any(c.isalnum() for c in body):
            if out:
                out[-1].markers += markers
            continue
        stripped = unit.rstrip()
        out.append(_Sentence(body, markers, stripped[-1:] in _END_PUNCT + "]" or body[-1:] in _END_PUNCT))
    return out


def _attach(body: str, numbers: Sequence[int]) -> str:
    """``"It opens at 9 am."`` + [1, 2] -> ``"It opens at 9 am [1, 2]."``"""
    marker = "[" + ", ".join(str(n) for n in numbers) + "]"
    trail = len(body) - len(body.rstrip(_END_PUNCT + ":;,"))
    core, punct = (body[:-trail], body[-trail:]) if trail else (body, "")
    punct = punct if punct[:1] in tuple(_END_PUNCT) else "."
    return f"{core.rstrip()} {marker}{punct}"


def ground_answer(
    answer_text: str,
    chunks: Sequence[RetrievedChunk],
    *,
    question: str = "",
    truncated: bool = False,
    config: GroundingConfig | None = None,
) -> GroundingResult:
    """Cite or drop every sentence of ``answer_text``; see the module docstring.

    ``chunks`` are the passages the prompt showed, in prompt order (marker ``[n]`` names
    ``chunks[n - 1]``); ``question`` is the question the prompt asked. ``truncated``: generation
    stopped at the token budget, so a last sentence without closing punctuation is dropped as
    incomplete (not flagged).
    """
    cfg = config or GroundingConfig()
    passages = [_passage(c) for c in chunks]
    n_docs = len(passages)
    df: Counter[str] = Counter()
    for p in passages:
        df.update(p.terms)

    def idf(term: str) -> float:
        return math.log(1 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))

    def support(
        terms: set[str], numbers: set[str], names: set[str], asked: set[str], cited: Sequence[_Passage]
    ) -> float:
        have = set().union(*(p.terms for p in cited)) if cited else set()
        if not numbers <= set().union(*(p.numbers for p in cited)):
            return 0.0
        known = set().union(*(p.names for p in cited)) if cited else set()
        if not names <= known or len(asked & (known | have)) < cfg.asked_entity_share * len(asked):
            return 0.0
        total = sum(idf(t) for t in terms)
        return sum(idf(t) for t in terms & have) / total if total else 0.0

    premise = set(content_terms(question)) | _numbers(question)
    sentences = _sentences(strip_scaffolding(answer_text))
    incomplete = bool(truncated and sentences and not sentences[-1].complete)
    if incomplete:
        sentences = sentences[:-1]

    removed_markers: list[int] = []
    unsupported: list[str] = []
    kept: list[tuple[str, list[tuple[int, int, int]]]] = []  # (body, [(passage index, start, end)])
    seen: set[str] = set()
    duplicates = grounded = cited_own = 0
    flagged = False
    for sent in sentences:
        key = " ".join(content_terms(sent.body))
        if key in seen and key:
            duplicates += 1
            continue
        numbers = _numbers(sent.body)
        terms = set(content_terms(sent.body)) | numbers
        if not terms - premise:
            terms = set()  # it only restates the question
        names = _entities(sent.body) | {n for n in numbers if n}
        asked = names & premise  # the question's own names and numbers, repeated
        names -= premise
        numbers -= premise
        valid = [n for n in dict.fromkeys(sent.markers) if 1 <= n <= n_docs and passages[n - 1].units]
        bad = [n for n in sent.markers if n not in valid]
        if bad:
            removed_markers += bad
            flagged = True
        chosen: list[int] = []
        if valid:
            cited = [passages[n - 1] for n in valid]
            if not cfg.verify_markers or support(terms, numbers, names, asked, cited) >= cfg.min_support:
                chosen = [n - 1 for n in valid]
                cited_own += 1
            else:
                removed_markers += valid
                flagged = True
        if not chosen and terms:
            scores = [support(terms, numbers, names, asked, [p]) for p in passages]
            best = max(range(n_docs), key=lambda i: (scores[i], -i), default=None)
            if best is not None and scores[best] >= cfg.min_support:
                chosen = [best]
                grounded += 1
        if not chosen:
            unsupported.append(sent.body)
            flagged = True
            continue
        seen.add(key)
        spans = []
        for i in chosen:
            p = passages[i]
            j = max(range(len(p.units)), key=lambda u: (sum(idf(t) for t in terms & p.unit_terms[u]), -u))
            spans.append((i, *p.units[j]))
        kept.append((sent.body, spans))

    # Provisional numbers by first use; validate_citations re-checks and renumbers.
    number: dict[tuple[int, int, int], int] = {}
    parts: list[str] = []
    for body, spans in kept:
        ns = [number.setdefault(span, len(number) + 1) for span in spans]
        parts.append(_attach(body, sorted(set(ns), key=ns.index)))
    citations = []
    for (i, s, e), n in number.items():
        c = passages[i].chunk
        citations.append(Citation(n, c.chunk_id, c.document_id, c.document_title, c.page, c.text[s:e], s, e))
    result = validate_citations(
        " ".join(parts),
        citations,
        {c.chunk_id for c in chunks},
        chunk_texts={c.chunk_id: c.text for c in chunks},
    )
    return GroundingResult(
        text=result.text if result.citations else "",
        citations=result.citations,
        flagged=flagged or result.flagged,
        removed_markers=removed_markers + result.removed_markers,
        removed_unsupported_sentences=unsupported,
        grounded_sentences=grounded,
        cited_sentences=cited_own,
        removed_duplicate_sentences=duplicates,
        removed_incomplete_sentence=incomplete,
    )
