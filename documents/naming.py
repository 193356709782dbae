"""Display names for uploads. The uploader's file name is untrusted metadata: it never becomes a
storage path (``Document.file`` names are generated, see ``document_upload_to``)."""

from __future__ import annotations

import os
import re
import unicodedata
from urllib.parse import unquote

MAX_FILENAME_CHARS = 255
_SPACES = re.compile(r"\s+")


def sanitize_filename(name: str | None, *, fallback: str = "document") -> str:
    """A safe display name: the last path component, NFC, no control characters, <= 255 chars.

    Percent-escapes are decoded once first, so ``..%2f..%2fetc%2fpasswd.pdf`` and
    ``..\\..\\windows\\win.ini.pdf`` both end as a bare file name (``passwd.pdf``,
    ``win.ini.pdf``). Unicode letters are kept; leading dots are stripped (no hidden or
    ``..`` names). Never empty.
    """
    text = unicodedata.normalize("NFC", unquote(name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _SPACES.sub(" ", text).strip().lstrip(".").strip()
    if not text:
        return fallback
    if len(text) > MAX_FILENAME_CHARS:
        stem, ext = os.path.splitext(text)
        ext = ext[:16]
        text = stem[: MAX_FILENAME_CHARS - len(ext)] + ext
    return text


def title_from_filename(filename: str) -> str:
    """The default title: the display name without its extension (max 300 chars)."""
    stem, _ext = os.path.splitext(filename)
    return (stem.strip() or filename)[:300]
