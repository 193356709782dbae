"""Common result structure of every extractor.

Invariants:
- ``Section.page`` is a 1-based physical page index (PDF only), or ``None`` for formats
  without pages (DOCX, TXT, MD).
- ``Section.text`` is already normalised (see ``normalize.normalize_text``) and non-empty.
- Sections are in reading order as far as the format allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DocumentKind = Literal["pdf", "docx", "txt", "md"]


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text with one page and one heading path.

    ``kind`` is one of: ``page`` (a whole PDF page, when layout analysis was not possible),
    ``heading``, ``paragraph``, ``table``, ``footnote``, ``endnote``, ``header``, ``footer``,
    ``textbox``.

    ``label`` names the place inside the document a reader can open when there is no heading
    that does ("table 3", "footnote 2", "first-page header", "page footer"); empty otherwise.
    ``context`` is text that describes the section without being part of it (a table's caption
    or column labels); chunking adds it to the text that is indexed, never to the quoted text.

    A ``table`` section holds one row per line, each row self-describing
    ("Label: value | Label: value"), optionally preceded by the caption line.
    """

    text: str
    page: int | None
    heading_path: tuple[str, ...] = ()
    kind: str = "paragraph"
    label: str = ""
    context: str = ""


@dataclass(slots=True)
class ExtractedDocument:
    """What an extractor returns; ``page_count`` is ``None`` for page-less formats."""

    kind: DocumentKind
    sections: list[Section]
    page_count: int | None
    title: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All section texts joined by blank lines (for previews and full-text checks)."""
        return "\n\n".join(s.text for s in self.sections)

    def page_text(self, page: int) -> str:
        """Text of one 1-based page (empty if the page had no text)."""
        return "\n\n".join(s.text for s in self.sections if s.page == page)
