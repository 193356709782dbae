"""Value types shared by the Q&A modules.

Invariants:
- ``Citation.quote`` is always an exact substring of the cited chunk's text (the extractive
  answerer builds it by slicing; :func:`qa.answering.citations.validate_citations` drops any
  citation for which this does not hold when it is given the chunk texts).
- ``Citation.n`` is the marker number ``[n]`` used in the answer text; after validation the
  numbers are contiguous from 1 in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

NOT_FOUND_TEXT = "I could not find this in your documents."


@dataclass(frozen=True, slots=True)
class Citation:
    """A marker ``[n]`` in an answer resolved to a verbatim quote of one chunk.

    ``start``/``end`` are character offsets of ``quote`` in the chunk text when known (-1 if not).
    """

    n: int
    chunk_id: Hashable
    document_id: Hashable
    document_title: str
    page: int | None
    quote: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer; ``found`` is False exactly when the text is :data:`NOT_FOUND_TEXT`."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    found: bool = True
    reason: str = ""
