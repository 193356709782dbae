"""Content-based file type detection.

The decision is made from the bytes (magic numbers, zip directory, decodability); the file
name only chooses between ``txt`` and ``md`` and sharpens error messages. A file whose name
promises a binary format (``.pdf``/``.docx``) but whose content is something else is refused
rather than silently indexed as text, because the user evidently uploaded the wrong thing.
"""

from __future__ import annotations

import io
import os
import zipfile

from documents.extraction.errors import EmptyFile, EncryptedDocument, UnsupportedType
from documents.extraction.result import DocumentKind
from documents.extraction.text import looks_like_html, sniff_text

# PDF readers accept junk before the header (Acrobat: anywhere in the first 1024 bytes).
PDF_HEADER_WINDOW = 1024
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdown", ".mkd"})
_BINARY_EXTENSIONS = {".pdf": "PDF", ".docx": "Word (.docx)"}


def _extension(filename: str) -> str:
    # The name is untrusted metadata (may be "..%2f..%2fetc%2fpasswd.pdf"): only its suffix
    # is looked at, never used as a path.
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return os.path.splitext(base)[1].lower()


def _zip_kind(data: bytes, ext: str) -> DocumentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        # No readable central directory. The local file headers still carry part names; if
        # they are Word parts this is a damaged DOCX and the DOCX reader reports it as corrupt.
        if b"word/document.xml" in data or (b"[Content_Types].xml" in data and ext == ".docx"):
            return "docx"
        raise UnsupportedType("a damaged zip archive that is not a Word document") from None
    if "word/document.xml" in names and "[Content_Types].xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        raise UnsupportedType("an Excel workbook (.xlsx); only PDF, DOCX, TXT and MD are accepted")
    if "ppt/presentation.xml" in names:
        raise UnsupportedType("a PowerPoint deck (.pptx); only PDF, DOCX, TXT and MD are accepted")
    if "mimetype" in names and "content.xml" in names:
        raise UnsupportedType("an OpenDocument file; save it as .docx or PDF")
    raise UnsupportedType("a zip archive; upload the documents inside it one by one")


def _ole2_kind(data: bytes) -> DocumentKind:
    # Encrypted OOXML (agile/standard encryption) is stored in an OLE2 compound file with the
    # streams "EncryptionInfo" and "EncryptedPackage"; directory entry names are UTF-16LE.
    if "EncryptionInfo".encode("utf-16-le") in data or "EncryptedPackage".encode("utf-16-le") in data:
        raise EncryptedDocument("DOCX")
    raise UnsupportedType("a legacy Microsoft Office file (.doc/.xls/.ppt); save it as .docx or PDF")


def detect_kind(data: bytes, filename: str) -> DocumentKind:
    """Return the document kind of ``data``.

    Raises:
        EmptyFile: ``data`` is empty.
        EncryptedDocument: an encrypted Office package (OLE2 with ``EncryptionInfo``).
        UnsupportedType: anything that is not PDF, DOCX or clean text (HTML, binary garbage,
            other zip/OLE formats, text uploaded under a ``.pdf``/``.docx`` name).
    """
    if not data:
        raise EmptyFile()
    ext = _extension(filename)
    if b"%PDF-" in data[:PDF_HEADER_WINDOW]:
        return "pdf"
    if data.startswith(_ZIP_MAGICS):
        return _zip_kind(data, ext)
    if data.startswith(_OLE2_MAGIC):
        return _ole2_kind(data)

    text = sniff_text(data)  # raises UnsupportedType for binary data
    if looks_like_html(text):
        raise UnsupportedType("an HTML page; save it as PDF or plain text")
    if ext in _BINARY_EXTENSIONS:
        raise UnsupportedType(f"the file is named {ext} but its content is plain text, not {_BINARY_EXTENSIONS[ext]}")
    return "md" if ext in _MARKDOWN_EXTENSIONS else "txt"
