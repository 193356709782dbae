"""Document-level passes over the page layouts of a PDF, and the rendering into ``Section``\\s.

- Running headers/footers: the outermost rows each page set aside are furniture when they
  repeat on other pages (digits ignored, so "Page 3 of 48" matches "Page 4 of 48") or are a
  bare page number ("-10-", "Page 10 of 48", "47699"). Furniture becomes its own ``header`` /
  ``footer`` section, never part of a paragraph; other set-aside rows go back into the page.
- Tables: each row is rendered self-describing, "Label: value | Label: value", with the labels
  from the header rows (stacked headers joined: "Pre-Pawn Handgun"), so any chunk that holds a
  row also holds what its numbers mean. A table that starts a page without a header of its own
  takes the header of the previous page's last table when the columns line up (a report whose
  header is printed on page 1 only).
- Paragraph lines are joined with spaces; a line-end hyphen is removed when both sides are
  lower-case letters and the document does not spell the word with a hyphen elsewhere
  ("pro-/cessing" -> "processing", "well-/known" stays "well-known" when "well-known" occurs
  elsewhere; "Jean-/Paul" and "FAA-/approved" keep the hyphen).
- Headings: when the PDF has no outline, blocks recognised as headings (larger or bold short
  lines) give the heading path; levels follow the heading sizes across the document.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from documents.extraction.layout import Block, Cell, Line, PageLayout, Table
from documents.extraction.normalize import normalize_text
from documents.extraction.result import Section

_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_PAGE_NUMBER = re.compile(
    r"^(?:page|seite|p\.|pg\.?)?\s*[-\u2013\u2014]?\s*(?:#|[ivxlc]{1,6})\s*[-\u2013\u2014]?"
    r"(?:\s*(?:of|von|/)\s*#)?$",
    re.I,
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _key(text: str) -> str:
    return _SPACES.sub(" ", _DIGITS.sub("#", text.casefold())).strip()


_EDGE_NUMBER = re.compile(
    r"^(?:[-\u2013\u2014]?\s*#\s*[-\u2013\u2014]?\s+)|(?:\s+[-\u2013\u2014]?\s*#\s*[-\u2013\u2014]?)$"
)


def _row_key(text: str) -> str:
    """A running header's identity: digits ignored, a page number at either end dropped
    ("47704 Federal Register / ..." and "Federal Register / ... 47705" are the same line)."""
    key = _key(text)
    for _ in range(2):
        key = _EDGE_NUMBER.sub("", key).strip()
    return key


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(_key(text)))


@dataclass(slots=True)
class PageContent:
    """One page: its layout, or plain text when the layout analysis could not be used."""

    layout: PageLayout | None
    plain: str = ""


# --------------------------------------------------------------------------------------------
# running headers / footers
# --------------------------------------------------------------------------------------------


def find_furniture(pages: Sequence[PageContent]) -> list[tuple[set[int], set[int]]]:
    """Per page: (indexes of top edge lines, indexes of bottom edge lines) that are furniture:
    a bare page number, or a line (page number aside) that recurs at the same edge."""
    counts: Counter[tuple[str, str]] = Counter()
    layouts = [p.layout for p in pages]
    for lay in layouts:
        if lay is None:
            continue
        seen: set[tuple[str, str]] = set()
        for where, lines in (("top", lay.edge_top), ("bottom", lay.edge_bottom)):
            for ln in lines:
                seen.add((where, _row_key(ln.text)))
                for s in ln.segs:
                    seen.add((where, _row_key(s.text)))
        counts.update(seen)
    n_pages = sum(1 for lay in layouts if lay is not None)
    need = 2 if n_pages <= 4 else 3
    out: list[tuple[set[int], set[int]]] = []
    for lay in layouts:
        top: set[int] = set()
        bottom: set[int] = set()
        if lay is not None:
            for where, lines, dest in (("top", lay.edge_top, top), ("bottom", lay.edge_bottom, bottom)):
                for i, ln in enumerate(lines):
                    if (
                        is_page_number(ln.text)
                        or (n_pages > 1 and counts[(where, _row_key(ln.text))] >= need)
                        or all(
                            is_page_number(s.text) or (n_pages > 1 and counts[(where, _row_key(s.text))] >= need)
                            for s in ln.segs
                        )
                    ):
                        dest.add(i)
        out.append((top, bottom))
    return out


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def column_parts(table: Table) -> list[list[str]]:
    """Per column, its labels: the group headers over it (cells spanning several columns) from
    the top down, then its own header words joined ("At" over "least" -> "At least")."""
    groups: list[list[str]] = [[] for _ in table.columns]
    own: list[list[str]] = [[] for _ in table.columns]
    for row in table.header:
        for cell in row:
            text = _clean_inline(cell.text)
            if not text:
                continue
            target = groups if cell.col1 > cell.col0 else own
            for c in range(cell.col0, cell.col1 + 1):
                if 0 <= c < len(target) and text not in target[c]:
                    target[c].append(text)
    return [g + ([" ".join(o)] if o else []) for g, o in zip(groups, own, strict=True)]


def column_labels(table: Table) -> list[str]:
    return [" ".join(p) for p in column_parts(table)]


def carry_headers(pages: Sequence[PageContent]) -> None:
    """Give a headerless table at the top of a page the header of the previous page's table."""
    last: Table | None = None
    for page in pages:
        if page.layout is None:
            last = None
            continue
        tables = [it for it in page.layout.items if isinstance(it, Table)]
        if tables and last is not None:
            first = tables[0]
            if not first.header and _same_columns(first, last):
                first.header = last.header
                first.caption = first.caption or last.caption
        if tables:
            last = tables[-1]


def _same_columns(a: Table, b: Table) -> bool:
    if len(a.columns) != len(b.columns) or not b.header:
        return False
    tol = 3.0 if a.ruled and b.ruled else 12.0
    return all(abs(x[0] - y[0]) <= tol and abs(x[1] - y[1]) <= tol for x, y in zip(a.columns, b.columns, strict=True))


def render_table(table: Table) -> tuple[str, list[str]]:
    """(caption, row lines). Each row names its columns: "Label: value | Label: value".

    Neighbouring columns under the same group header are written once per group to keep rows
    short: "Pre-Pawn (Handgun: 9; Long Gun: 11; *Other: 0)".
    """
    parts = column_parts(table)
    rows: list[str] = []
    for row in table.rows:
        cells = [(c, _clean_inline(c.text)) for c in row]
        cells = [(c, t) for c, t in cells if t]
        out: list[str] = []
        k = 0
        while k < len(cells):
            cell, text = cells[k]
            labels = _cell_labels(parts, cell)
            # the run of following single-column cells that share this cell's leading labels
            prefix = labels[:-1] if cell.col0 == cell.col1 and len(labels) >= 2 else []
            members = [(labels[len(prefix) :], text)]
            m = k + 1
            while prefix and m < len(cells):
                nxt, ntext = cells[m]
                nlabels = _cell_labels(parts, nxt)
                if nxt.col0 != nxt.col1 or nlabels[: len(prefix)] != prefix or len(nlabels) <= len(prefix):
                    break
                members.append((nlabels[len(prefix) :], ntext))
                m += 1
            if len(members) > 1:
                inner = "; ".join(f"{' '.join(lab)}: {t}" for lab, t in members)
                out.append(f"{' '.join(prefix)} ({inner})")
                k = m
                continue
            out.append(f"{' '.join(labels)}: {text}" if labels else text)
            k += 1
        if out:
            rows.append(" | ".join(out))
    if not rows and table.header:  # a table of header rows only: keep the words
        rows = [" | ".join(_clean_inline(c.text) for c in r if c.text.strip()) for r in table.header]
    return _clean_inline(table.caption), rows


def _cell_labels(parts: list[list[str]], cell: Cell) -> list[str]:
    cols = [c for c in range(cell.col0, cell.col1 + 1) if 0 <= c < len(parts) and parts[c]]
    if not cols:
        return []
    if len(cols) == 1:
        return parts[cols[0]]
    names = [" ".join(parts[c]) for c in cols]  # a merged cell: name every column it covers
    return [" / ".join(dict.fromkeys(names))]


def _clean_inline(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


# --------------------------------------------------------------------------------------------
# paragraphs
# --------------------------------------------------------------------------------------------


def vocabulary(pages: Sequence[PageContent]) -> Counter[str]:
    """Word forms used inside lines (not at a line break), for the de-hyphenation decision."""
    text = "\n".join(
        ln.text
        for page in pages
        if page.layout is not None
        for it in page.layout.items
        if isinstance(it, Block)
        for ln in it.lines
    )
    return Counter(_WORD_RE.findall(text.casefold()))


def join_lines(lines: Sequence[Line], vocab: Counter[str]) -> str:
    out = ""
    for ln in lines:
        text = ln.text
        if not out:
            out = text
            continue
        last_word = ln_last_word(out)
        if out.endswith(("-", "\u2013")) and len(out) > 1 and out[-2].isdigit() and text[:1].isdigit():
            out = out + text  # a range or a number broken at its dash: "10-" + "12"
            continue
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha():
            first = text.split(" ", 1)[0]
            left = last_word.rstrip("-")
            if left and first and left[-1].islower() and first[0].islower():
                right = re.match(r"[^\W\d_]+", first)
                r = right.group(0) if right else first
                joined = (left + r).casefold()
                hyphenated = f"{left}-{r}".casefold()
                # a real compound ("well-known" used elsewhere) keeps its hyphen
                out = out + text if vocab[hyphenated] > vocab[joined] else out[:-1] + text
            else:
                out = out + text  # "Jean-" + "Paul", "FAA-" + "approved": keep the hyphen
            continue
        out = f"{out} {text}"
    return out


def ln_last_word(text: str) -> str:
    k = text.rfind(" ")
    return text[k + 1 :]


# --------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------


def document_body_pt(pages: Sequence[PageContent]) -> float:
    """The body font size of the document: the most common page body size (points)."""
    counts: Counter[float] = Counter(
        round(p.layout.body_pt * 2) / 2 for p in pages if p.layout is not None and p.layout.items
    )
    if not counts:
        return 0.0
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]


def classify_headings(pages: Sequence[PageContent]) -> dict[float, int]:
    """Mark heading blocks against the document's body size; return size -> heading level."""
    body = document_body_pt(pages)
    sizes: set[float] = set()
    for page in pages:
        if page.layout is None:
            continue
        for it in page.layout.items:
            if not isinstance(it, Block) or it.kind not in ("heading", "paragraph"):
                continue
            heading = it.short and body > 0 and (it.pt >= 1.15 * body or (it.bold and it.pt >= 0.95 * body))
            it.kind = "heading" if heading else "paragraph"
            if heading:
                sizes.add(round(it.pt * 2) / 2)
    return {s: i + 1 for i, s in enumerate(sorted(sizes, reverse=True))}


def build_sections(
    pages: Sequence[PageContent],
    outline: list[tuple[int, tuple[str, ...]]],
) -> list[Section]:
    """Render every page into sections (the page's items in reading order)."""
    furniture = find_furniture(pages)
    carry_headers(pages)
    vocab = vocabulary(pages)
    levels = classify_headings(pages)
    use_outline = len(outline) > 0
    sections: list[Section] = []
    o = 0
    path: tuple[str, ...] = ()
    stack: list[tuple[int, str]] = []
    table_no = 0
    last_table: Table | None = None
    note_no = 0
    for i, page in enumerate(pages):
        pno = i + 1
        if use_outline:
            while o < len(outline) and outline[o][0] <= i:
                path = outline[o][1]
                o += 1
        if page.layout is None:
            text = normalize_text(page.plain)
            if text:  # PDFium's own text order (the layout analysis did not apply)
                sections.append(Section(text, pno, path, "page"))
            continue
        lay = page.layout
        top_f, bottom_f = furniture[i]
        items: list[Block | Table] = []
        for k, ln in enumerate(lay.edge_top):
            if k in top_f:
                _add(sections, Section(normalize_text(ln.text), pno, ("page header",), "header", "page header"))
            else:
                items.append(lay.top_blocks[k])
        items.extend(lay.items)
        footer_lines: list[Line] = []
        if not bottom_f:
            items.extend(lay.bottom_blocks)  # not a running footer: page text (footnotes, ...)
        for k, ln in enumerate(lay.edge_bottom):
            if k in bottom_f:
                footer_lines.append(ln)
            elif bottom_f:
                items.append(Block("paragraph", [ln], ln.size))
        for it in _merge_continued(items):
            if isinstance(it, Table):
                if not (last_table is not None and it.header is last_table.header and it.header):
                    table_no += 1
                last_table = it
                caption, rows = render_table(it)
                body = "\n".join(([caption] if caption else []) + rows)
                # rows name their columns already: the context is the caption (if any)
                context = caption
                _add(
                    sections,
                    Section(normalize_text(body), pno, path, "table", f"table {table_no}", normalize_text(context)),
                )
                continue
            text = normalize_text(join_lines(it.lines, vocab))
            if not text:
                continue
            if it.kind == "heading":
                if not use_outline:
                    level = levels.get(round(it.pt * 2) / 2, len(levels) + 1)
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    stack.append((level, text.replace("\n", " ")[:200]))
                    path = tuple(t for _, t in stack)
                _add(sections, Section(text, pno, path, "heading"))
            elif it.kind == "footnote":
                m = re.match(r"^\^?(\S{1,4}?)[\s.)]", text + " ")
                note_no += 1
                label = f"footnote {m.group(1)}" if m else f"footnote {note_no}"
                _add(sections, Section(text, pno, path, "footnote", label))
            else:
                _add(sections, Section(text, pno, path, "paragraph"))
        for ln in footer_lines:
            _add(sections, Section(normalize_text(ln.text), pno, ("page footer",), "footer", "page footer"))
    return sections


_TERMINAL = (".", "!", "?", ":", ";", '"', "\u201d", ")")


def _merge_continued(items: list[Block | Table]) -> list[Block | Table]:
    """A paragraph cut by a column break continues in the next paragraph of the same size:
    "They already" + "are included as income ..." is one paragraph. Footnotes printed at the
    bottom of the first column may sit between the two parts; they stay after it."""
    out: list[Block | Table] = []
    last_para: int | None = None
    for it in items:
        if isinstance(it, Block) and it.kind == "paragraph" and last_para is not None:
            prev = out[last_para]
            assert isinstance(prev, Block)
            between = out[last_para + 1 :]
            if (
                all(isinstance(b, Block) and b.kind == "footnote" for b in between)
                and len(prev.lines) >= 2
                and abs(prev.size - it.size) <= 0.05 * max(prev.size, it.size)
                and not prev.lines[-1].text.rstrip().endswith(_TERMINAL)
                and it.lines[0].text[:1].islower()
            ):
                out[last_para] = Block("paragraph", prev.lines + it.lines, prev.size, prev.bold, prev.short)
                continue
        prev_item = out[-1] if out else None
        if (
            isinstance(it, Block)
            and isinstance(prev_item, Block)
            and it.kind == prev_item.kind == "heading"
            and abs(it.pt - prev_item.pt) <= 0.5
            and len(prev_item.lines) + len(it.lines) <= 3
        ):  # a title set on two lines that the layout cut into two bands
            out[-1] = Block("heading", prev_item.lines + it.lines, prev_item.size, prev_item.bold, True, prev_item.pt)
            continue
        out.append(it)
        if isinstance(it, Block) and it.kind == "paragraph":
            last_para = len(out) - 1
        elif not (isinstance(it, Block) and it.kind == "footnote"):
            last_para = None
    return out


def _add(sections: list[Section], section: Section) -> None:
    if section.text:
        sections.append(section)
