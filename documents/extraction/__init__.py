"""Document text extraction for the ingestion pipeline (pure Python, no Django).

Entry point: ``extract(data, filename)``. The type comes from the content (``detect_kind``);
the file name is untrusted metadata used only for the .txt/.md choice and messages.

Contract: for bad input ``extract`` raises only ``ExtractionError`` subclasses. Unexpected
exceptions from the parsers are wrapped as ``CorruptDocument`` carrying the parser's reason
in ``detail``; ``MemoryError``/``RecursionError`` become ``UnsafeDocument``.
``KeyboardInterrupt``/``SystemExit`` are not caught.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from documents.extraction.detect import detect_kind
from documents.extraction.errors import (
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    ExtractionError,
    ExtractionTimeout,
    NoTextLayer,
    TooLarge,
    TooManyPages,
    UnsafeDocument,
    UnsupportedType,
)
from documents.extraction.pdf import extract_pdf
from documents.extraction.result import DocumentKind, ExtractedDocument, Section
from documents.extraction.text import extract_text_document
from documents.extraction.word import ZipLimits, extract_docx

__all__ = [
    "CorruptDocument",
    "DocumentKind",
    "EmptyFile",
    "EncryptedDocument",
    "ExtractedDocument",
    "ExtractionError",
    "ExtractionLimits",
    "ExtractionTimeout",
    "NoTextLayer",
    "Section",
    "TooLarge",
    "TooManyPages",
    "UnsafeDocument",
    "UnsupportedType",
    "ZipLimits",
    "detect_kind",
    "extract",
]


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Limits other than pages/bytes (those are plain ``extract`` arguments).

    ``time_budget_s`` is checked between pages (PDF) and between blocks (DOCX); it is a guard
    against pathological-but-valid documents, not a hard kill: the Celery task's time limit
    remains the last line of defence for a single page that never returns.
    """

    zip: ZipLimits = field(default_factory=ZipLimits)
    time_budget_s: float | None = 120.0


DEFAULT_LIMITS = ExtractionLimits()


def extract(
    data: bytes,
    filename: str,
    *,
    max_pages: int = 2000,
    max_bytes: int | None = None,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> ExtractedDocument:
    """Extract normalised text sections from an uploaded file.

    Raises (all ``ExtractionError``): ``TooLarge`` (``len(data) > max_bytes``), ``EmptyFile``,
    ``UnsupportedType``, ``EncryptedDocument``, ``CorruptDocument``, ``NoTextLayer``,
    ``TooManyPages`` (PDF pages > ``max_pages``, raised before any page is read),
    ``UnsafeDocument`` (zip bomb), ``ExtractionTimeout``.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(len(data), max_bytes)
    budget = limits.time_budget_s
    deadline = time.monotonic() + budget if budget is not None else None
    try:
        kind = detect_kind(data, filename)
        if kind == "pdf":
            return extract_pdf(data, max_pages=max_pages, deadline=deadline, time_budget_s=budget)
        if kind == "docx":
            return extract_docx(data, zip_limits=limits.zip, deadline=deadline, time_budget_s=budget)
        return extract_text_document(data, kind)
    except ExtractionError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise UnsafeDocument("it needs too many resources to read", detail=type(exc).__name__) from None
    except Exception as exc:
        raise CorruptDocument("the parser could not read it", detail=f"{type(exc).__name__}: {exc}"[:500]) from None
