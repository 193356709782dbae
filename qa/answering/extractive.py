# ruff: noqa: RUF001  (dash/quote look-alikes are matched on purpose)
"""The default answerer: extractive, no LLM.

Pipeline: split every retrieved chunk into sentence/row units (:func:`qa.answering.text.split_units`,
lower-case continuations joined to the sentence they continue), score each unit against the
question with BM25 whose IDF comes from the retrieved units only, describe each unit by a few
features (:data:`FEATURES`: coverage of the question, asked entities present, a value of the
asked type, retrieval rank, shape), and let a small logistic selector fitted on the tune half of
``bench/data/qa_eval`` (``bench/train_answer_selector.py`` -> ``selector_weights.json``) give each
unit its probability of holding the answer. The most probable answer-shaped unit leads; a few
more of the same document support it; every one is followed by a ``[n]`` marker.

Invariants:
- Every sentence of a found answer ends with exactly one marker ``[n]``; ``citations[n-1].n == n``
  and its ``quote`` is ``chunk.text[start:end]`` (verbatim, offsets included).
- Units that overlap a detected prompt injection are never quoted.
- ``found=False`` answers have text :data:`NOT_FOUND_TEXT`, no citations and a ``reason``.
- Deterministic: same input, same output (ties broken by chunk rank, then position).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from documents.lexical import language
from documents.passages import RetrievedChunk
from qa.answering.qtypes import (
    NUMBER_WORDS,
    answers_yes_no,
    has_value,
    is_code,
    is_quotable,
    period_mismatch,
    question_type,
    sole_value,
)
from qa.answering.text import content_terms, fold, is_row, normalise_ws, split_units, stem, word_terms, words
from qa.answering.types import NOT_FOUND_TEXT, Answer, Citation
from qa.guardrails.injection import detect_injection

__all__ = [
    "FEATURES",
    "ExtractiveConfig",
    "SelectorModel",
    "UnitCandidate",
    "answer_extractive",
    "load_selector",
    "sentence_candidates",
]

# Question words that name the kind of answer wanted (English, German, Portuguese); they rarely
# occur next to the answer ("on what date" -> "October 28, 1998", "in welchem Jahr" -> "2013"),
# so they neither score nor count as missing support. (Not the words that are content words in
# another language: Portuguese "data", German "Art", "Tag".)
_ANSWER_TYPE_WORDS = frozenset(
    stem(w)
    for w in words(
        """
    date dates day days year years time number numbers amount total many much long big large
    size percent percentage value figure figures count name names called title kind type happen
    happened phone telephone fax
    datum tage jahr jahre monat zeit anzahl zahl nummer betrag summe wert namen heißt heisst genannt
    bezeichnet dia dias ano anos mês número quantidade valor montante nome nomes chama chamado
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
_NUMBER = re.compile(rf"(?<![\w.])[$€£]?\d[\d,.]*\b|\b(?:{NUMBER_WORDS})\b", re.IGNORECASE)
# "section 1201 or 1202", "page 24": numbers that name things, not answers ("No. 07-1315" may be one).
_REFERENCE_BEFORE = re.compile(
    r"\b(?:sections?|§+|articles?|titles?|parts?|pages?|chapters?|rules?|lines?|"
    r"schedules?|appendix|table|figure|fig\.)\s*(?:\d[\w.-]*\s*(?:,|or|and|to|-)\s*)?$",
    re.IGNORECASE,
)
_BRACKET_NUM = re.compile(r"\[(\d+(?:\s*[,;\-–]\s*\d+)*)\]")


SELECTOR_PATH = Path(__file__).with_name("selector_weights.json")

# What the selector sees of one sentence unit; ``bench/train_answer_selector.py`` fits a
# logistic model over these on the tune half and stores it in ``selector_weights.json``.
FEATURES: tuple[str, ...] = (
    "bm25_rel",  # the unit's BM25 score over the best unit's
    "bm25_cov",  # its BM25 score over the most a unit could score (absolute, for abstention)
    "unit_cov",  # IDF-weighted share of question terms in the unit itself
    "context_cov",  # ... in the unit, its neighbours (or a row's header) and the document title
    "bigram",  # share of the question's adjacent content-term pairs found adjacent in the unit
    "keys_missing_local",  # share of asked names/numbers absent from the unit's context
    "keys_missing_doc",  # ... absent from the unit's document's retrieved passages
    "typed",  # holds a value of the asked type (a number for "how many", a date for "when")
    "typed_needed",  # the question asks for a typed value
    "new_number",  # holds a number the question does not (for numeric questions)
    "rank_inv",  # 1 / (1 + retrieval rank of its passage)
    "passage_score_rel",  # its passage's retrieval score over the best passage's
    "shaped",  # quotable as an answer (not a heading, code, or fragment)
    "row",  # a table row
    "log_len",
    "first_in_passage",
    "neighbour_rel",  # best adjacent unit's BM25 over the best unit's
    "heading_like",
    "yes_no",  # a yes/no question (the sentence itself is the answer)
)


@dataclass(frozen=True, slots=True)
class SelectorModel:
    """Logistic model over :data:`FEATURES` (standardised) plus the abstention threshold."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    min_confidence: float
    min_support: float = 0.0  # the lead's context must cover this share of the question's terms

    def probability(self, x: Sequence[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def load_selector(path: Path = SELECTOR_PATH) -> SelectorModel | None:
    """The fitted selector, or None when it has not been fitted (features out of date count as
    not fitted: a model is only valid for the feature list it was trained on)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data.get("features", ())) != FEATURES:
        return None
    return SelectorModel(
        mean=tuple(data["mean"]),
        scale=tuple(data["scale"]),
        weights=tuple(data["weights"]),
        bias=float(data["bias"]),
        min_confidence=float(data["min_confidence"]),
        min_support=float(data.get("min_support", 0.0)),
    )


_SELECTOR = load_selector()
_CONTEXT_COV = FEATURES.index("context_cov")
_KEYS_MISSING_LOCAL = FEATURES.index("keys_missing_local")
_NEAR_TIE = 0.05  # probability gap within which the unit naming more asked entities leads
# Without a fitted model: the BM25 share alone ranks units, and nothing is declined on score.
_FALLBACK = SelectorModel(
    mean=(0.0,) * len(FEATURES),
    scale=(1.0,) * len(FEATURES),
    weights=tuple(4.0 if f == "bm25_rel" else 0.0 for f in FEATURES),
    bias=-2.0,
    min_confidence=0.0,
)


@dataclass(frozen=True, slots=True)
class ExtractiveConfig:
    """Unit scoring and answer assembly knobs (set on ``qa/dev.jsonl``; the learned selector and
    its abstention threshold come from ``selector_weights.json``, fitted on the tune half)."""

    k1: float = 1.2
    b: float = 0.75
    compound_weight: float = 0.7  # "semester" inside "Wintersemester" counts this much
    follow_ratio: float = 0.5  # supporting sentences need this share of the lead's probability
    redundancy: float = 0.6  # max term-set Jaccard with an already chosen sentence
    max_unit_chars: int = 600  # longer units (run-on table text) are skipped
    require_entities: bool = True  # asked names/periods must occur in the answer's document


@dataclass(slots=True)
class _Unit:
    chunk_index: int
    start: int
    end: int
    terms: list[str]
    words: list[str]
    own: float = 0.0


@dataclass(frozen=True, slots=True)
class UnitCandidate:
    """One sentence/row unit of the retrieved passages with its selector features."""

    index: int
    chunk_index: int
    start: int
    end: int
    text: str
    features: tuple[float, ...]
    shaped: bool
    typed: bool


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
    # What the question quotes ("zhgd.", „Lineare Algebra I“) is the entity asked about.
    for m in _QUOTED.finditer(question):
        keys.update(t for t in content_terms(m.group(1)) if t in terms)
    german = _is_german(question)
    for m in _CAPITALISED.finditer(question):
        if m.start() == 0 or question[: m.start()].rstrip().endswith(("?", "¿", "¡", ".")):
            continue
        if german and not any(ch.isdigit() for ch in m.group(0)) and not m.group(0).isupper():
            continue  # every German noun is capitalised: only numbers and acronyms are keys
        for t in content_terms(m.group(0)):
            if t in terms and len(t) >= 2:
                keys.add(t)
    return terms, keys


_NAME_RUN = re.compile(r"[A-ZÀ-Ý][\w’'-]*(?:\s+(?:(?:of|and|for|the|de|do|da|der|für|und)\s+)?[A-ZÀ-Ý][\w’'-]*)+")


def _acronyms(question: str) -> dict[str, list[tuple[str, str]]]:
    """The acronyms of the question's multi-word names, each with that name's terms: a passage
    saying "DMCA" speaks of the "Digital Millennium Copyright Act" the question names."""
    out: dict[str, list[tuple[str, str]]] = {}
    for m in _NAME_RUN.finditer(question):
        caps = [w for w in m.group(0).split() if w[:1].isupper()]
        if len(caps) >= 2:
            out[fold("".join(w[0] for w in caps))] = word_terms(m.group(0))
    return out


_QUOTED = re.compile(r'["“„«»]([^"“”„«»]{1,60})["”“«»]')


_GERMAN_QUESTION = re.compile(
    r"^\s*(?:wer|was|wie|wann|wo|woher|wohin|warum|weshalb|welche[mnrs]?|wieviele?|in\s+welche[mnrs]?|"
    r"an\s+welche[mnrs]?|von\s+wem|gibt|ist|sind|kann|können|muss|hat|haben|wird|darf)\b",
    re.IGNORECASE,
)


def _is_german(question: str) -> bool:
    return bool(_GERMAN_QUESTION.match(question))


def _build_units(
    chunks: Sequence[RetrievedChunk], max_chars: int, acronyms: dict[str, list[tuple[str, str]]] | None = None
) -> list[_Unit]:
    units: list[_Unit] = []
    acronyms = acronyms or {}
    for ci, chunk in enumerate(chunks):
        finding = detect_injection(chunk.text)
        bad = [(s.start, s.end) for s in finding.spans] if finding else []
        spans = _join_fragments(chunk.text, split_units(chunk.text), max_chars)
        for start, end in spans:
            if end - start > max_chars or any(start < be and bs < end for bs, be in bad):
                continue
            pairs = word_terms(chunk.text[start:end])
            pairs += _date_months(chunk.text[start:end])
            pairs += [p for w, _ in pairs if w in acronyms for p in acronyms[w]]
            units.append(_Unit(ci, start, end, [t for _, t in pairs], [w for w, _ in pairs]))
    return units


# A glossary or abbreviation-list line ("zhgd. zusammenhängend", "vgl. vergleiche") starts in
# lower case but continues nothing: it is an entry of its own.
_GLOSSARY_LINE = re.compile(r"[a-zß-ÿ][\w.]{0,8}\.\s+\S")


_LIST_ITEM = re.compile(r"\s*(?:\(?\d{1,2}[.)]|\(?[a-z][.)]|[•◦▪·*–—-])\s+\S")
# A line a list completes: a lead-in ("for at least:") or an item that goes on ("2007, and").
_OPENS_LIST = re.compile(r"(?::|[,;]|[,;]?\s+(?:and|or|und|oder|e|ou))\s*$", re.IGNORECASE)


def _join_fragments(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Join a unit that continues the one before it to that unit: one starting in lower case
    ("and up to a $1,000,000 fine ... offenses.", "argument before the Supreme Court"), or one
    after a run-on line cut mid-sentence ("STEVEN E. MERCER, ESQ., Deputy Attorney General, Los" /
    "Angeles, Cal.; on behalf of the Petitioner."). Double-spaced transcripts and list breaks cut
    sentences this way; quoting either half alone would be a fragment."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        piece = text[start:end]
        first = piece.lstrip("\"'“‘([•*-–— ")[:1]
        if out and end - out[-1][0] <= max_chars:
            prev = text[out[-1][0] : out[-1][1]]
            # "... present in the United States for at least:" / "1. 31 days during 2007, and" /
            # "2. 183 days during ...": list items that complete the line before them (an item
            # with figures counts as a row by its numbers alone; one with cells never joins)
            listed = (
                _LIST_ITEM.match(piece)
                and _OPENS_LIST.search(prev)
                and " | " not in piece + prev
                and len(prev) + len(piece) <= max_chars // 2
            )
            if listed:
                out[-1] = (out[-1][0], end)
                continue
            if is_row(piece) or is_row(prev):
                out.append((start, end))
                continue
            letters = [ch for ch in prev if ch.isalpha()]
            prose = sum(ch.islower() for ch in letters) >= 0.5 * len(letters)  # not a capitals heading
            run_on = prose and prev[-1:].isalpha() and ("," in prev or len(prev) > 60) and first.isalpha()
            # (a wrapped prose line before "e.g. when ..." is long: that one is still joined)
            glossary = _GLOSSARY_LINE.match(piece) and len(piece) <= 80 and len(prev) <= 80 and prev[-1:] != ","
            if not glossary and (first.islower() or run_on):
                out[-1] = (out[-1][0], end)
                continue
        out.append((start, end))
    return out


class _Evidence:
    """The question's terms and the scored units of its passages (one question, one call)."""

    def __init__(self, question: str, chunks: Sequence[RetrievedChunk], cfg: ExtractiveConfig) -> None:
        self.question = question
        self.chunks = chunks
        self.cfg = cfg
        self.qtype = question_type(question)
        self.q_terms, self.key_terms = _question_terms(question)
        self.quoted = [fold(m.group(1).strip()) for m in _QUOTED.finditer(question) if m.group(1).strip()]
        self.furniture_asked = _furniture_asked(question)  # {"header"}, {"footer"}, both or none
        self.heading_asked = bool(_HEADING_Q.search(question))
        self.asked_months = {t for t in self.q_terms if t in _MONTH_TERMS}
        self.asked_numbered = {(_numbered_label(label), num.lower()) for label, num in _NUMBERED.findall(question)}
        self.langs = [language(c.text) for c in chunks]
        self.units = _build_units(chunks, cfg.max_unit_chars, _acronyms(question)) if self.q_terms else []
        self.alias: dict[str, str] = {}
        self.weight: dict[str, float] = {}
        self.doc_terms: dict[object, set[str]] = {}
        self.title_terms = [_title_terms(c.document_title) | _context_terms(c) for c in chunks]
        if self.units:
            self._score()

    def _score(self) -> None:
        units, q_terms, cfg = self.units, self.q_terms, self.cfg
        # German-style compounds: a long question term inside a longer word of a German or
        # Portuguese passage ("semester" in "wintersemester") counts as a weaker match of that term.
        long_terms = [t for t in q_terms if len(t) >= 5 and not t[0].isdigit()]
        # An abbreviated name in a passage ("25TH CONGRESS DIST" for "District") stands for the
        # asked entity: a passage term of 4+ letters that begins a longer key term.
        long_keys = [k for k in self.key_terms if len(k) >= 6 and k.isalpha()]
        if long_terms:
            # (English passages do not compound: "plane" in "airplane" is another word)
            english = [lang == "en" for lang in self.langs]
            for u in units:
                for w, t in zip(u.words, u.terms, strict=True):
                    if t in self.alias or t in q_terms:
                        continue
                    if len(w) < 7:
                        if len(t) >= 4 and t.isalpha():
                            abbreviated = next((k for k in long_keys if k.startswith(t) and len(k) >= len(t) + 2), "")
                            if abbreviated:
                                self.alias[t] = abbreviated
                        continue
                    if english[u.chunk_index]:
                        continue
                    for q in long_terms:
                        if q in w:
                            self.alias[t] = q
                            break
        n = len(units)
        self.df: Counter[str] = Counter()
        for u in units:
            self.df.update({self.alias.get(t, t) for t in u.terms})
        max_idf = math.log(1 + (n + 0.5) / 0.5)
        df = self.df
        idf = {t: (math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) if df[t] else max_idf) for t in q_terms}
        self.weight = idf
        avg_len = sum(len(u.terms) for u in units) / n or 1.0
        q_set = set(q_terms)
        for u in units:
            tf: dict[str, float] = {}
            for t in u.terms:
                if t in q_set:
                    tf[t] = tf.get(t, 0.0) + 1.0
                elif t in self.alias:
                    tf[self.alias[t]] = tf.get(self.alias[t], 0.0) + cfg.compound_weight
            norm = cfg.k1 * (1 - cfg.b + cfg.b * len(u.terms) / avg_len)
            u.own = sum(idf[t] * f * (cfg.k1 + 1) / (f + norm) for t, f in tf.items())
        for u in units:
            doc = self.chunks[u.chunk_index].document_id
            self.doc_terms.setdefault(doc, set(self.title_terms[u.chunk_index])).update(
                self.alias.get(t, t) for t in u.terms
            )

    def refusal(self) -> str:
        """Why these passages cannot answer at all ("" when they might)."""
        if not self.q_terms:
            return "the question has no content words"
        if not self.chunks:
            return "no passages were retrieved"
        if not self.units:
            return "the passages contain no usable sentences"
        missing = self.missing_everywhere()
        if missing:
            return f"key question terms absent from every passage: {', '.join(missing)}"
        if max(u.own for u in self.units) <= 0 and not set(self.q_terms) & set().union(*self.title_terms):
            # (a passage's context counts: "What does the second footnote say?" -> "footnote 2")
            return "no sentence shares a content word with the question"
        return ""

    def text(self, i: int) -> str:
        u = self.units[i]
        return self.chunks[u.chunk_index].text[u.start : u.end]

    def missing_everywhere(self) -> list[str]:
        """Asked names/numbers that no retrieved passage or document title holds."""
        titles = set().union(*self.title_terms) if self.title_terms else set()
        return sorted(k for k in self.key_terms if not self.df[k] and k not in titles)

    def _same_chunk(self, i: int, j: int) -> bool:
        return 0 <= j < len(self.units) and self.units[j].chunk_index == self.units[i].chunk_index

    def context_terms(self, i: int) -> set[str]:
        u = self.units[i]
        # The document title says what a bare table row is about ("nics-background-checks.pdf");
        # neighbours often name the subject of a short answer sentence. A table row's
        # neighbours are other rows (another state, another country): its context is the
        # chunk's first line (caption or header) instead; a short row without labels ("v. | : |
        # No. 07-1315" in a case caption) is a layout line whose neighbours name its subject, so
        # it gets both.
        have = {self.alias.get(t, t) for t in u.terms} | self.title_terms[u.chunk_index]
        text = self.text(i)
        if is_row(text):
            first = i
            while self._same_chunk(i, first - 1):
                first -= 1
            have |= {self.alias.get(t, t) for t in self.units[first].terms}
            if text.count(" | ") >= 3 or _LABELLED_CELL.search(text):
                return have
        for j in (i - 1, i + 1):
            if self._same_chunk(i, j):
                have |= {self.alias.get(t, t) for t in self.units[j].terms}
        return have

    def coverage(self, terms: set[str]) -> float:
        total = sum(self.weight.values()) or 1.0
        return sum(self.weight[t] for t in self.q_terms if t in terms) / total

    def missing_keys(self, i: int, *, scope: str, local: set[str] | None = None) -> list[str]:
        """Asked names/periods absent from the unit's ``local`` context (``local``: that context,
        when the caller has it already) or from its ``document``'s retrieved passages."""
        if scope == "document":
            have = self.doc_terms[self.chunks[self.units[i].chunk_index].document_id]
        else:
            have = local if local is not None else self.context_terms(i)
        return sorted(k for k in self.key_terms if k not in have)

    def other_numbered(self, i: int) -> bool:
        """The unit names the asked kind of numbered thing, but only others of it: "STATE
        MEASURE 48" for "... on State Measure 46?", "Section 1202" for "... section 1201?"."""
        if not self.asked_numbered:
            return False
        text = self.text(i)
        if len(text) > 60 and not is_row(text):
            return False  # prose cites other sections in passing ("Under section 1204 penalties ...")
        asked = {label for label, _ in self.asked_numbered}
        named = self._numbered(i, asked)
        j = i
        # a short line or row ("NO | 216") belongs to the numbered heading above it
        while not named and len(self.text(j)) <= 60 and self._same_chunk(j, j - 1):
            j -= 1
            named = self._numbered(j, asked)
        return any(label in named and num not in named[label] for label, num in self.asked_numbered)

    def _numbered(self, i: int, labels: set[str]) -> dict[str, set[str]]:
        named: dict[str, set[str]] = {}
        for label, num in _NUMBERED.findall(self.text(i)):
            if _numbered_label(label) in labels:
                named.setdefault(_numbered_label(label), set()).add(num.lower())
        return named

    def quoted_entry(self, text: str) -> str | None:
        """The quoted question term ``text`` starts with (a glossary entry: "zhgd. zusammenhängend")."""
        start = fold(text.lstrip())
        return next((q for q in self.quoted if start.startswith(q)), None)

    def glossary_entry(self, cands: list[UnitCandidate], order: list[int]) -> tuple[int, int | None] | None:
        """For "what does „Vor.“ stand for?": the most probable unit that starts with the quoted
        term, and the unit after it when the term stands alone ("Vor." | "Voraussetzung")."""
        if not self.quoted or not _MEANING_Q.search(self.question):
            return None
        for i in order:
            term = self.quoted_entry(cands[i].text)
            if term is None:
                continue
            if fold(cands[i].text.strip()).rstrip(".:") != term.rstrip(".:"):
                return (i, None) if cands[i].shaped else None
            if self._same_chunk(i, i + 1):
                return i, i + 1
        return None

    def other_month(self, i: int) -> bool:
        """The unit (with its context) names a month, but none the question asks about: the
        figure of another month's row or report ("January 2016" for "... in April 2016?")."""
        asked = self.asked_months
        if not asked:
            return False
        text = self.text(i)
        if " | " in text:
            # a labelled row's dates: the cell the question names decides ("received in April":
            # "Received: 02/08/2016" is February whatever the "Effective" cell says)
            q = set(self.q_terms)
            named = {
                t
                for label, value in _CELL.findall(text)
                if q & set(content_terms(label))
                for t in content_terms(value) + [s for _, s in _date_months(value)]
                if t in _MONTH_TERMS
            }
            if named:
                return not named & asked
        named = {t for t in self.context_terms(i) if t in _MONTH_TERMS}
        return bool(named) and not named & asked

    def answer_shaped(self, i: int) -> bool:
        text = self.text(i)
        chunk = self.chunks[self.units[i].chunk_index]
        if chunk.kind in _FURNITURE and not self.furniture_asked:
            return False  # a running header/footer ("... Summary December 1998 Page 1") answers only about itself
        if not is_row(text) and (
            _PARENTHETICAL.fullmatch(text) or (text.count(")") > text.count("(") and _CLOSES.search(text))
        ):
            return False  # the tail or the whole of a parenthesis ("1203(c)(5)(B)).", "(Section 1203(c)(5)(A)).")
        if _LEADER_DOTS.search(text):
            return False  # an index or form line ("Domestic production deduction . . . . 9")
        if not self._same_chunk(i, i + 1) and self._same_chunk(i, i - 1) and _CUT_END.search(text) and not is_row(text):
            # the passage's last unit stops mid-sentence ("... access control measures, and the"):
            # the chunk boundary cut it, and the next passage's overlap holds the whole sentence
            # (a line ending in a capital or a figure, "1100 REGISTERED VOTERS", is whole)
            return False
        if is_quotable(text, is_row=is_row(text)):
            return True
        if self.heading_asked and _is_heading_like(text) and not is_code(text) and len(text) > 3:
            return True  # "What is the heading on page one?": a heading is then the answer
        if self.quoted_entry(text) is not None:
            return True  # the glossary entry of the quoted term ("zhgd. zusammenhängend")
        if chunk.page is None and chunk.text.strip() == text and not is_code(text):
            return True  # a whole DOCX/TXT passage (a text box, a footnote): nothing it could head
        # A short line holding the asked value ("Your Name January 3, 2024", "1100 REGISTERED
        # VOTERS") answers a "when / how many" question; a bare heading holds no value.
        # A form's or list's item number alone ("4.", "(5)") says nothing; "29.5 $204" under its
        # header line does.
        first = text.lstrip("\"'“‘([•*-–— ")[:1]
        return (
            self.qtype in _TYPED
            and len(text) <= 120
            and not first.islower()
            and not _ITEM_NUMBER.match(text)
            and has_value(self.qtype, text, self.question)
            and not is_code(text)
        )

    def candidates(self) -> list[UnitCandidate]:
        units, chunks = self.units, self.chunks
        best_own = max(u.own for u in units) or 1.0
        max_own = sum(self.weight.values()) * (self.cfg.k1 + 1) or 1.0
        best_passage = max((c.score for c in chunks), default=0.0) or 1.0
        numeric = bool(_NUMERIC_QUESTION.search(self.question))
        q_numbers = {m.group(0).lower() for m in _NUMBER.finditer(self.question)}
        typed_needed = self.qtype in _TYPED
        pairs = {(a, b) for a, b in itertools.pairwise(self.q_terms)}
        n_keys = len(self.key_terms) or 1
        out: list[UnitCandidate] = []
        for i, u in enumerate(units):
            text = self.text(i)
            row = is_row(text)
            chunk = chunks[u.chunk_index]
            typed = has_value(self.qtype, text, self.question) if typed_needed else False
            new_number = numeric and any(
                m.group(0).lower() not in q_numbers
                and not _REFERENCE_BEFORE.search(text, max(0, m.start() - 24), m.start())
                for m in _NUMBER.finditer(text)
            )
            own_pairs = {(self.alias.get(a, a), self.alias.get(b, b)) for a, b in itertools.pairwise(u.terms)}
            neighbours = [units[j].own for j in (i - 1, i + 1) if self._same_chunk(i, j)]
            shaped = self.answer_shaped(i)
            context = self.context_terms(i)
            features = (
                u.own / best_own,
                u.own / max_own,
                self.coverage({self.alias.get(t, t) for t in u.terms}),
                self.coverage(context),
                len(pairs & own_pairs) / len(pairs) if pairs else 0.0,
                len(self.missing_keys(i, scope="local", local=context)) / n_keys if self.key_terms else 0.0,
                len(self.missing_keys(i, scope="document")) / n_keys if self.key_terms else 0.0,
                float(typed),
                float(typed_needed),
                float(new_number),
                1.0 / (1 + u.chunk_index),
                max(chunk.score, 0.0) / best_passage,
                float(shaped),
                float(row),
                math.log1p(len(text)) / 6.0,
                float(not self._same_chunk(i, i - 1)),
                max(neighbours, default=0.0) / best_own,
                float(not row and _is_heading_like(text)),
                float(self.qtype == "yes_no"),
            )
            out.append(UnitCandidate(i, u.chunk_index, u.start, u.end, text, features, shaped, typed))
        return out


# "What does "zhgd." stand for?", "Was bedeutet die Abkürzung „Vor.“?": a glossary entry answers.
_MEANING_Q = re.compile(
    r"\b(?:stands?\s+for|mean|means|meaning|abbreviat\w*|acronym|bedeute[nt]|bedeutung|abkürzung|steht|"
    r"significa\w*|abreviatura)\b",
    re.IGNORECASE,
)
# A numbered thing a question can name ("State Measure 46", "section 1201", "line 20", "Title IV").
_NUMBERED = re.compile(
    r"\b(measures?|propositions?|prop\.|sections?|§|lines?|titles?|articles?|chapters?|schedules?|"
    r"amendments?|districts?|flights?)\s*#?\s*(\d+[a-z]?|[ivxlc]+\b)(?![\w,.]*\d)",
    re.IGNORECASE,
)


def _numbered_label(label: str) -> str:
    label = label.lower().rstrip(".")
    return {"§": "section", "prop": "proposition"}.get(label, label.rstrip("s"))


# Questions that ask for a heading or title (not "Title III", which names a part of a law).
_HEADING_Q = re.compile(
    r"\b(?:headings?|headlines?|title[ds]?|captions?|überschrift(?:en)?|titel|título|legenda)\b"
    r"(?!\s+(?:[IVXLC]+|\d+)\b)",
    re.IGNORECASE,
)
# Page furniture (running headers and footers) and the questions that ask about it.
_FURNITURE = ("header", "footer")
_HEADER_Q = re.compile(r"\b(?:headers?|running\s+head|kopfzeile|cabeçalho)\b", re.IGNORECASE)
_FOOTER_Q = re.compile(r"\b(?:footers?|fu(?:ß|ss)zeile|rodapé)\b", re.IGNORECASE)
_FIRST_PAGE_Q = re.compile(r"\b(?:first|title|cover)\s+page\b|\bpage\s+(?:one|1)\b|\berste[nr]?\s+seite\b", re.I)
_OTHER_PAGE_Q = re.compile(
    r"\bpage\s+(?:two|three|four|five|[2-9]|\d\d+)\b|\b(?:second|third|later|other)\s+pages?\b", re.I
)


def _furniture_asked(question: str) -> set[str]:
    """The kinds of page furniture a question asks about: {"header"}, {"footer"}, both or none."""
    return {kind for kind, pattern in (("header", _HEADER_Q), ("footer", _FOOTER_Q)) if pattern.search(question)}


# Passages in another language than the question may lead without word overlap only from
# these top retrieval ranks.
_CROSS_LANGUAGE_RANKS = 3

# Question types whose answer must state a value of that type.
_TYPED = ("date", "number", "identifier", "person", "place")
_PARENTHETICAL = re.compile(r"\s*\([^()]*(?:\([^()]*\)[^()]*)*\)[.,;]?\s*")
_CLOSES = re.compile(r"\)[.,;]?\s*$")
_LEADER_DOTS = re.compile(r"(?:\.\s?){4,}")
_CUT_END = re.compile(r"[a-zß-ÿ,(&/-]\s*$")
_ITEM_NUMBER = re.compile(r"^\s*\(?\d{1,3}[.)]?\s*$")


def _is_heading_like(text: str) -> bool:
    s = text.strip()
    return len(s) < 90 and s[-1:] not in '.!?;:)"”’'


def sentence_candidates(
    question: str, chunks: Sequence[RetrievedChunk], *, config: ExtractiveConfig | None = None
) -> tuple[list[UnitCandidate], str]:
    """Every usable unit of ``chunks`` with its features, or ([], the reason nothing can answer)."""
    ev = _Evidence(question, chunks, config or ExtractiveConfig())
    reason = ev.refusal()
    return ([], reason) if reason else (ev.candidates(), "")


def answer_extractive(
    question: str,
    chunks: Sequence[RetrievedChunk],
    *,
    max_sentences: int = 3,
    min_confidence: float | None = None,
    min_support: float | None = None,
    config: ExtractiveConfig | None = None,
    model: SelectorModel | None = None,
) -> Answer:
    """Answer ``question`` from ``chunks`` (best first) by quoting their sentences.

    Every unit gets the selector's probability of holding the answer. The lead is the most
    probable answer-shaped unit that holds a value of the asked type (a number for "how many", a
    date for "when", a name for "who"; a neighbour holding the value may answer for it). Declines
    (``found=False``) when a key question term occurs in no passage or title, when the lead's
    document never names an asked entity or period, when the lead's probability is below
    ``min_confidence``, or when the lead with its neighbours covers less than ``min_support`` of
    the question's IDF-weighted terms (defaults: the tuned values). Raises ValueError if
    ``max_sentences`` < 1.
    """
    if max_sentences < 1:
        raise ValueError("max_sentences must be >= 1")
    cfg = config or ExtractiveConfig()
    sel = model or _SELECTOR or _FALLBACK
    threshold = sel.min_confidence if min_confidence is None else min_confidence
    support_floor = sel.min_support if min_support is None else min_support
    ev = _Evidence(question, chunks, cfg)
    reason = ev.refusal()
    if reason:
        return _not_found(reason)
    cands = ev.candidates()
    prob = [sel.probability(c.features) for c in cands]
    order = sorted(range(len(cands)), key=lambda i: (-prob[i], cands[i].chunk_index, cands[i].start))
    typed_needed = ev.qtype in _TYPED

    lead: int | None = None
    partner: int | None = None  # a sentence that must follow the lead (it found the lead)
    # A question about a page's header or footer is answered by a header or footer, when one
    # was retrieved, not by a body sentence that talks about headers.
    asked_kinds = ev.furniture_asked
    furniture_q = bool(asked_kinds)
    furniture = [i for i, c in enumerate(cands) if c.shaped and chunks[c.chunk_index].kind in asked_kinds]
    if furniture and _OTHER_PAGE_Q.search(question) and not _FIRST_PAGE_Q.search(question):
        # "the header on page two" is not the first page's own header
        later = [i for i in furniture if "first" not in chunks[cands[i].chunk_index].location.lower()]
        furniture = later or furniture
    # "What is the heading on page one?": a likely heading answers before any sentence about headings
    heading = (
        next((i for i in order if cands[i].shaped and _is_heading_like(cands[i].text)), None)
        if ev.heading_asked
        else None
    )
    if heading is not None and prob[heading] >= 0.5:
        order = [heading, *(i for i in order if i != heading)]
    glossary = ev.glossary_entry(cands, order)
    if glossary is not None:
        lead, partner = glossary
    else:
        for i in order:
            if not cands[i].shaped:
                continue
            if furniture_q and furniture and i not in furniture:
                continue
            if ev.other_month(i) or ev.other_numbered(i):
                continue
            if not typed_needed or cands[i].typed:
                lead = i
                break
            # "It is an offense to ... . Penalties range up to $500,000 ...": the neighbour states it.
            nb = [j for j in (i + 1, i - 1) if ev._same_chunk(i, j) and cands[j].shaped and cands[j].typed]
            if nb:
                lead, partner = nb[0], i
                break
    if lead is not None and partner is None and ev.key_terms and glossary is None:
        # Near-ties go to the unit naming more of the asked entities: two rows of one company,
        # "City: Gardena" and "City: Torrance", for "... closure in Torrance?".
        missing = cands[lead].features[_KEYS_MISSING_LOCAL]
        rivals = [
            j
            for j in order
            if prob[j] >= prob[lead] - _NEAR_TIE
            and cands[j].shaped
            and (not typed_needed or cands[j].typed)
            and cands[j].features[_KEYS_MISSING_LOCAL] < missing
            and not ev.other_month(j)
            and not ev.other_numbered(j)
        ]
        if rivals:
            lead = min(rivals, key=lambda j: (cands[j].features[_KEYS_MISSING_LOCAL], -prob[j]))
    if lead is None:
        if typed_needed and any(c.shaped for c in cands):
            article = "an" if ev.qtype[0] in "aeiou" else "a"
            return _not_found(f"no retrieved sentence states {article} {ev.qtype} for this question")
        return _not_found("no retrieved sentence can be quoted as an answer")
    confidence = max(prob[lead], prob[partner]) if partner is not None else prob[lead]
    if confidence < threshold:
        return _not_found(f"the passages do not answer this question clearly (confidence {confidence:.2f})")
    support = cands[lead].features[_CONTEXT_COV]
    # Word overlap cannot measure support across languages (an English question, a Portuguese
    # passage): there the selector's probability alone decides.
    # A table row or a short line has no function words to tell its language by ("?"): only
    # two known, different languages skip the floor.
    q_lang, p_lang = language(question), ev.langs[cands[lead].chunk_index]
    same_language = "?" in (q_lang, p_lang) or q_lang == p_lang
    # ... and only for a passage that retrieval ranked near the top: a name from the eighth
    # passage, in another language and sharing no word with the question, answers nothing.
    # (where on the page a header's text sits, "right-hand side", is never written in it)
    # (a glossary entry shares only the quoted term with "what does ... stand for?")
    furniture_lead = chunks[cands[lead].chunk_index].kind in asked_kinds or glossary is not None
    if (
        support < support_floor
        and not furniture_lead
        and (same_language or cands[lead].chunk_index >= _CROSS_LANGUAGE_RANKS)
    ):
        return _not_found(f"weak support: the best sentence covers {support:.0%} of the question")
    if ev.qtype == "number":
        stated = period_mismatch(question, cands[lead].text)
        if stated:
            return _not_found(f"the passages state this per {stated}, not for the period asked about")
    if cfg.require_entities:
        missing = ev.missing_keys(lead, scope="document")
        if missing:
            return _not_found(f"the passages do not mention {', '.join(missing)} next to an answer")

    chosen = [lead] if partner is None else [lead, partner]
    chosen_sets = [set(ev.units[i].terms) for i in chosen]
    lead_doc = chunks[cands[lead].chunk_index].document_id
    for i in order:
        if len(chosen) >= max_sentences or glossary is not None:
            break  # (a glossary entry says all there is)
        if i in chosen:
            continue
        if prob[i] < cfg.follow_ratio * confidence:
            break
        c = cands[i]
        if ev.other_numbered(i):
            continue  # "STATE MEASURE 47" supports no answer about Measure 46
        if chunks[c.chunk_index].document_id != lead_doc:
            continue  # supporting sentences come from the answer's own document
        if not c.shaped:
            continue
        terms = set(ev.units[i].terms)
        if any(len(terms & s) / max(1, len(terms | s)) > cfg.redundancy for s in chosen_sets):
            continue
        chosen.append(i)
        chosen_sets.append(terms)

    citations: list[Citation] = []
    parts: list[str] = []
    for n, i in enumerate(chosen, start=1):
        c = cands[i]
        chunk = chunks[c.chunk_index]
        citations.append(
            Citation(
                n=n,
                chunk_id=chunk.chunk_id,
                document_id=chunk.document_id,
                document_title=chunk.document_title,
                page=chunk.page,
                quote=c.text,
                start=c.start,
                end=c.end,
            )
        )
        # A document's own "[3]" would read as one of our markers: show it as "(3)" instead.
        sentence = _BRACKET_NUM.sub(r"(\1)", normalise_ws(c.text).replace("\x02", ""))
        if n == 1:
            direct = _direct_sentence(question, ev.qtype, content_terms(question), sentence)
            if direct:
                parts.append(f"{direct} [{n}]")
        parts.append(f"{sentence} [{n}]")
    return Answer(
        text=" ".join(parts),
        citations=citations,
        found=True,
        reason=f"{ev.qtype} question; confidence {confidence:.2f} over {len(cands)} sentences",
    )


_LABELLED_CELL = re.compile(r"\w[^|:]*:\s+\S")
_CELL = re.compile(r"\s*([^|:]{1,80}?)\s*:\s*([^|]+?)\s*(?=\||$)")


def _direct_sentence(question: str, qtype: str, q_terms: list[str], sentence: str) -> str:
    """A short opening sentence when the quoted one does not open with the answer itself:
    "Yes." / "Nein." for yes/no questions; for a labelled table row ("State: Vermont | Handgun:
    1,234 | ..."), the row's first cell and the cells whose labels the question names."""
    if qtype == "yes_no":
        return answers_yes_no(question, sentence) + "."
    cells = [(m.group(1).strip(), m.group(2).strip()) for m in _CELL.finditer(sentence)] if " | " in sentence else []
    if len(cells) < 2:
        # A long sentence (or a row without labels, "v. | : | No. 07-1315") holding exactly one
        # value of the asked type opens with that value.
        value = sole_value(qtype, sentence, question) if len(sentence) > 60 or " | " in sentence else ""
        value = value.rstrip(".")
        return f"{value[:1].upper()}{value[1:]}." if value else ""
    q = set(q_terms)
    asked = [(lab, val) for lab, val in cells[1:] if q & set(content_terms(lab))]
    if not asked:
        return ""
    head = f"{cells[0][0]}: {cells[0][1]}"
    return head + " — " + "; ".join(f"{lab}: {val}" for lab, val in asked[:3]) + "."


# Month words in the passages' languages: a question about April is not answered by January's row.
_MONTH_TERMS = frozenset(
    stem(w)
    for w in words(
        """
    january february march april may june july august september october november december
    januar februar märz mai juni juli oktober dezember janeiro fevereiro março abril maio junho
    julho agosto setembro outubro novembro dezembro
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


_NUMERIC_DATE = re.compile(
    r"(?<![\d/.-])(?:(\d{1,2})/(\d{1,2})/(\d{4}|\d\d)|(\d{1,2})\.(\d{1,2})\.(\d{4}|\d\d)|(\d{4})-(\d\d)-\d\d)"
    r"(?![\d/.-]?\d)"
)


def _date_months(text: str) -> list[tuple[str, str]]:
    """Month words and full years for the dates a unit writes in figures ("TO BE HELD 11/04/14"
    is about November 2014): month first after slashes (US), second after dots (German), ISO in
    the middle."""
    out = []
    for m in _NUMERIC_DATE.finditer(text):
        if m.group(1):
            first, second, year = int(m.group(1)), int(m.group(2)), m.group(3)
            month = first if first <= 12 else second
        elif m.group(4):
            month, year = int(m.group(5)), m.group(6)
        else:
            month, year = int(m.group(8)), m.group(7)
        if not 1 <= month <= 12:
            continue
        name = _MONTH_NAMES[month - 1]
        out.append((name, stem(name)))
        if len(year) == 2:
            full = str((2000 if int(year) < 70 else 1900) + int(year))
            out.append((full, full))
    return out


def _context_terms(chunk: RetrievedChunk) -> set[str]:
    """Terms of what the index puts before the passage: heading path, table caption, the title
    as printed ("What's New for 2007", "table 2 / Siobhan"). They say what every unit of the
    passage is about, though no unit repeats them."""
    index = chunk.index_text or ""
    cut = index.find(chunk.text[:40]) if chunk.text else -1
    header = index[:cut] if cut > 0 else ""
    return set(content_terms(header)) if header else set()


def _title_terms(title: str) -> set[str]:
    """Terms of a document title; a year-month in a file name ("...-2015-11.pdf") also names
    its month, so "November 2015" is about that document."""
    terms = set(content_terms(title.replace("_", " ")))
    for m in _TITLE_PERIOD.finditer(title):
        terms.add(stem(_MONTH_NAMES[int(m.group(1)) - 1]))
    return terms


def _not_found(reason: str) -> Answer:
    return Answer(text=NOT_FOUND_TEXT, citations=[], found=False, reason=reason)
