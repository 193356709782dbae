"""PDF text extraction with PDFium (pypdfium2) and a layout analysis of its character boxes.

Reading order and structure come from ``layout.py`` (columns, tables, headings, footnotes,
superscript markers) and ``structure.py`` (running headers/footers, table headers carried
across pages, de-hyphenation, rendering into sections); ``pdf_page.py`` reads what they need
from PDFium. A page whose text runs vertically, or on which the analysis raises, falls back to
PDFium's own text order for that page (with a warning), so a layout bug never costs a page.

Decisions (documented because they change what users see):
- Encryption: a PDF that opens with the EMPTY user password (owner-only "permissions"
  encryption, e.g. good/dmca.pdf, encrypted/r6-owner-password.pdf) is accepted, with a warning;
  one that needs a user password raises ``EncryptedDocument``. Passwords are never accepted.
- Damage: PDFium repairs broken xref tables by itself. Pages that still fail to load are
  skipped with a warning as long as at least half of the pages load; otherwise the document is
  ``CorruptDocument``. A file PDFium cannot open at all is ``CorruptDocument``.
- Scans: a page "has text" when its normalised text is non-empty. If fewer than half the pages
  have text the document is treated as scanned (``NoTextLayer``); text-less pages in an
  otherwise textual PDF only produce a warning (e.g. figure pages).
- Limits: the page count is checked against ``max_pages`` before any page is read, and a
  deadline is checked between pages. PDFium never runs JavaScript; attachments are not read
  (only counted for a warning). Page-tree cycles make PDFium fail to load the page, which
  ends in ``CorruptDocument`` instead of a hang.
- Thread safety: PDFium is not thread-safe, so all calls are serialised with a process-wide
  lock. Parallelism should come from processes (Celery prefork workers).
"""

from __future__ import annotations

import logging
import re
import threading
import time

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from documents.extraction.errors import (
    CorruptDocument,
    EncryptedDocument,
    ExtractionTimeout,
    NoTextLayer,
    TooManyPages,
)
from documents.extraction.layout import analyse_page
from documents.extraction.normalize import normalize_text
from documents.extraction.pdf_page import PageData, read_page
from documents.extraction.result import ExtractedDocument
from documents.extraction.structure import PageContent, build_sections

logger = logging.getLogger(__name__)

_PDFIUM_LOCK = threading.Lock()
MIN_TEXT_PAGE_FRACTION = 0.5
_MAX_TOC_ITEMS = 5000


def _page_ranges(pages: list[int]) -> str:
    out: list[str] = []
    start = prev = pages[0]
    for p in [*pages[1:], None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ", ".join(out)


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise EncryptedDocument("PDF", detail=msg) from None
        if "security" in msg.lower():
            raise EncryptedDocument("PDF", detail=msg) from None
        raise CorruptDocument("PDF cannot be opened", detail=msg) from None


def _outline_paths(pdf: pdfium.PdfDocument, warnings: list[str]) -> list[tuple[int, tuple[str, ...]]]:
    """(0-based page index, heading path) for each bookmark, in outline order."""
    out: list[tuple[int, tuple[str, ...]]] = []
    stack: list[str] = []
    try:
        for i, bm in enumerate(pdf.get_toc(max_depth=8)):
            if i >= _MAX_TOC_ITEMS:
                break
            del stack[bm.level :]
            title = normalize_text(bm.get_title() or "").replace("\n", " ")
            stack.append(title)
            dest = bm.get_dest()
            index = dest.get_index() if dest is not None else None
            if index is not None and title:
                out.append((index, tuple(t for t in stack if t)))
    except Exception as exc:  # outline is optional metadata; never fail the document on it
        warnings.append(f"outline ignored: {type(exc).__name__}")
    out.sort(key=lambda item: item[0])
    return out


_FILENAME_LIKE = re.compile(r"\.[A-Za-z0-9]{1,4}$|^[\w-]+$")


def _metadata_title(pdf: pdfium.PdfDocument) -> str | None:
    """The Info dictionary title, unless it is obviously a file name ("Binder1.pdf")."""
    try:
        title = normalize_text(pdf.get_metadata_dict().get("Title") or "").replace("\n", " ")
    except Exception:
        return None
    if not title or _FILENAME_LIKE.search(title):
        return None
    return title


def extract_pdf(
    data: bytes, *, max_pages: int, deadline: float | None, time_budget_s: float | None
) -> ExtractedDocument:
    """Extract pages in reading order with their structure (see ``structure.build_sections``)."""
    warnings: list[str] = []
    with _PDFIUM_LOCK:
        pdf = _open(data)
        try:
            page_count = len(pdf)
            if page_count <= 0:
                raise CorruptDocument("the PDF has no pages")
            if page_count > max_pages:
                raise TooManyPages(page_count, max_pages)
            if pdfium_c.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1:
                warnings.append("encrypted PDF opened with the empty user password")
            if pdf.count_attachments():
                warnings.append("embedded file attachments were ignored")
            if pdfium_c.FPDFDoc_GetJavaScriptActionCount(pdf.raw) > 0:
                warnings.append("document JavaScript was ignored (never executed)")
            title = _metadata_title(pdf)
            outline = _outline_paths(pdf, warnings)

            pages: list[PageContent] = []
            failed: list[int] = []
            fallback: list[int] = []
            fonts: dict[int, bool] = {}
            for i in range(page_count):
                if deadline is not None and time.monotonic() > deadline:
                    raise ExtractionTimeout(time_budget_s or 0.0)
                try:
                    page = pdf[i]
                except pdfium.PdfiumError:
                    failed.append(i + 1)
                    pages.append(PageContent(None, ""))
                    continue
                try:
                    textpage = page.get_textpage()
                    try:
                        pages.append(_read_page(page, textpage, fonts, fallback, i + 1))
                    finally:
                        textpage.close()
                except pdfium.PdfiumError:
                    failed.append(i + 1)
                    pages.append(PageContent(None, ""))
                finally:
                    page.close()
        finally:
            pdf.close()

    if len(failed) * 2 > page_count:
        raise CorruptDocument(
            f"{len(failed)} of {page_count} pages cannot be read", detail=f"failed pages {failed[:20]}"
        )
    if failed:
        warnings.append(f"pages {_page_ranges(failed)} could not be read and were skipped")
    if fallback:
        warnings.append(f"pages {_page_ranges(fallback)} were read without layout analysis")
    sections = build_sections(pages, outline)
    with_text = len({s.page for s in sections})
    if with_text == 0 or with_text < MIN_TEXT_PAGE_FRACTION * (page_count - len(failed)):
        raise NoTextLayer(detail=f"{with_text} of {page_count} pages have text")
    have = {s.page for s in sections}
    empty = [p for p in range(1, page_count + 1) if p not in have and p not in failed]
    if empty:
        warnings.append(f"pages {_page_ranges(empty)} have no extractable text (images only?)")
    return ExtractedDocument(kind="pdf", sections=sections, page_count=page_count, title=title, warnings=warnings)


def _read_page(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, fonts: dict[int, bool], fallback: list[int], pno: int
) -> PageContent:
    """Layout analysis of one page; PDFium's own text order if the analysis fails or does not apply."""
    try:
        data = read_page(page, textpage, fonts)
        if not data.words:
            return PageContent(None, "")
        if not _horizontal(data):
            fallback.append(pno)
            return PageContent(None, textpage.get_text_bounded())
        layout = analyse_page(data.words, data.rules, data.height, data.fonts)
        return PageContent(layout)
    except pdfium.PdfiumError:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception:  # a layout bug must not cost the page: keep PDFium's text for it
        logger.exception("layout analysis failed on page %s; using plain text", pno)
        fallback.append(pno)
        return PageContent(None, textpage.get_text_bounded())


def _horizontal(data: PageData) -> bool:
    """Most words run left to right (rotated or vertical text is left to PDFium's order)."""
    words = data.words
    if len(words) < 5:
        return True
    wide = sum(1 for w in words if len(w.text) >= 3 and (w.x1 - w.x0) >= 0.8 * (w.bottom - w.top))
    tall = sum(1 for w in words if len(w.text) >= 3 and (w.x1 - w.x0) < 0.8 * (w.bottom - w.top))
    return wide >= tall
