"""Scoring for the held-out Q&A set in ``bench/data/qa_eval/`` (pure Python, no Django).

A question row (one line of ``questions.jsonl``) is scored against an API-style answer::

    {"answer": "...", "found": true,
     "citations": [{"document_id": 3, "document_title": "dmca.pdf", "page": 7, "quote": "..."}]}

- **answer correct**: when the expected answer holds numbers, every one of them must appear in
  the answer text (thousands separators, currency signs, percent signs, number words in English,
  German and Portuguese, and dates written "October 28, 1998", "28 October 1998", "28.10.1998",
  "10/28/1998" or "1998-10-28" all compare equal); otherwise at least 2/3 of its content words
  (case- and accent-folded, stopwords removed, lightly stemmed, words the question already
  contains set aside) must appear. Yes/no questions
  need the answer's first explicit yes/no word (yes/no, ja/nein, sim/não) to match. A row's
  ``alternatives`` are accepted as well. An abstaining answer (``found: false``) is never correct.
- **right document**: a citation names the row's document (by ``document_id`` through a
  ``doc_ids`` mapping, or by ``document_title`` against the file name);
  **right page**: such a citation's page is in ``pages`` (DOCX/TXT: the right document).
- **abstention**: predicted abstain = ``found`` is false. Precision and recall of abstention
  are computed over the unanswerable rows.

``aggregate`` turns row scores into rates and counts; ``aggregate_by`` splits them by a key
(document, tag, split).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

QUESTIONS = Path(__file__).resolve().parent / "data" / "qa_eval" / "questions.jsonl"

CONTENT_WORD_SHARE = 2 / 3

# ------------------------------------------------------------------------------------------------
# Text normalisation
# ------------------------------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_QUOTES = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
}
# A narrow/no-break/thin space between digit groups is a thousands separator ("180 116").
_GROUP_SPACE = re.compile(r"(?<=\d)[\u00a0\u202f\u2009](?=\d{3}(?!\d))")


def normalise(text: str) -> str:
    """NFKC, unified dashes and quotes, soft hyphens dropped, casefolded, single spaces."""
    text = _GROUP_SPACE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = re.sub("[\u00ad\ufffe\x02]\\s*", "", text)
    text = re.sub(f"[{_DASHES}]", "-", text)
    text = "".join(_QUOTES.get(c, c) for c in text)
    return re.sub(r"\s+", " ", text.casefold()).strip()


def fold(text: str) -> str:
    """``normalise`` plus accents removed and ß -> ss, for word comparison across spellings."""
    text = normalise(text).replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# ------------------------------------------------------------------------------------------------
# Numbers and dates
# ------------------------------------------------------------------------------------------------

_MONTHS = {
    1: "january jan januar janeiro jän",
    2: "february feb februar fevereiro fev",
    3: "march mar märz maerz março",
    4: "april apr abril abr",
    5: "may mai maio",
    6: "june jun juni junho",
    7: "july jul juli julho",
    8: "august aug agosto",
    9: "september sep sept setembro",
    10: "october oct oktober okt outubro",
    11: "november nov novembro",
    12: "december dec dezember dez dezembro",
}
MONTHS: dict[str, int] = {fold(name): m for m, names in _MONTHS.items() for name in names.split()}
_MONTH_RE = "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True))

# Number words -> value (English, German, Portuguese; folded spelling). Scale words multiply.
_UNITS = {
    "zero": 0, "null": 0,
    "one": 1, "eins": 1, "um": 1, "uma": 1, "once": 1, "einmal": 1,
    "two": 2, "zwei": 2, "dois": 2, "duas": 2, "twice": 2, "zweimal": 2,
    "three": 3, "drei": 3, "tres": 3, "thrice": 3,
    "four": 4, "vier": 4, "quatro": 4,
    "five": 5, "funf": 5, "fuenf": 5, "cinco": 5,
    "six": 6, "sechs": 6, "seis": 6,
    "seven": 7, "sieben": 7, "sete": 7,
    "eight": 8, "acht": 8, "oito": 8,
    "nine": 9, "neun": 9, "nove": 9,
    "ten": 10, "zehn": 10, "dez": 10,
    "eleven": 11, "elf": 11, "onze": 11,
    "twelve": 12, "zwolf": 12, "zwoelf": 12, "doze": 12, "dozen": 12,
    "thirteen": 13, "dreizehn": 13, "treze": 13,
    "fourteen": 14, "vierzehn": 14, "catorze": 14, "quatorze": 14,
    "fifteen": 15, "funfzehn": 15, "quinze": 15,
    "sixteen": 16, "sechzehn": 16, "dezasseis": 16, "dezesseis": 16,
    "seventeen": 17, "siebzehn": 17, "dezassete": 17, "dezessete": 17,
    "eighteen": 18, "achtzehn": 18, "dezoito": 18,
    "nineteen": 19, "neunzehn": 19, "dezanove": 19, "dezenove": 19,
    "twenty": 20, "zwanzig": 20, "vinte": 20,
    "thirty": 30, "dreissig": 30, "trinta": 30,
    "forty": 40, "vierzig": 40, "quarenta": 40,
    "fifty": 50, "funfzig": 50, "cinquenta": 50, "cincoenta": 50,
    "sixty": 60, "sechzig": 60, "sessenta": 60,
    "seventy": 70, "siebzig": 70, "setenta": 70,
    "eighty": 80, "achtzig": 80, "oitenta": 80,
    "ninety": 90, "neunzig": 90, "noventa": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "hundert": 100, "cem": 100, "cento": 100,
           "thousand": 1000, "tausend": 1000, "mil": 1000,
           "million": 10**6, "millions": 10**6, "millionen": 10**6, "milhao": 10**6, "milhoes": 10**6,
           "billion": 10**9, "milliarde": 10**9}  # fmt: skip
_NUMBER_JOINERS = {"and", "und", "e"}

_NUMBER = re.compile(
    r"(?<![\d.,])(?:"
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234,567.89
    r"|\d{1,3}(?:\.\d{3}){2,}(?:,\d+)?"  # 273.879.750 (dot thousands need two groups)
    r"|\d+,\d{1,2}(?!\d)"  # 8,9 (decimal comma)
    r"|\d+(?:\.\d+)?"  # 1234 / 12.5
    r"|\.\d+"  # .02
    r")"
)


def _num(token: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:\.\d{3}){2,}(?:,\d+)?", token):
        token = token.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d+,\d{1,2}", token):
        token = token.replace(",", ".")
    else:
        token = token.replace(",", "")
    return float(token)


def _year(y: str) -> int:
    n = int(y)
    return n + 2000 if len(y) == 2 and n < 50 else n + 1900 if len(y) == 2 else n


def _valid(y: int, m: int, d: int) -> bool:
    return 1 <= m <= 12 and 1 <= d <= 31 and 1000 <= y <= 2999


@dataclass(frozen=True)
class Facts:
    """What an answer text states: numbers (as floats), dates ("1998-10-28", "1998-10",
    "--10-28") and times ("13:05")."""

    numbers: frozenset[float]
    dates: frozenset[str]
    times: frozenset[str]


def _dates(text: str, *, lenient: bool) -> tuple[set[str], str]:
    """Date tokens in ``text`` and the text with those dates blanked out. ``lenient`` (the
    answer side) also reads an ambiguous slash date both ways and adds coarser tokens."""
    found: set[str] = set()

    def add(y: int | None, m: int, d: int | None) -> bool:
        if y is None:
            if not (1 <= m <= 12 and d and 1 <= d <= 31):
                return False
            found.add(f"--{m:02d}-{d:02d}")
            return True
        if d is None:
            if not (1 <= m <= 12 and 1000 <= y <= 2999):
                return False
            found.add(f"{y:04d}-{m:02d}")
            return True
        if not _valid(y, m, d):
            return False
        found.add(f"{y:04d}-{m:02d}-{d:02d}")
        if lenient:
            found.update({f"{y:04d}-{m:02d}", f"--{m:02d}-{d:02d}"})
        return True

    day = r"(\d{1,2})(?:st|nd|rd|th|\.)?"
    patterns: list[tuple[str, Callable[[re.Match[str]], bool]]] = [
        (r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", lambda m: add(int(m[1]), int(m[2]), int(m[3]))),
        (r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})\b", lambda m: add(_year(m[3]), int(m[2]), int(m[1]))),
        (r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b", lambda m: _slash(m, add, lenient)),
        (rf"\b({_MONTH_RE})\.?\s+{day},?\s+(\d{{4}})\b", lambda m: add(int(m[3]), MONTHS[m[1]], int(m[2]))),
        (
            rf"\b{day}\s+(?:de\s+)?({_MONTH_RE})\.?,?\s+(?:de\s+)?(\d{{4}})\b",
            lambda m: add(int(m[3]), MONTHS[m[2]], int(m[1])),
        ),
        (rf"\b({_MONTH_RE})\.?\s+(?:de\s+)?(\d{{4}})\b", lambda m: add(int(m[2]), MONTHS[m[1]], None)),
        (rf"\b({_MONTH_RE})\.?\s+{day}(?![\d,.]*\d)", lambda m: add(None, MONTHS[m[1]], int(m[2]))),
        (rf"\b{day}\s+(?:de\s+)?({_MONTH_RE})\b", lambda m: add(None, MONTHS[m[2]], int(m[1]))),
    ]
    for pattern, handle in patterns:
        # The expected side blanks a date out so that only the date token is required; the
        # answer side keeps its digits too (they can only add matches there).
        def blank(m: re.Match[str], handle: Callable[[re.Match[str]], bool] = handle) -> str:
            return " " if handle(m) and not lenient else m[0]

        text = re.sub(pattern, blank, text)
    return found, text


def _slash(m: re.Match[str], add: Callable[[int | None, int, int | None], bool], lenient: bool) -> bool:
    a, b, y = int(m[1]), int(m[2]), _year(m[3])
    us = add(y, a, b)  # the documents are mostly US: month/day/year first
    if (lenient or not us) and a != b:
        return add(y, b, a) or us
    return us


def _joins(current: int, value: int) -> bool:
    """Whether ``value`` continues the number word run ``current`` ("twenty" + "five",
    "hundred" + "twenty"); "three five" are two numbers."""
    return (
        current == 0
        or (current % 100 == 0 and value < 100)
        or (current % 10 == 0 and current % 100 >= 20 and value < 10)
    )


def _number_words(words: list[str]) -> list[float]:
    """Values of runs of number words: "fifty thousand" -> 50000, "twenty five" -> 25,
    "tres cinco ou sete" -> 3, 5, 7."""
    out: list[float] = []
    total = current = 0
    active = False
    for w in [*words, ""]:
        if w in _UNITS:
            value = _UNITS[w]
            if active and not _joins(current, value):
                out.append(float(total + current))
                total = current = 0
            current += value
            active = True
        elif w in _SCALES and active:
            scale = _SCALES[w]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0
        elif w in _NUMBER_JOINERS and active:
            continue
        else:
            if active:
                out.append(float(total + current))
            total = current = 0
            active = False
    return out


_TIME = r"\b(\d{1,2}):(\d{2})(?::\d{2})?\s*(a\.?\s?m\b\.?|p\.?\s?m\b\.?)?"


def _clock(hour: int, minutes: str, ampm: str) -> str:
    """24-hour "H:MM" so "1:01 p.m." and "13:01" compare equal."""
    if ampm.startswith("p") and hour < 12:
        hour += 12
    elif ampm.startswith("a") and hour == 12:
        hour = 0
    return f"{hour}:{minutes}"


def facts(text: str, *, lenient: bool = False) -> Facts:
    """Numbers, dates and times stated in ``text``. ``lenient`` is for the answer being scored:
    it reads ambiguous dates both ways and also counts a date's year as a number."""
    t = fold(text)
    dates, rest = _dates(t, lenient=lenient)
    times = {_clock(int(h), mm, ampm) for h, mm, ampm in re.findall(_TIME, rest)}
    rest = re.sub(_TIME, " ", rest)
    numbers = {_num(n) for n in _NUMBER.findall(rest)}
    numbers.update(_number_words(re.findall(r"[a-z]+", rest)))
    if lenient:
        numbers.update(float(d[:4]) for d in dates if d[:4].isdigit())
    return Facts(frozenset(numbers), frozenset(dates), frozenset(times))


def _has_number(expected: Facts) -> bool:
    return bool(expected.numbers or expected.dates or expected.times)


def _numbers_match(expected: Facts, got: Facts) -> bool:
    def present(x: float) -> bool:
        return any(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for y in got.numbers)

    return all(present(x) for x in expected.numbers) and expected.dates <= got.dates and expected.times <= got.times


# ------------------------------------------------------------------------------------------------
# Content words
# ------------------------------------------------------------------------------------------------

# Function words only: words such as "first", "between", "right" can be the whole answer.
_STOPWORDS_TEXT = """
    a an the and or but if of to in on at by for from with without as into onto over under about
    is are was were be been being am do does did has have had will would shall should can could
    may might must it its this that these those there here he she they them his her their we us our
    you your i me my not no yes so than then also only just very per via what which who whom whose
    when where why how all any each some such other own same
    der die das den dem des ein eine einer eines einem einen und oder aber im ist sind war wird
    werden wurde von vom zu zum zur mit fur auf aus bei nach uber unter als auch nicht es sie er
    wir ihr man sich so wie was wer wo dass am an in
    o os as um uma uns umas de do da dos das em no na nos nas por pelo pela para com sem e ou que
    se sua seu suas seus ao aos
    prof dr mr mrs ms herr frau sr sra esq inc llc ltd co corp
    """
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


_INFLECTIONS = ("ings", "ing", "edly", "ies", "ed", "es", "s")
_DERIVATIONS = ("en", "er", "e")


def _stem(word: str) -> str:
    """Light stemming for English/German/Portuguese: one inflection, then one ending
    ("footers" -> "footer" -> "foot", "Geraden" -> "gerad", "pages"/"page" -> "pag")."""
    if word.isdigit():
        return word
    for group in (_INFLECTIONS, _DERIVATIONS):
        for suffix in group:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
    return word


def content_words(text: str) -> list[str]:
    """Folded, stemmed words of ``text`` without stopwords, in order, duplicates removed."""
    seen: dict[str, None] = {}
    for w in re.findall(r"[^\W_]+", fold(text)):
        # Single letters are initials and possessive "s", not content.
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(_stem(w))
    return list(seen)


# ------------------------------------------------------------------------------------------------
# Yes / no
# ------------------------------------------------------------------------------------------------

_YES = {"yes", "ja", "sim", "yeah"}
# Explicit "no" words and plain negations, so "They do not represent ..." reads as no.
_NO = {
    "no",
    "nein",
    "nao",
    "not",
    "cannot",
    "never",
    "nicht",
    "kein",
    "keine",
    "nunca",
    "doesn",
    "don",
    "isn",
    "aren",
    "wasn",
    "weren",
}


def polarity(text: str) -> str | None:
    """ "yes" / "no" from the first explicit yes/no word of ``text`` (None when there is none)."""
    for w in re.findall(r"[^\W_]+", fold(text)):
        if w in _YES:
            return "yes"
        if w in _NO:
            return "no"
    return None


# ------------------------------------------------------------------------------------------------
# Row scoring
# ------------------------------------------------------------------------------------------------


def _is_yes_no(row: Mapping[str, Any]) -> bool:
    return row.get("qtype") == "yes_no"


def key_fact_present(expected: str, answer_text: str, *, yes_no: bool = False, question: str = "") -> bool:
    """Whether ``answer_text`` states the key fact of ``expected`` (see the module docstring).

    Words of ``expected`` that the ``question`` already contains are not evidence of an answer
    ("footer", "page" for "What does the footer on the first page say?"): the 2/3 share is taken
    over the remaining words, and when none remain every word of ``expected`` is required."""
    if yes_no:
        want = polarity(expected)
        return want is not None and polarity(answer_text) == want
    exp = facts(expected)
    if _has_number(exp):
        return _numbers_match(exp, facts(answer_text, lenient=True))
    words = content_words(expected)
    if not words:
        return normalise(expected) in normalise(answer_text)
    have = set(content_words(answer_text))
    asked = set(content_words(question))
    informative = [w for w in words if w not in asked]
    if not informative:
        return all(w in have for w in words)
    return sum(w in have for w in informative) / len(informative) >= CONTENT_WORD_SHARE - 1e-9


def answer_correct(row: Mapping[str, Any], answer_text: str) -> bool:
    """The expected answer (or one of the row's ``alternatives``) is stated in ``answer_text``."""
    if not row.get("answerable") or row.get("answer") is None:
        return False
    options = [row["answer"], *(row.get("alternatives") or [])]
    question = str(row.get("question") or "")
    return any(key_fact_present(o, answer_text or "", yes_no=_is_yes_no(row), question=question) for o in options)


def _title_key(name: str) -> str:
    name = fold(Path(str(name)).name)
    return re.sub(r"\.(pdf|docx|txt)$", "", name)


def citation_doc_match(
    row: Mapping[str, Any], citation: Mapping[str, Any], doc_ids: Mapping[str, Any] | None = None
) -> bool:
    """Whether ``citation`` points at the row's document: by id through ``doc_ids`` (row doc
    path -> document id) when both are known, else by title against the document's file name."""
    if doc_ids is not None and row["doc"] in doc_ids and citation.get("document_id") is not None:
        return str(citation["document_id"]) == str(doc_ids[row["doc"]])
    title = citation.get("document_title")
    return bool(title) and _title_key(str(title)) == _title_key(row["doc"])


def _is_paged(row: Mapping[str, Any]) -> bool:
    return str(row["doc"]).lower().endswith(".pdf")


@dataclass
class RowScore:
    id: str
    answerable: bool
    abstained: bool
    answer_correct: bool | None = None  # answerable rows only
    right_doc: bool | None = None
    right_page: bool | None = None
    latency_ms: float | None = None
    tags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_row(
    row: Mapping[str, Any],
    response: Mapping[str, Any],
    *,
    doc_ids: Mapping[str, Any] | None = None,
    latency_ms: float | None = None,
) -> RowScore:
    """Score one API-style ``response`` ({answer, found, citations}) for ``row``."""
    abstained = not bool(response.get("found", False))
    s = RowScore(
        id=str(row["id"]),
        answerable=bool(row["answerable"]),
        abstained=abstained,
        latency_ms=latency_ms,
        tags=list(row.get("tags") or []),
    )
    if not s.answerable:
        return s
    citations = [] if abstained else list(response.get("citations") or [])
    on_doc = [c for c in citations if citation_doc_match(row, c, doc_ids)]
    s.answer_correct = (not abstained) and answer_correct(row, str(response.get("answer") or ""))
    s.right_doc = bool(on_doc)
    if _is_paged(row):
        pages = set(row.get("pages") or [])
        s.right_page = any(_page(c) in pages for c in on_doc)
    else:
        s.right_page = s.right_doc
    return s


def _page(c: Mapping[str, Any]) -> int | None:
    try:
        return int(c.get("page"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------
# Aggregation
# ------------------------------------------------------------------------------------------------


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def aggregate(scores: Iterable[RowScore]) -> dict[str, Any]:
    """Rates and counts over row scores. Answer/citation rates are over answerable rows;
    abstention precision = unanswerable abstentions / all abstentions, recall = unanswerable
    abstentions / unanswerable rows. A rate is None when its denominator is 0."""
    rows = list(scores)
    ans = [s for s in rows if s.answerable]
    unans = [s for s in rows if not s.answerable]
    tp = sum(s.abstained for s in unans)
    fp = sum(s.abstained for s in ans)
    lat = [s.latency_ms for s in rows if s.latency_ms is not None]
    overall = sum(bool(s.answer_correct) for s in ans) + tp
    counts = {
        "questions": len(rows),
        "overall_correct": overall,
        "answerable": len(ans),
        "unanswerable": len(unans),
        "answer_correct": sum(bool(s.answer_correct) for s in ans),
        "right_doc": sum(bool(s.right_doc) for s in ans),
        "right_page": sum(bool(s.right_page) for s in ans),
        "abstained": tp + fp,
        "abstained_unanswerable": tp,
        "abstained_answerable": fp,
    }
    return {
        "overall_correct": _rate(overall, len(rows)),
        "answer_correct": _rate(counts["answer_correct"], len(ans)),
        "right_doc": _rate(counts["right_doc"], len(ans)),
        "right_page": _rate(counts["right_page"], len(ans)),
        "abstention_precision": _rate(tp, tp + fp),
        "abstention_recall": _rate(tp, len(unans)),
        "latency_p50_ms": _percentile(lat, 0.5),
        "latency_p95_ms": _percentile(lat, 0.95),
        "counts": counts,
    }


def aggregate_by(
    scores: Iterable[RowScore], key: Callable[[RowScore], Iterable[str] | str]
) -> dict[str, dict[str, Any]]:
    """``aggregate`` per group; ``key`` returns one group name or several (e.g. ``lambda s: s.tags``)."""
    groups: dict[str, list[RowScore]] = defaultdict(list)
    for s in scores:
        k = key(s)
        for name in [k] if isinstance(k, str) else k:
            groups[name].append(s)
    return {name: aggregate(g) for name, g in sorted(groups.items())}


def load_questions(path: str | Path = QUESTIONS, *, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of the question file, optionally only the ``tune`` or ``test`` half."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]
