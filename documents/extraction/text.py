"""Plain text and Markdown: encoding detection and sectioning (Markdown pipe tables as rows).

Decoding order (first that applies wins):
1. a byte-order mark (UTF-32 before UTF-16, because the UTF-32LE BOM starts with the UTF-16LE one);
2. UTF-16 without BOM, recognised by NUL bytes sitting on one parity (ASCII-heavy UTF-16);
3. strict UTF-8;
4. charset-normalizer's best guess;
5. cp1252, falling back to Latin-1 for the five bytes cp1252 leaves undefined.

Afterwards the decoded text must not look binary: a NUL byte in non-UTF-16 input, or more than
1% control characters / U+FFFD, means garbage. This matters because a Latin-1 decode
"succeeds" on any byte string.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import charset_normalizer

from documents.extraction.errors import EmptyFile, UnsupportedType
from documents.extraction.layout import Cell, Table
from documents.extraction.normalize import normalize_text
from documents.extraction.result import DocumentKind, ExtractedDocument, Section
from documents.extraction.structure import render_table

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
MAX_CONTROL_RATIO = 0.01
_SNIFF_WINDOW = 64 * 1024
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S)


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:_SNIFF_WINDOW]
    if len(data) % 2 or len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    for nuls, other, enc in ((odd_nuls, even_nuls, "utf-16-le"), (even_nuls, odd_nuls, "utf-16-be")):
        if nuls > 0.3 * half and other < 0.02 * half:
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                return None
    return None


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:_SNIFF_WINDOW]
    bad = sum(1 for ch in sample if (ch == "\ufffd" or unicodedata.category(ch) == "Cc") and ch not in "\t\n\r\f")
    return bad / len(sample)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode ``data`` to ``(text, encoding)``; raise ``UnsupportedType`` for binary data."""
    text: str | None = None
    encoding = ""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text, encoding = data[len(bom) :].decode(enc), enc
            except UnicodeDecodeError:
                raise UnsupportedType(f"text with a {enc} byte-order mark that does not decode") from None
            break
    if text is None and b"\x00" in data:
        text = _utf16_without_bom(data)
        encoding = "utf-16 (no BOM)"
        if text is None:
            raise UnsupportedType("binary data, not text (it contains NUL bytes)")
    if text is None:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            best = charset_normalizer.from_bytes(data).best()
            if best is not None:
                text, encoding = str(best), best.encoding
            else:
                try:
                    text, encoding = data.decode("cp1252"), "cp1252"
                except UnicodeDecodeError:
                    text, encoding = data.decode("latin-1"), "latin-1"
    if _control_ratio(text) > MAX_CONTROL_RATIO:
        raise UnsupportedType("binary data, not text")
    return text, encoding


def sniff_text(data: bytes) -> str:
    """Decode for type detection (same rules as ``decode_text``)."""
    return decode_text(data)[0]


def looks_like_html(text: str) -> bool:
    """True when the text starts like an HTML document (doctype, <html>, <head>, <body>)."""
    return bool(_HTML_START.match(text[:4096].encode("utf-8", "replace")))


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _paragraphs(lines: list[str]) -> list[str]:
    paras: list[str] = []
    buf: list[str] = []
    for line in lines:
        if line.strip():
            buf.append(line)
        elif buf:
            paras.append("\n".join(buf))
            buf = []
    if buf:
        paras.append("\n".join(buf))
    return paras


# A GitHub-flavoured Markdown table: a header row of pipe-separated cells, then a delimiter row
# ("|---|:--:|"), then body rows.
_PIPE_DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_PIPE_SPLIT = re.compile(r"(?<!\\)\|")


def _pipe_cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in _PIPE_SPLIT.split(line)]


def _pipe_table(header: str, rows: list[str]) -> str:
    """Rows of a Markdown table as the other extractors write tables: one self-describing row
    per line ("Scope: `deploy` | Lowest role: admin | Also grants: `read`")."""
    labels = _pipe_cells(header)
    n = len(labels)
    table = Table(
        [(float(i), float(i + 1)) for i in range(n)],
        [[Cell(v, i, i) for i, v in enumerate(_pipe_cells(r)[:n])] for r in rows],
        header=[[Cell(lab, i, i) for i, lab in enumerate(labels)]],
        ruled=True,
    )
    _caption, lines = render_table(table)
    return normalize_text("\n".join(lines))


def _split_tables(para: str) -> list[tuple[str, str]]:
    """A paragraph as ("paragraph" | "table", text) pieces, in order."""
    lines = para.split("\n")
    out: list[tuple[str, str]] = []
    i = 0
    start = 0
    while i + 1 < len(lines):
        if "|" in lines[i] and _PIPE_DELIMITER.match(lines[i + 1]):
            if start < i:
                out.append(("paragraph", "\n".join(lines[start:i])))
            j = i + 2
            while j < len(lines) and "|" in lines[j]:
                j += 1
            if j > i + 2:
                out.append(("table", _pipe_table(lines[i], lines[i + 2 : j])))
            else:
                out.append(("paragraph", "\n".join(lines[i:j])))  # a header with no rows: plain text
            start = i = j
            continue
        i += 1
    if start < len(lines):
        out.append(("paragraph", "\n".join(lines[start:])))
    return out


def _markdown_sections(text: str) -> list[Section]:
    """ATX (``#``) and setext (``===``/``---``) headings give the heading path; fenced code is
    never parsed for headings; pipe tables become table sections of self-describing rows."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    fence: str | None = None
    tables = 0

    def flush() -> None:
        nonlocal tables
        heading_path = tuple(t for _, t in path)
        for para in _paragraphs(body):
            fenced = bool(_FENCE.match(para.split("\n", 1)[0]))
            for kind, piece in [("paragraph", para)] if fenced else _split_tables(para):
                norm = normalize_text(piece)
                if not norm:
                    continue
                if kind == "table":
                    tables += 1
                    sections.append(Section(norm, None, heading_path, "table", f"table {tables}"))
                else:
                    sections.append(Section(norm, None, heading_path, "paragraph"))
        body.clear()

    def open_heading(level: int, title: str) -> None:
        flush()
        title = normalize_text(title)
        while path and path[-1][0] >= level:
            path.pop()
        if title:
            path.append((level, title))
            sections.append(Section(title, None, tuple(t for _, t in path), "heading"))

    for line in text.split("\n"):
        fm = _FENCE.match(line)
        if fence is not None:
            body.append(line)
            if fm and fm.group(1)[0] == fence[0] and len(fm.group(1)) >= len(fence):
                fence = None
            continue
        if fm:
            fence = fm.group(1)
            body.append(line)
            continue
        atx = _ATX.match(line)
        if atx:
            open_heading(len(atx.group(1)), atx.group(2) or "")
            continue
        st = _SETEXT.match(line)
        if st and body and body[-1].strip():
            title = body.pop()
            open_heading(1 if st.group(1)[0] == "=" else 2, title)
            continue
        body.append(line)
    flush()
    return sections


def extract_text_document(data: bytes, kind: DocumentKind) -> ExtractedDocument:
    """Extract a TXT (paragraphs split on blank lines) or MD (heading-aware) document."""
    text, encoding = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    warnings: list[str] = []
    if encoding not in ("utf-8", "ascii"):
        warnings.append(f"decoded as {encoding}")
    if kind == "md":
        sections = _markdown_sections(text)
    else:
        sections = [
            Section(norm, None, (), "paragraph")
            for norm in (normalize_text(p) for p in _paragraphs(text.split("\n")))
            if norm
        ]
    if not sections:
        raise EmptyFile("the file contains no text")
    title = next((s.text for s in sections if s.kind == "heading"), None)
    return ExtractedDocument(kind=kind, sections=sections, page_count=None, title=title, warnings=warnings)
