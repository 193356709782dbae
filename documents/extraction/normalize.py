"""Text normalisation shared by all extractors.

The goal is text that embeds and searches well while staying verbatim enough that a quote taken
from a chunk is found again in the page text by a plain substring search (chunks are slices of
this normalised text, never rewritten).

Steps, in order:
1. line endings to ``\\n``;
2. de-hyphenation of line-break hyphenation: PDFium marks a hyphen that ended a line with
   ``\\x02`` and removes the break (``perfor\\x02mance``); a soft hyphen U+00AD is invisible by
   definition; a hard ``-`` followed by a newline is joined only between lower-case letters;
3. NFKC (ligatures ``ﬁ`` -> ``fi``, full-width forms, NBSP -> space);
4. C0/C1 control characters removed except ``\\n`` and ``\\t`` (NUL cannot be stored in
   PostgreSQL text);
5. whitespace collapsed: runs of spaces to one space, lines stripped, 3+ newlines to 2.
"""

from __future__ import annotations

import re
import unicodedata

_PDFIUM_HYPHEN = re.compile(r"(.?)\x02\n?(.?)", re.DOTALL)
_HARD_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
# Everything in Cc except \t and \n (\r was already converted).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_H_SPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _pdfium_hyphen(m: re.Match[str]) -> str:
    before, after = m.group(1), m.group(2)
    # Join only inside a lower-case word ("protec\x02tion"); keep a real hyphen in compounds
    # such as "FAA\x02approved" or "Schwarz\x02Weiß".
    if before.islower() and after.islower():
        return before + after
    return before + "-" + after


def normalize_text(text: str) -> str:
    """Return ``text`` normalised as described in the module docstring."""
    if not text:
        return ""
    s = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x02" in s:
        s = _PDFIUM_HYPHEN.sub(_pdfium_hyphen, s)
    s = s.replace("\u00ad\n", "").replace("\u00ad", "")
    s = _HARD_HYPHEN_BREAK.sub(_join_if_lower, s)
    s = unicodedata.normalize("NFKC", s)
    s = _CONTROL.sub("", s)
    s = _H_SPACE.sub(_collapse_space, s) if "\t" in s else _H_SPACE.sub(" ", s)
    s = "\n".join(line.strip(" ") for line in s.split("\n"))
    s = _MANY_NEWLINES.sub("\n\n", s)
    return s.strip()


def _join_if_lower(m: re.Match[str]) -> str:
    s = m.string
    before = s[m.start() - 1]
    after = s[m.end()] if m.end() < len(s) else ""
    return "" if before.islower() and after.islower() else m.group(0)


def _collapse_space(m: re.Match[str]) -> str:
    # A tab-only run is kept as one tab (tab-separated text keeps its columns); anything else
    # becomes one space.
    run = m.group(0)
    return "\t" if run.strip("\t") == "" else " "
