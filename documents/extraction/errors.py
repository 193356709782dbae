"""Errors raised by document extraction.

Invariant: every failure caused by the uploaded bytes surfaces as an ``ExtractionError``
subclass. ``user_message`` is a sentence a person can act on (safe to show in the UI: it never
contains stack traces or file-system paths), ``code`` is a stable machine-readable identifier
for the API and metrics, and ``detail`` carries the parser's own reason for logs.
"""

from __future__ import annotations

from typing import ClassVar


def _human_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover - loop always returns


class ExtractionError(Exception):
    """Base class: the document cannot be turned into text."""

    code: ClassVar[str] = "extraction_failed"
    default_message: ClassVar[str] = "the document could not be read"

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        self.user_message: str = user_message or self.default_message
        self.detail: str | None = detail
        super().__init__(self.user_message)


class UnsupportedType(ExtractionError):
    """The content is not a PDF, DOCX, plain text or Markdown file."""

    code = "unsupported_type"

    def __init__(self, what: str, *, detail: str | None = None) -> None:
        super().__init__(f"unsupported file type: {what}", detail=detail)


class EmptyFile(ExtractionError):
    """Zero bytes, or a container that holds no text at all."""

    code = "empty_file"
    default_message = "the file is empty (0 bytes)"


class CorruptDocument(ExtractionError):
    """Truncated or damaged beyond what the parser can repair."""

    code = "corrupt"

    def __init__(self, reason: str, *, detail: str | None = None) -> None:
        super().__init__(f"the file is damaged or truncated: {reason}", detail=detail)


class EncryptedDocument(ExtractionError):
    """Needs a password to open (PDF user password, encrypted OOXML package)."""

    code = "encrypted"

    def __init__(self, kind: str = "PDF/DOCX", *, detail: str | None = None) -> None:
        super().__init__(f"password-protected {kind}: remove the password and upload again", detail=detail)


class NoTextLayer(ExtractionError):
    """An image-only (scanned) PDF: OCR would be needed and is not enabled."""

    code = "no_text_layer"
    default_message = "scanned PDF: no extractable text; OCR is not enabled"


class TooLarge(ExtractionError):
    """The upload exceeds the byte limit."""

    code = "too_large"

    def __init__(self, size: int, limit: int, *, detail: str | None = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"the file is too large: {_human_bytes(size)}; the limit is {_human_bytes(limit)}",
            detail=detail,
        )


class TooManyPages(ExtractionError):
    """The PDF has more pages than the configured limit (checked before any page is read)."""

    code = "too_many_pages"

    def __init__(self, pages: int, limit: int, *, detail: str | None = None) -> None:
        self.pages = pages
        self.limit = limit
        super().__init__(f"the document has {pages} pages; the limit is {limit} pages", detail=detail)


class UnsafeDocument(ExtractionError):
    """Refused for safety: zip bomb, too many archive members, hostile XML."""

    code = "unsafe"

    def __init__(self, reason: str, *, detail: str | None = None) -> None:
        super().__init__(f"the file was refused as unsafe: {reason}", detail=detail)


class ExtractionTimeout(ExtractionError):
    """Extraction ran past its time budget (checked between pages / parts)."""

    code = "timeout"

    def __init__(self, seconds: float, *, detail: str | None = None) -> None:
        super().__init__(
            f"the document took too long to read (limit {seconds:g} s); split it and upload the parts",
            detail=detail,
        )
