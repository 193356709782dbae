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
