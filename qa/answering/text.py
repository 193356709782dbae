# ruff: noqa: RUF001, RUF002  (dash/quote look-alikes are matched on purpose)
"""Text helpers shared by the Q&A modules: sentence units with offsets, tokens, light stemming.

Invariants:
- :func:`split_units` returns ``(start, end)`` offsets into the input such that
  ``text[start:end]`` is non-empty, has no leading/trailing whitespace, and units never overlap.
  Callers quote by slicing, so quotes are always verbatim.
- A "unit" is a sentence of prose, or one line of a table (a line with ``" | "`` cells or mostly
  numbers), or a heading/list line. PDF extraction wraps prose at arbitrary points, so single
  newlines inside prose do not end a sentence.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "STOPWORDS",
    "content_terms",
    "fold",
    "is_row",
    "normalise_ws",
    "split_units",
    "stem",
    "word_terms",
]


# English plus the commonest German/French/Spanish/Portuguese function words, and question words
# that never carry the answer ("how many", "according to").
def words(text: str) -> frozenset[str]:
    """A frozenset of the whitespace-separated words of ``text`` (for readable word lists)."""
    return frozenset(text.split())


STOPWORDS: frozenset[str] = words(
    """
    a an the and or but if then else of to in on at by for with from into onto upon about above
    below over under between among through during before after since until while as than that
    this these those there here it its it's is are was were be been being am do does did doing
    done have has had having can could shall should will would may might must not no nor so too
    very just also only own same such both each few more most other some any all what which who
    whom whose when where why how many much i me my we our us you your he him his she her they
    them their one ones according does did per please tell give show find list name named called
    state states stated say says said mention mentioned document documents text page pages
    section der die das den dem des ein eine einer eines einem einen und oder aber wenn dann als
    auch nicht ist sind war waren wird werden wurde wurden hat haben hatte mit von zu zum zur im
    in an am auf aus bei für über unter nach vor wie was wer wo wann warum welche welcher
    welches wieviel wie viele le la les un une des du de et ou mais si est sont était été a ont
    avec pour par sur dans au aux ce cet cette ces qui que quoi quel quelle quels quelles
    combien comment où quand pourquoi el los las uno una unos unas y o pero es son fue fueron ha
    han con para por sobre en del al lo que qué cuál cuáles quién quiénes cuánto cuántos cuántas
    cómo dónde cuándo os as um uma é são foi com para por em no na nos nas do da dos das quanto
    quantos qual quais welchem welchen welchen kann kannst können konnte konnten muss müssen
    musste soll sollen sollte darf dürfen man sich es er sie ihr ihre ihren ihrem sein seine
    seinen seinem seiner hier dort gibt gab einem einen noch schon nur durch ob dass bis um
    o e se ao aos pela pelo pelas pelos ser pode podem deve devem tem têm há
    """
)

_TOKEN = re.compile(r"\w+(?:[.,'’/\-‐‑‒–—−]\w+)*", re.UNICODE)


def normalise_ws(text: str) -> str:
    return " ".join(text.split())


_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))


def fold(word: str) -> str:
    """Lowercase, strip accents (Sierpiński == sierpinski), unify dashes ("737–8" == "737-8")."""
    w = word.lower().translate(_DASHES)
    if w.isascii():
        return w
    w = unicodedata.normalize("NFKD", w)
    return "".join(c for c in w if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Stemming-lite: fold, drop plural/verb suffixes, then cap at 7 characters.

    The 7-character cap merges English/German/Romance inflections ("fatalities"/"fatality",
    "Anweisungen"/"Anweisung") without a language model; over-merging is harmless at the scale
    of one answer's candidate sentences.
    """
    w = fold(word)
    if w.endswith(("'s", "’s")) and len(w) > 3:
        w = w[:-2]  # possessive: "John's" is about John
    if w[:1].isdigit():
        return w.replace(",", "")  # "2,236,457" == "2236457"; "10-14" stays as is
    for suf, rep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and not w.endswith(("ss", "us", "is")):
            w = w[: len(w) - len(suf)] + rep
            break
    return w[:7]


def word_terms(text: str) -> list[tuple[str, str]]:
    """(folded word, stem) pairs for the stopword-free words of ``text``, in order.

    Hyphenated words also yield their parts ("copyright-related" -> copyright, related).
    """
    out: list[tuple[str, str]] = []
    for tok in _TOKEN.findall(text):
        low = fold(tok)
        if low in STOPWORDS or (len(low) < 2 and not low.isdigit()):
            continue
        out.append((low, stem(tok)))
        if "-" in low and not low[0].isdigit():
            out.extend((p, stem(p)) for p in low.split("-") if len(p) > 2 and p not in STOPWORDS)
    return out


def content_terms(text: str) -> list[str]:
    """Stemmed, stopword-free terms in order (duplicates kept)."""
    return [s for _, s in word_terms(text)]


# --------------------------------------------------------------------------------------------
# Sentence units
# --------------------------------------------------------------------------------------------

_ABBREVIATIONS = words(
    """
    mr mrs ms dr prof sr jr st no nos nr vs etc e.g i.e cf al inc ltd co corp dept fig figs sec
    secs art arts ch chap vol vols p pp para ed eds approx ca est jan feb mar apr jun jul aug
    sep sept oct nov dec gen col capt lt sgt gov sen rep rev u.s u.k u.n pub stat ibid op z.b
    bzw usw ggf vgl inkl abs nr s.a p.ex cf env mme mlle sra sr dto pág núm
    """
)
_BULLET = re.compile(r"^\s*(?:[!•◦▪·*\-–—]|\(?[0-9]{1,2}[.)]|\(?[a-z][.)])\s+")
_NUMTOK = re.compile(r"^[$€£(]?[\d][\d.,/%)-]*$")
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


def is_row(line: str) -> bool:
    """A table line: ``" | "`` cells, tabs, or mostly numbers."""
    return _is_row(line)


def _is_row(line: str) -> bool:
    if " | " in line or "\t" in line.strip():
        return True
    toks = line.split()
    if len(toks) < 3:
        return False
    nums = sum(1 for t in toks if _NUMTOK.match(t))
    return nums >= 3 and nums / len(toks) >= 0.3


_LETTER = re.compile(r"[^\W\d_]")
_LOWER = re.compile(r"[a-zß-ÿ]")


def _is_heading(line: str) -> bool:
    s = line.strip()
    if not s or len(s) > 90 or s[-1] in ".,;:!?":
        return False
    letters = len(_LETTER.findall(s))
    return letters > 0 and len(_LOWER.findall(s)) / letters < 0.2


_MONTH_AFTER = re.compile(
    r"\s*(?:januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember)\b",
    re.IGNORECASE,
)


def _split_prose(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    """Append sentence spans of text[start:end] to ``out``."""
    pos = start
    for m in _END.finditer(text, start, end):
        cut = m.end()
        before = text[pos : m.start()].rsplit(None, 1)
        last = before[-1].lower().lstrip("(\"'“") if before else ""
        nxt = text[cut:end].lstrip()
        if not nxt:
            continue
        if text[m.start()] == "." and (last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
            continue  # "Pub. L.", "J. Smith", "No. 07-1315"
        if text[m.start()] == "." and last.isdigit() and len(before) <= 1:
            continue  # a list number "1." at the start
        opened = text.rfind("(", pos, m.start())
        if opened >= 0 and m.start() - opened <= 12 and ")" not in text[opened : m.start()]:
            continue  # just inside parentheses: "(2. Auflage)", "(approx. 5. Ed.)" end no sentence
        if text[m.start()] == "." and last.isdigit() and len(last) <= 2 and _MONTH_AFTER.match(text, cut):
            continue  # a German date: "31. Dezember 2016"
        first = nxt[0]
        if not (first.isupper() or first.isdigit() or first in "\"'“‘([!•¿¡§"):
            continue  # "e.g. the" / "approx. five" / decimal in prose
        _append(text, pos, cut, out)
        pos = cut
    _append(text, pos, end, out)


def _append(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    seg = text[start:end]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    s, e = start + lead, end - trail
    if e > s and any(c.isalnum() for c in text[s:e]):
        out.append((s, e))


def split_units(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into sentence/row units; see the module docstring for the invariants."""
    lines: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        lines.append((pos, pos + len(line.rstrip("\r\n"))))
        pos += len(line)
    out: list[tuple[int, int]] = []
    prose_start: int | None = None
    prose_end = 0
    for ls, le in lines:
        line = text[ls:le]
        blank = not line.strip()
        standalone = _is_row(line) or _is_heading(line)
        if blank or standalone or _BULLET.match(line):
            if prose_start is not None:
                _split_prose(text, prose_start, prose_end, out)
                prose_start = None
            if blank:
                continue
            if standalone:
                _append(text, ls, le, out)
                continue
        if prose_start is None:
            prose_start = ls
        prose_end = le
    if prose_start is not None:
        _split_prose(text, prose_start, prose_end, out)
    return out
