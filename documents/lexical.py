"""Language-light lexical helpers shared by retrieval and the reranker (Django-free).

Milvus' BM25 uses the ``standard`` analyzer (lower-casing, no stop words), so a question's
function words ("is", "the", "der", "wie") score against every passage that has them; with RRF
that is enough to lift an unrelated English passage above a German one that the dense leg ranked
first. :func:`bm25_query` therefore sends BM25 only the question's content words (English,
German and Portuguese function words removed), keeping numbers and names as typed.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["LANG_WORDS", "STOPWORDS", "bm25_query", "fold", "language"]


def fold(text: str) -> str:
    """Case- and accent-folded text ("Überdeckung" -> "uberdeckung")."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _wordset(words: str) -> frozenset[str]:
    return frozenset(fold(w) for w in words.split())


STOPWORDS = _wordset(
    """a an the of in on at to for from by with and or is are was were be been what which who whom
    whose when where how many much does did do this that these those it its as per under into than
    not no yes if can may will would should there their they he she his her you your we our i about
    der die das den dem des ein eine einer eines einem und oder ist sind war wie viele viel was wer
    wann wo welche welcher welches im in am an auf für von mit zu zum zur bei nach aus über unter
    nicht kein keine es sich o a os as um uma de do da dos das em no na nos nas por para com que qual
    quais quando onde quem é são foi"""
)
# Function words, and the question words a short question is told by ("How many members can
# CNIG's Direcção have?" is English though its one noun is Portuguese).
LANG_WORDS = {
    "de": _wordset(
        "der die das und ist nicht ein eine mit für von den dem des auf wird sind wie wenn oder auch im zu "
        "wer wann welche welcher welches welchem warum wieso kann können"
    ),
    "pt": _wordset(
        "de da do que em os as uma um para com por não são dos das pelo pela ao qual quais quem onde quantos quantas"
    ),
    "en": _wordset(
        "the and is of to in that for with as are was by on be this which or from an "
        "how what who when where why does did can have has many much"
    ),
}

_TOKEN = re.compile(r"\w+", re.UNICODE)
_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


def language(text: str) -> str:
    """ "de", "pt", "en" by their function words in the first 2,000 characters, or "?"."""
    words = [fold(w) for w in _LETTERS.findall(text[:2000])]
    counts = {lang: sum(w in vocab for w in words) for lang, vocab in LANG_WORDS.items()}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else "?"


# "the first footnote", "die zweite Tabelle": the index names them by number ("footnote 1").
_ORDINALS = {
    fold(w): str(n)
    for n, group in enumerate(
        (
            "first erste erster ersten primeiro primeira",
            "second zweite zweiter zweiten segundo segunda",
            "third dritte dritter dritten terceiro terceira",
            "fourth vierte vierter vierten quarto quarta",
            "fifth fünfte fünfter fünften quinto quinta",
        ),
        start=1,
    )
    for w in group.split()
}


def bm25_query(question: str) -> str:
    """The question's words minus function words, for the BM25 leg; ``""`` when nothing is
    left (the caller then searches dense only). An ordinal also searches its number."""
    out = []
    for t in _TOKEN.findall(question):
        f = fold(t)
        if f in _ORDINALS:
            out.extend((t, _ORDINALS[f]))
        elif f not in STOPWORDS:
            out.append(t)
    return " ".join(out)
