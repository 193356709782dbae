# ruff: noqa: RUF001  (dash/quote look-alikes are matched on purpose)
"""The default answerer: extractive, no LLM.

Pipeline: split every retrieved chunk into sentence/row units (:func:`qa.answering.text.split_units`),
score each unit against the question with BM25 whose IDF comes from the retrieved units only,
boost by the chunk's retrieval rank, check that the question is actually supported, then emit the
best few units, each followed by a ``[n]`` marker.

Invariants:
- Every sentence of a found answer ends with exactly one marker ``[n]``; ``citations[n-1].n == n``
  and its ``quote`` is ``chunk.text[start:end]`` (verbatim, offsets included).
- Units that overlap a detected prompt injection are never quoted.
- ``found=False`` answers have text :data:`NOT_FOUND_TEXT`, no citations and a ``reason``.
- Deterministic: same input, same output (ties broken by chunk rank, then position).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from documents.passages import RetrievedChunk
from qa.answering.qtypes import answers_yes_no, has_value, is_code, is_quotable, question_type
from qa.answering.text import content_terms, is_row, normalise_ws, split_units, stem, word_terms, words
from qa.answering.types import NOT_FOUND_TEXT, Answer, Citation
from qa.guardrails.injection import detect_injection

__all__ = ["ExtractiveConfig", "answer_extractive"]

# Question words that name the kind of answer wanted; they rarely occur next to the answer
# ("on what date" -> "October 28, 1998"), so they neither score nor count as missing support.
_ANSWER_TYPE_WORDS = frozenset(
    stem(w)
    for w in words(
        """
    date dates day days year years time number numbers amount total many much long big large
    size percent percentage value figure figures count name names called title kind type happen
    happened
        """
    )
)
_CAPITALISED = re.compile(r"(?<![\w])(?:[A-ZÀ-Ý][\w’'-]*|[A-Z]{2,}\w*|\d[\d,./-]*\d|\d)")

_NUMERIC_QUESTION = re.compile(
    r"\b(?:how\s+(?:many|much|long|old|far|big|large|often)|when|what\s+(?:date|year|day|time|percentage|"
    r"amount|number|share|rate)|(?:maximum|minimum|total|average|number|amount|cost|price|fee|penalty|"
    r"fine|rate|size|length|population|area)\b|wie\s+(?:viele?|lange|hoch)|wann|combien|quand|"
    r"cu[aá]nt[oa]s?|cu[aá]ndo)",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"(?<![\w.])[$€£]?\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|thousand|million|billion)\b",
    re.IGNORECASE,
)
# "section 1201 or 1202", "page 24": numbers that name things, not answers ("No. 07-1315" may be one).
_REFERENCE_BEFORE = re.compile(
    r"\b(?:sections?|§+|articles?|titles?|parts?|pages?|chapters?|rules?|lines?|"
    r"schedules?|appendix|table|figure|fig\.)\s*(?:\d[\w.-]*\s*(?:,|or|and|to|-)\s*)?$",
    re.IGNORECASE,
)
_BRACKET_NUM = re.compile(r"\[(\d+(?:\s*[,;\-–]\s*\d+)*)\]")


def _tuned() -> dict[str, object]:
    """Abstention thresholds chosen on the tune half by ``bench/tune_abstention.py --write``."""
    path = Path(__file__).with_name("abstention.json")
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8"))["values"])


_TUNED = _tuned()
MIN_SUPPORT = float(_TUNED.get("min_support", 0.4))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ExtractiveConfig:
    """Tuning knobs; defaults were set on ``qa/dev.jsonl`` with ``bench/qa_extractive_dev.py``."""

    k1: float = 1.2
    b: float = 0.75
    rank_decay: float = 0.08  # score multiplier per retrieval rank: 1 / (1 + rank_decay * rank)
    key_boost: float = 1.0  # extra weight of entity terms (names, numbers); 1.5 did not help on dev
    neighbour_weight: float = 0.0  # share of the adjacent sentences' score (0.25 and 0.5 lost on dev)
    compound_weight: float = 0.7  # "semester" inside "Wintersemester" counts this much
    follow_ratio: float = 0.45  # extra sentences need this fraction of the best score
    redundancy: float = 0.6  # max term-set Jaccard with an already chosen sentence
    max_unit_chars: int = 600  # longer units (run-on table text) are skipped
    answer_type_bonus: float = 0.5  # x mean question-term weight, for a sentence holding a new
    # number when the question asks for one ("how many", "when", "what is the maximum penalty")
    # Abstention (issue 11 item 5); defaults from qa/answering/abstention.json (tune half only).
    require_type: bool = bool(_TUNED.get("require_type", True))  # "how many"/"when"/"who" need a
    # sentence holding that kind of value ...
    type_floor: float = float(_TUNED.get("type_floor", 0.5))  # type: ignore[arg-type]
    # ... among sentences scoring at least this share of the best one
    require_entities: bool = bool(_TUNED.get("require_entities", True))  # asked names/periods must
    # be next to the answer sentence
    entity_scope: str = str(_TUNED.get("entity_scope", "document"))  # where the asked names and
    # periods must occur: "document" (the answer's document), "mixed" (names near the sentence),
    # "local" (all near the sentence)


@dataclass(slots=True)
class _Unit:
    chunk_index: int
    start: int
    end: int
    terms: list[str]
    words: list[str]
    own: float = 0.0
    score: float = 0.0


def _question_terms(question: str) -> tuple[list[str], set[str]]:
    """Return (unique content terms, key terms).

    Key terms are capitalised words not at sentence start, acronyms and multi-digit numbers: the
    entities the answer must be about ("Kentucky", "December", "2015", "DMCA").
    """
    terms: list[str] = []
    for t in content_terms(question):
        if t not in terms and t not in _ANSWER_TYPE_WORDS:
            terms.append(t)
    keys: set[str] = set()
    for m in _CAPITALISED.finditer(question):
        if m.start() == 0 or question[: m.start()].rstrip().endswith(("?", "¿", "¡", ".")):
            continue
        for t in content_terms(m.group(0)):
            if t in terms and len(t) >= 2:
                keys.add(t)
    return terms, keys


def answer_extractive(
    question: str,
    chunks: Sequence[RetrievedChunk],
    *,
    max_sentences: int = 3,
    min_support: float = MIN_SUPPORT,
    config: ExtractiveConfig | None = None,
) -> Answer:
    """Answer ``question`` from ``chunks`` (best first) by quoting their sentences.

    Decline (``found=False``) when a key question term (name, number, acronym) occurs in no
    retrieved passage or document title, or when the best sentence, with its neighbours as
    context, covers less than ``min_support`` of the question's IDF-weighted content terms.
    Raises ValueError if ``max_sentences`` < 1.
    """
    if max_sentences < 1:
        raise ValueError("max_sentences must be >= 1")
    cfg = config or ExtractiveConfig()
    qtype = question_type(question)
    q_terms, key_terms = _question_terms(question)
    if not q_terms:
        return _not_found("the question has no content words")
    if not chunks:
        return _not_found("no passages were retrieved")

    units: list[_Unit] = []
    for ci, chunk in enumerate(chunks):
        finding = detect_injection(chunk.text)
        bad = [(s.start, s.end) for s in finding.spans] if finding else []
        for start, end in split_units(chunk.text):
            if end - start > cfg.max_unit_chars or any(start < be and bs < end for bs, be in bad):
                continue
            pairs = word_terms(chunk.text[start:end])
            units.append(_Unit(ci, start, end, [t for _, t in pairs], [w for w, _ in pairs]))
    if not units:
        return _not_found("the passages contain no usable sentences")

    # German-style compounds: a long question term inside a longer passage word ("semester" in
    # "wintersemester") counts as a weaker match of that term.
    alias: dict[str, str] = {}
    long_terms = [t for t in q_terms if len(t) >= 5 and not t[0].isdigit()]
    if long_terms:
        for u in units:
            for w, t in zip(u.words, u.terms, strict=True):
                if t in alias or t in q_terms or len(w) < 7:
                    continue
                for q in long_terms:
                    if q in w:
                        alias[t] = q
                        break

    n_units = len(units)
    df: Counter[str] = Counter()
    for u in units:
        df.update({alias.get(t, t) for t in u.terms})
    max_idf = math.log(1 + (n_units + 0.5) / 0.5)
    idf = {t: (math.log(1 + (n_units - df[t] + 0.5) / (df[t] + 0.5)) if df[t] else max_idf) for t in q_terms}
    weight = {t: idf[t] * (cfg.key_boost if t in key_terms else 1.0) for t in q_terms}

    title_terms = {t for c in chunks for t in _title_terms(c.document_title)}
    missing_keys = sorted(k for k in key_terms if not df[k] and k not in title_terms)
    if missing_keys:
        return _not_found(f"key question terms absent from every passage: {', '.join(missing_keys)}")

    avg_len = sum(len(u.terms) for u in units) / n_units or 1.0
    q_set = set(q_terms)
    for u in units:
        tf: dict[str, float] = {}
        for t in u.terms:
            if t in q_set:
                tf[t] = tf.get(t, 0.0) + 1.0
            elif t in alias:
                tf[alias[t]] = tf.get(alias[t], 0.0) + cfg.compound_weight
        norm = cfg.k1 * (1 - cfg.b + cfg.b * len(u.terms) / avg_len)
        u.own = sum(weight[t] * f * (cfg.k1 + 1) / (f + norm) for t, f in tf.items())
    numeric = bool(_NUMERIC_QUESTION.search(question))
    q_numbers = {m.group(0).lower() for m in _NUMBER.finditer(question)}

    def has_new_number(u: _Unit) -> bool:
        text = chunks[u.chunk_index].text[u.start : u.end]
        return any(
            m.group(0).lower() not in q_numbers
            and not _REFERENCE_BEFORE.search(text, max(0, m.start() - 24), m.start())
            for m in _NUMBER.finditer(text)
        )

    if numeric and cfg.answer_type_bonus:
        bonus = cfg.answer_type_bonus * sum(weight.values()) / len(weight)
        for u in units:
            if u.own > 0 and has_new_number(u):
                u.own += bonus
    for i, u in enumerate(units):
        ctx = sum(units[j].own for j in (i - 1, i + 1) if 0 <= j < n_units and units[j].chunk_index == u.chunk_index)
        u.score = (u.own + cfg.neighbour_weight * ctx) / (1 + cfg.rank_decay * u.chunk_index)

    order = sorted(range(n_units), key=lambda i: (-units[i].score, units[i].chunk_index, units[i].start))
    if units[order[0]].own <= 0 and units[order[0]].score <= 0:
        return _not_found("no sentence shares a content word with the question")

    total = sum(weight.values())
    chunk_title_terms = [_title_terms(c.document_title) for c in chunks]

    def unit_text(i: int) -> str:
        u = units[i]
        return chunks[u.chunk_index].text[u.start : u.end]

    def context_terms(i: int) -> set[str]:
        u = units[i]
        # The document title says what a bare table row is about ("nics-background-checks.pdf");
        # neighbours often name the subject of a short answer sentence. A table row's
        # neighbours are other rows (another state, another country): its context is the
        # chunk's first line (caption or header) instead.
        have = {alias.get(t, t) for t in u.terms} | chunk_title_terms[u.chunk_index]
        if is_row(unit_text(i)):
            first = next((j for j in range(i, -1, -1) if j == 0 or units[j - 1].chunk_index != u.chunk_index), i)
            return have | {alias.get(t, t) for t in units[first].terms}
        for j in (i - 1, i + 1):
            if 0 <= j < n_units and units[j].chunk_index == u.chunk_index:
                have |= {alias.get(t, t) for t in units[j].terms}
        return have

    def support(i: int) -> float:
        have = context_terms(i)
        return sum(weight[t] for t in q_terms if t in have) / total

    doc_terms: dict[object, set[str]] = {}
    for u in units:
        doc = chunks[u.chunk_index].document_id
        doc_terms.setdefault(doc, set(chunk_title_terms[u.chunk_index])).update(alias.get(t, t) for t in u.terms)

    def missing_entities(i: int, scope: str) -> list[str]:
        """Key question terms (names, places, periods) absent from the answer's context:
        ``local``: the sentence, its neighbours and the title; ``document``: the retrieved
        passages of the sentence's document; ``mixed``: periods and numbers document-wide,
        names locally."""
        near = context_terms(i)
        in_doc = doc_terms[chunks[units[i].chunk_index].document_id]
        out = []
        for k in sorted(key_terms):
            period = k[0].isdigit() or k in _PERIOD_TERMS
            have = in_doc if scope == "document" or (scope == "mixed" and period) else near
            if k not in have:
                out.append(k)
        return out

    def answer_shaped(i: int) -> bool:
        text = unit_text(i)
        if is_quotable(text, is_row=is_row(text)):
            return True
        chunk = chunks[units[i].chunk_index]
        if chunk.page is None and chunk.text.strip() == text and not is_code(text):
            return True  # a whole DOCX/TXT passage (a text box, a footnote): nothing it could head
        # A short line holding the asked value ("Your Name January 3, 2024", "1100 REGISTERED
        # VOTERS") answers a "when / how many" question; a bare heading holds no value.
        return qtype in ("date", "number", "person") and has_value(qtype, text, question) and not is_code(text)

    def typed(i: int) -> bool:
        return not cfg.require_type or has_value(qtype, unit_text(i), question)

    # The answer sentence: the best-scoring answer-shaped unit that holds a value of the asked
    # type (a number for "how many", a date for "when", a name for "who"), among those close
    # enough to the best score, preferring one whose own context names the asked entities (the
    # right person, state, row); a neighbour holding the value may answer for it ("It is an
    # offense to ... . Penalties range up to $500,000 ..."). Otherwise decline.
    shaped = [i for i in order if units[i].score > 0 and answer_shaped(i)]
    if not shaped:
        return _not_found("no retrieved sentence can be quoted as an answer")
    best_score = units[shaped[0]].score
    candidates = [i for i in shaped if units[i].score >= cfg.type_floor * best_score]
    lead: int | None = None
    partner: int | None = None  # a sentence that must follow the lead (it found the lead)
    type_miss = False
    for local_first in (True, False):
        # A unit whose own context names every asked entity (the Hawaii row, Siobhan's table)
        # is preferred at any score; otherwise only units close to the best score compete.
        for i in shaped if local_first and key_terms else candidates:
            if local_first and missing_entities(i, "local"):
                continue
            if typed(i):
                lead = i
                break
            u = units[i]
            for j in (i + 1, i - 1):
                if 0 <= j < n_units and units[j].chunk_index == u.chunk_index and answer_shaped(j) and typed(j):
                    lead, partner = j, i
                    break
            if lead is not None:
                break
            type_miss = True
        if lead is not None:
            break
    if lead is None and qtype in ("date", "number", "person"):
        # A heading that matches the question may sit right above the value ("Two-Column
        # Document with Lorem Ipsum" / "Your Name January 3, 2024"): the value answers alone.
        for i in order:
            if units[i].score < cfg.type_floor * best_score:
                break
            if answer_shaped(i):
                continue
            j = i + 1
            if j < n_units and units[j].chunk_index == units[i].chunk_index and answer_shaped(j) and typed(j):
                lead = j
                break
    if lead is None:
        if type_miss:
            return _not_found(f"no retrieved sentence states a {qtype} for this question")
        return _not_found("no retrieved sentence can be quoted as an answer")

    lead_support = support(lead)
    if lead_support < min_support:
        return _not_found(f"weak support: best sentence covers {lead_support:.0%} of the question")
    missing = missing_entities(lead, cfg.entity_scope)
    if missing and cfg.require_entities:
        return _not_found(f"the passages do not mention {', '.join(missing)} next to an answer")

    chosen = [lead] if partner is None else [lead, partner]
    chosen_sets = [set(units[i].terms) for i in chosen]
    lead_doc = chunks[units[lead].chunk_index].document_id
    for i in order:
        if len(chosen) >= max_sentences:
            break
        u = units[i]
        if i in chosen:
            continue
        if u.score < cfg.follow_ratio * units[lead].score:
            break
        if chunks[u.chunk_index].document_id != lead_doc:
            continue  # supporting sentences come from the answer's own document
        text = unit_text(i)
        if is_row(text) or not is_quotable(text, is_row=False):
            continue
        terms = set(u.terms)
        if any(len(terms & c) / max(1, len(terms | c)) > cfg.redundancy for c in chosen_sets):
            continue
        chosen.append(i)
        chosen_sets.append(terms)

    citations: list[Citation] = []
    parts: list[str] = []
    for n, i in enumerate(chosen, start=1):
        u = units[i]
        chunk = chunks[u.chunk_index]
        quote = chunk.text[u.start : u.end]
        citations.append(
            Citation(
                n=n,
                chunk_id=chunk.chunk_id,
                document_id=chunk.document_id,
                document_title=chunk.document_title,
                page=chunk.page,
                quote=quote,
                start=u.start,
                end=u.end,
            )
        )
        # A document's own "[3]" would read as one of our markers: show it as "(3)" instead.
        sentence = _BRACKET_NUM.sub(r"(\1)", normalise_ws(quote).replace("\x02", ""))
        if n == 1:
            direct = _direct_sentence(question, qtype, content_terms(question), sentence)
            if direct:
                parts.append(f"{direct} [{n}]")
        parts.append(f"{sentence} [{n}]")
    return Answer(
        text=" ".join(parts),
        citations=citations,
        found=True,
        reason=f"{qtype} question; support {lead_support:.2f} over {n_units} sentences",
    )


_CELL = re.compile(r"\s*([^|:]{1,80}?)\s*:\s*([^|]+?)\s*(?=\||$)")


def _direct_sentence(question: str, qtype: str, q_terms: list[str], sentence: str) -> str:
    """A short opening sentence when the quoted one does not open with the answer itself:
    "Yes." / "Nein." for yes/no questions; for a labelled table row ("State: Vermont | Handgun:
    1,234 | ..."), the row's first cell and the cells whose labels the question names."""
    if qtype == "yes_no":
        return answers_yes_no(question, sentence) + "."
    if " | " not in sentence:
        return ""
    cells = [(m.group(1).strip(), m.group(2).strip()) for m in _CELL.finditer(sentence)]
    if len(cells) < 2:
        return ""
    q = set(q_terms)
    asked = [(lab, val) for lab, val in cells[1:] if q & set(content_terms(lab))]
    if not asked:
        return ""
    head = f"{cells[0][0]}: {cells[0][1]}"
    return head + " — " + "; ".join(f"{lab}: {val}" for lab, val in asked[:3]) + "."


# Months and period words: asked periods are checked against the whole document's passages.
_PERIOD_TERMS = frozenset(
    stem(w)
    for w in words(
        """
    january february march april may june july august september october november december
    januar februar märz juni juli oktober dezember quarter fiscal
        """
    )
)


_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_TITLE_PERIOD = re.compile(r"(?<!\d)(?:19|20)\d\d[-_.](0[1-9]|1[0-2])(?!\d)")


def _title_terms(title: str) -> set[str]:
    """Terms of a document title; a year-month in a file name ("...-2015-11.pdf") also names
    its month, so "November 2015" is about that document."""
    terms = set(content_terms(title.replace("_", " ")))
    for m in _TITLE_PERIOD.finditer(title):
        terms.add(stem(_MONTH_NAMES[int(m.group(1)) - 1]))
    return terms


def _not_found(reason: str) -> Answer:
    return Answer(text=NOT_FOUND_TEXT, citations=[], found=False, reason=reason)
