"""What retrieval hands to the layers above: one passage of a tenant's document.

Django-free on purpose (no model import), so the answering code above ``documents/`` and the
benchmarks build and read passages without settings.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["RetrievedChunk"]


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """One retrieved passage, in retrieval order (the caller passes them best first)."""

    chunk_id: Hashable
    document_id: Hashable
    document_title: str
    page: int | None
    text: str
    score: float = 0.0
    # Where the passage sits for a reader ("Part II > Line 8", "Table 1, rows 3-9", "footnote 2")
    # and what it is (paragraph, table, footnote, header, footer, textbox, ...).
    location: str = ""
    kind: str = "paragraph"
    heading_path: tuple[str, ...] = ()
    # The contextual text that was indexed (title, heading path, table context, then ``text``);
    # "" when it equals ``text``. Quotes are always cut from ``text``.
    index_text: str = ""
