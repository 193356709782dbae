"""Chunk invariants over every good/ document and the 3,000-page PDF."""

from __future__ import annotations

import itertools
import time

import pytest

from documents.chunking import MODEL_MAX_TOKENS, Chunk, chunk_document, count_tokens, get_tokenizer
from documents.extraction import ExtractedDocument, Section, extract
from tests.documents.conftest import GOOD_FILES, read_doc

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def good_chunks(good_docs) -> dict[str, list[Chunk]]:
    return {rel: chunk_document(doc) for rel, doc in good_docs.items()}


def _locate(chunks: list[Chunk], text: str) -> list[int]:
    """Start offset of each chunk in ``text``, searching forward (chunks are in order)."""
    starts: list[int] = []
    cursor = 0
    prev: Chunk | None = None
    for c in chunks:
        new_block = prev is not None and (c.pages, c.heading_path, c.kind) != (prev.pages, prev.heading_path, prev.kind)
        if prev is not None and (new_block or c.kind == "table"):
            cursor = starts[-1] + len(prev.text)  # no overlap across blocks, nor between table rows
        prev = c
        pos = text.find(c.text, cursor)
        # a short chunk ("100") also occurs inside longer words: take the occurrence that
        # starts and ends at whitespace, as chunks do
        while pos >= 0 and not _on_boundaries(text, pos, pos + len(c.text)):
            pos = text.find(c.text, pos + 1)
        assert pos >= 0, f"chunk {c.ordinal} is not a verbatim slice: {c.text[:80]!r}"
        starts.append(pos)
        cursor = pos + 1
    return starts


def _on_boundaries(text: str, start: int, end: int) -> bool:
    return (start == 0 or text[start - 1].isspace()) and (end == len(text) or text[end].isspace())


def _word_at(text: str, pos: int) -> str:
    left = pos
    while left > 0 and not text[left - 1].isspace():
        left -= 1
    right = pos
    while right < len(text) and not text[right].isspace():
        right += 1
    return text[left:right]


def _full_token_count(text: str) -> int:
    return len(get_tokenizer().encode(text, add_special_tokens=True).ids)


def test_count_tokens_is_untruncated_wordpiece():
    assert count_tokens("hello world") == 2
    long_text = "token " * 600
    assert count_tokens(long_text) == 600  # the bundled tokenizer.json would cap this at 128
    assert _full_token_count("hello world") == 4  # [CLS] hello world [SEP]


@pytest.mark.parametrize("rel", GOOD_FILES)
def test_chunk_invariants(rel, good_docs, good_chunks):
    doc: ExtractedDocument = good_docs[rel]
    chunks = good_chunks[rel]
    assert chunks
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text == c.text.strip() and c.text
        assert c.token_count == count_tokens(c.text) <= 200
        assert _full_token_count(c.text) <= MODEL_MAX_TOKENS
        # the indexed text is the context lines, then the verbatim text, within the same budget
        assert c.index_text.endswith(c.text) and count_tokens(c.index_text) <= 200
        if doc.kind == "pdf":
            assert len(c.pages) == 1
            assert c.text in doc.page_text(c.pages[0])  # the cited page is exact
        else:
            assert c.pages == ()

    # Chunks are verbatim, in order, cut only at whitespace, and cover every non-space char.
    text = doc.text
    starts = _locate(chunks, text)
    covered = bytearray(len(text))
    for c, start in zip(chunks, starts, strict=True):
        end = start + len(c.text)
        for boundary in (start, end):
            if 0 < boundary < len(text) and not text[boundary - 1].isspace() and not text[boundary].isspace():
                # Only a single "word" longer than the split budget may be cut.
                word = _word_at(text, boundary)
                assert count_tokens(word) > 200 - 30, f"cut mid-word at {text[boundary - 20 : boundary + 20]!r}"
        covered[start:end] = b"\x01" * (end - start)
    # Only a PDF's running headers/footers may be left out (each distinct one is indexed once).
    furniture = bytearray(len(text))
    pos = 0
    for section in doc.sections:
        if section.kind in ("header", "footer") and section.page is not None:
            furniture[pos : pos + len(section.text)] = b"\x01" * len(section.text)
        pos += len(section.text) + 2
    uncovered = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i] and not furniture[i]]
    assert not uncovered, f"uncovered text: {text[uncovered[0] : uncovered[0] + 60]!r}"

    # Every page with text has at least one chunk carrying that page number.
    if doc.kind == "pdf":
        body_pages = {s.page for s in doc.sections if s.kind not in ("header", "footer")}
        assert body_pages <= {c.pages[0] for c in chunks}


def test_heading_path_is_metadata_not_text(good_docs, good_chunks):
    doc = good_docs["good/DiffFirstPageHeadFoot.docx"]
    chunks = good_chunks["good/DiffFirstPageHeadFoot.docx"]
    first_page_header = [c for c in chunks if c.heading_path == ("first-page header",)]
    assert [c.text for c in first_page_header] == ["I am the header on the first page, and I\u2019m nice and simple"]
    body = [c for c in chunks if c.heading_path == ("HEADING TEXT",)]
    assert len(body) == 1  # heading + short paragraphs under it merged into one chunk
    assert body[0].text.startswith("HEADING TEXT\n\nMore on page one")
    assert all(not c.text.startswith("header") for c in chunks)
    assert doc.sections  # sanity


def test_small_sections_merge_only_within_page_and_heading(good_chunks, good_docs):
    footnotes = good_chunks["good/footnotes.docx"]
    assert [(c.heading_path, c.text) for c in footnotes] == [
        ((), "Ouch."),
        (("footnote 1",), "A tachyon walks into a bar."),
        (("footnote 2",), "Fin."),
    ]
    linn = good_chunks["good/linn.txt"]
    # 41 short paragraphs become far fewer chunks
    assert len(linn) < len(good_docs["good/linn.txt"].sections) / 2


def test_overlap_between_consecutive_chunks_of_a_page(good_docs):
    doc = good_docs["good/dmca.pdf"]
    chunks = [
        c for c in chunk_document(doc, max_tokens=120, overlap_tokens=30) if c.pages == (2,) and c.kind == "paragraph"
    ]
    assert len(chunks) >= 3
    page = doc.page_text(2)
    starts = _locate(chunks, page)
    pairs = 0
    for (a, sa), (b, sb) in itertools.pairwise(zip(chunks, starts, strict=True)):
        if a.heading_path == b.heading_path:  # chunks of one block (a heading starts another)
            assert sb < sa + len(a.text), "consecutive chunks should overlap"
            pairs += 1
    assert pairs >= 2
    no_overlap = [
        c for c in chunk_document(doc, max_tokens=120, overlap_tokens=0) if c.pages == (2,) and c.kind == "paragraph"
    ]
    starts = _locate(no_overlap, page)
    for (a, sa), sb in zip(zip(no_overlap, starts, strict=False), starts[1:], strict=False):
        assert sb >= sa + len(a.text)


def test_max_tokens_bound_is_enforced():
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_document(ExtractedDocument("txt", [], None), max_tokens=255)
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(ExtractedDocument("txt", [], None), max_tokens=100, overlap_tokens=100)


def test_254_tokens_fit_the_model_exactly(good_docs):
    chunks = chunk_document(good_docs["good/i1040nr.pdf"], max_tokens=254, overlap_tokens=0)
    assert max(_full_token_count(c.text) for c in chunks) <= 256
    assert max(c.token_count for c in chunks) > 200  # the budget is actually used


def test_overlong_single_word_is_split_within_bound():
    # A whitespace-free run of punctuation (dot leaders, ASCII art) is one "word" of ~1,200
    # tokens: it cannot be cut at whitespace, but the token bound still holds. (A long run of
    # letters is no problem: WordPiece maps any word over 100 characters to one [UNK].)
    assert count_tokens("QUJD" * 750) == 1
    blob = "x." * 600
    doc = ExtractedDocument("txt", [Section(f"before {blob} after", None, (), "paragraph")], None)
    chunks = chunk_document(doc, max_tokens=100, overlap_tokens=0)
    assert len(chunks) > 1
    assert all(c.token_count <= 100 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == f"before{blob}after"


def test_3000_page_pdf_chunks_keep_exact_pages():
    doc = extract(read_doc("bad/long-3000-pages.pdf"), "long.pdf", max_pages=5000)
    started = time.monotonic()
    chunks = chunk_document(doc)
    elapsed = time.monotonic() - started
    print(f"\n3000-page PDF: {len(chunks)} chunks in {elapsed:.2f}s")
    assert elapsed < 60
    assert {c.pages[0] for c in chunks} == set(range(1, 3001))
    needle = [c for c in chunks if "MW-1500-KESTREL" in c.text]
    assert needle and all(c.pages == (1500,) for c in needle)
    okafor = [c for c in chunks if "Juniper Okafor" in c.text]
    assert okafor and all(c.pages == (3000,) for c in okafor)


def test_pageless_text_without_headings_is_located_by_paragraph_number() -> None:
    """A DOCX/TXT passage with no heading above it still names a place a reader can open."""
    import re

    from documents.chunking import chunk_document
    from documents.extraction.result import ExtractedDocument, Section

    paras = [f"Paragraph number {i} says something about golf clubs and their members." for i in range(1, 41)]
    doc = ExtractedDocument(kind="docx", sections=[Section(text=p, page=None) for p in paras], page_count=None)
    chunks = chunk_document(doc, max_tokens=60, overlap_tokens=0)
    assert len(chunks) > 3
    for ch in chunks:
        m = re.fullmatch(r"paragraphs? (\d+)(?:-(\d+))?", ch.location)
        assert m, ch.location
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        assert ch.text.startswith(f"Paragraph number {first} ")
        assert f"Paragraph number {last} " in ch.text and f"Paragraph number {last + 1} " not in ch.text
    assert chunks[0].location.startswith("paragraphs 1-")
