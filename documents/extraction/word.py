"""DOCX extraction: python-docx opens the package, text is read from the WordprocessingML tree.

Why not ``paragraph.style`` / ``cell.text``: measured 20x slower (notes, parsing section 3.4),
``cell.text`` misses nested tables and ``row.cells`` repeats merged cells. The body is walked
once in document order instead:

- paragraphs (``w:p``), with headings from the paragraph's ``w:pStyle`` id mapped through
  styles.xml (built-in "heading N" names are language independent, ``w:outlineLvl`` and
  ``w:basedOn`` are honoured) or a direct ``w:outlineLvl``;
- tables (``w:tbl``): one line per row, cells joined by " | ", nested tables flattened in place;
- text boxes (``w:txbxContent``) as their own sections; the VML ``mc:Fallback`` copy of a
  drawing is skipped so text is not duplicated;
- content controls (``w:sdt``), tracked insertions are read; deletions, field codes are not;
- footnotes/endnotes from their XML parts (python-docx has no API), numbered by reference order;
- headers/footers referenced from each section's ``w:sectPr``, labelled by type
  ("first-page header", "header", "even-page footer", ...), duplicates dropped.

Safety: ``check_zip_safety`` reads only the zip central directory and refuses archives whose
total uncompressed size, member count or compression ratio exceed the limits BEFORE any part
is inflated. python-docx parses with ``resolve_entities=False``; parts read here use a parser
with entities, DTD loading and network access disabled, so XXE entities stay unresolved.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from lxml import etree

from documents.extraction.errors import (
    CorruptDocument,
    EmptyFile,
    ExtractionTimeout,
    UnsafeDocument,
)
from documents.extraction.layout import Cell, Table, _header_rows, is_numeric
from documents.extraction.normalize import normalize_text
from documents.extraction.result import ExtractedDocument, Section
from documents.extraction.structure import render_table

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _w(tag: str) -> str:
    return f"{{{W}}}{tag}"


W_P, W_TBL, W_TR, W_TC, W_T, W_SDT, W_SDT_CONTENT = map(_w, ("p", "tbl", "tr", "tc", "t", "sdt", "sdtContent"))
W_TAB, W_PTAB, W_BR, W_CR, W_TXBX, W_DEL = map(_w, ("tab", "ptab", "br", "cr", "txbxContent", "del"))
W_NBHYPHEN, W_PPR, W_PSTYLE, W_OUTLINE, W_VAL = map(_w, ("noBreakHyphen", "pPr", "pStyle", "outlineLvl", "val"))
W_CUSTOMXML, W_SMARTTAG, W_SECTPR = _w("customXml"), _w("smartTag"), _w("sectPr")
MC_FALLBACK = f"{{{MC}}}Fallback"
_WRAPPERS = frozenset({W_SDT, W_SDT_CONTENT, W_CUSTOMXML, W_SMARTTAG})
_SKIP = frozenset({MC_FALLBACK, W_DEL, _w("instrText"), _w("delText"), _w("rPr"), W_PPR})
_HEADING_NAME = re.compile(r"^heading\s*(\d)$", re.I)

_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Limits checked from the zip central directory before any member is inflated."""

    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: float = 100.0
    max_members: int = 10_000
    # The ratio is only judged on members at least this big: small, repetitive XML parts
    # (styles, settings) legitimately compress more than 100:1.
    ratio_min_member_bytes: int = 1024 * 1024


def check_zip_safety(data: bytes, limits: ZipLimits) -> None:
    """Raise ``UnsafeDocument`` (zip bomb) or ``CorruptDocument`` (unreadable zip)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CorruptDocument("the Word file's zip structure is broken", detail=str(exc)) from None
    if len(infos) > limits.max_members:
        raise UnsafeDocument(f"the archive has {len(infos)} members (limit {limits.max_members})")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise UnsafeDocument(
            f"it would expand to {total / 2**20:.0f} MiB"
            f" (limit {limits.max_uncompressed_bytes / 2**20:.0f} MiB); this looks like a zip bomb"
        )
    for info in infos:
        if info.file_size >= limits.ratio_min_member_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise UnsafeDocument(
                    f"member {info.filename!r} is compressed {ratio:.0f}:1"
                    f" (limit {limits.max_compression_ratio:.0f}:1); this looks like a zip bomb"
                )


class _Walker:
    """Walks WordprocessingML block content, producing sections in document order."""

    def __init__(self, heading_levels: dict[str, int], deadline: float | None, budget: float | None) -> None:
        self.heading_levels = heading_levels
        self.deadline = deadline
        self.budget = budget
        self.path: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self._ticks = 0
        self.tables = 0
        self.label = ""  # where the walked part is, for non-body parts ("footnote 2", ...)

    def _tick(self) -> None:
        self._ticks += 1
        if self.deadline is not None and self._ticks % 256 == 0 and time.monotonic() > self.deadline:
            raise ExtractionTimeout(self.budget or 0.0)

    def _heading_path(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.path)

    # -- inline text -------------------------------------------------------------------------
    def inline_text(self, el: etree._Element, boxes: list[etree._Element]) -> str:
        parts: list[str] = []
        self._collect(el, parts, boxes)
        return "".join(parts)

    def _collect(self, el: etree._Element, parts: list[str], boxes: list[etree._Element]) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP:
                continue
            if tag == W_T:
                parts.append(child.text or "")
            elif tag in (W_TAB, W_PTAB):
                parts.append("\t")
            elif tag in (W_BR, W_CR):
                parts.append("\n")
            elif tag == W_NBHYPHEN:
                parts.append("-")
            elif tag == W_TXBX:
                boxes.append(child)
            elif tag == W_P:  # paragraphs nested in inline containers
                parts.append("\n")
                self._collect(child, parts, boxes)
            else:
                self._collect(child, parts, boxes)

    # -- blocks ------------------------------------------------------------------------------
    def _blocks(self, container: etree._Element) -> Iterator[etree._Element]:
        for child in container:
            tag = child.tag
            if tag in (W_P, W_TBL):
                yield child
            elif tag in _WRAPPERS:
                yield from self._blocks(child)

    def _level(self, p: etree._Element) -> int | None:
        ppr = p.find(W_PPR)
        if ppr is None:
            return None
        outline = ppr.find(W_OUTLINE)
        if outline is not None:
            try:
                lvl = int(outline.get(W_VAL, "9"))
            except ValueError:
                lvl = 9
            if lvl < 9:
                return lvl + 1
        style = ppr.find(W_PSTYLE)
        if style is not None:
            return self.heading_levels.get(style.get(W_VAL, ""))
        return None

    def walk(
        self, container: etree._Element, *, kind: str = "paragraph", fixed_path: tuple[str, ...] | None = None
    ) -> None:
        for block in self._blocks(container):
            self._tick()
            boxes: list[etree._Element] = []
            if block.tag == W_TBL:
                text, caption = self.table_section(block, boxes)
                if text and not caption:
                    caption = self._nearby_title()
                if text:
                    self.tables += 1
                    path = fixed_path or self._heading_path()
                    self.sections.append(Section(text, None, path, "table", f"table {self.tables}", caption))
            else:
                text = normalize_text(self.inline_text(block, boxes))
                level = self._level(block) if fixed_path is None else None
                if level is not None and text:
                    while self.path and self.path[-1][0] >= level:
                        self.path.pop()
                    self.path.append((level, text.replace("\n", " ")))
                    self.sections.append(Section(text, None, self._heading_path(), "heading"))
                elif text:
                    label = self.label if kind != "paragraph" else ""
                    self.sections.append(Section(text, None, fixed_path or self._heading_path(), kind, label))
            for box in boxes:
                outer = self.label
                self.label = "text box" if not outer else f"{outer}, text box"
                self.walk(box, kind="textbox", fixed_path=fixed_path)
                self.label = outer

    def _nearby_title(self) -> str:
        """A short paragraph just before a table names it ("Siobhan" above her figures)."""
        for section in reversed(self.sections[-3:]):
            if section.kind in ("paragraph", "heading") and len(section.text) <= 60 and "\n" not in section.text:
                return section.text
        return ""

    def table_section(self, tbl: etree._Element, boxes: list[etree._Element]) -> tuple[str, str]:
        """(text, caption) of a table: one self-describing row per line ("Label: value | ...")
        when the table has a header row, else cells joined by " | "."""
        grid: list[list[Cell]] = []
        tbl_header = 0
        for r, tr in enumerate(self._children(tbl, W_TR)):
            trpr = tr.find(_w("trPr"))
            if trpr is not None and trpr.find(_w("tblHeader")) is not None and r == tbl_header:
                tbl_header += 1
            cells: list[tuple[int, int, list[str], bool]] = []
            col = 0
            for tc in self._children(tr, W_TC):
                tcpr = tc.find(_w("tcPr"))
                span = 1
                continued = False
                if tcpr is not None:
                    gs = tcpr.find(_w("gridSpan"))
                    if gs is not None and (gs.get(W_VAL) or "").isdigit():
                        span = max(1, min(64, int(gs.get(W_VAL) or "1")))
                    vm = tcpr.find(_w("vMerge"))
                    continued = vm is not None and vm.get(W_VAL) != "restart"
                paras = [] if continued else list(self._cell_paragraphs(tc, boxes))
                cells.append((col, col + span - 1, paras, _all_bold(tc)))
                col += span
            grid.extend(_expand_stacked(cells))
        grid = [row for row in grid if any(c.text for c in row)]
        if not grid:
            return "", ""
        ncols = max(c.col1 for row in grid for c in row) + 1
        table = Table([(float(i), float(i + 1)) for i in range(ncols)], grid, ruled=True)
        nh = tbl_header or _header_rows(grid, [], (), True)
        if nh and len(grid) > nh:
            table.header, table.rows = grid[:nh], grid[nh:]
            caption, rows = render_table(table)
            return normalize_text("\n".join(rows)), caption
        rows = [" | ".join(c.text for c in row) for row in grid]
        return normalize_text("\n".join(r for r in rows if r.replace("|", "").strip())), ""

    def _cell_paragraphs(self, tc: etree._Element, boxes: list[etree._Element]) -> Iterator[str]:
        """Each paragraph of a cell (empty ones too: stacked cells are zipped by position);
        a nested table is one line, its rows joined by " ; "."""
        for block in self._blocks(tc):
            if block.tag == W_TBL:
                nested = self.table_text(block, boxes)
                yield nested.replace("\n", " ; ")
            else:
                for line in self.inline_text(block, boxes).split("\n"):  # w:br breaks lines too
                    yield " ".join(line.split())

    def table_text(self, tbl: etree._Element, boxes: list[etree._Element]) -> str:
        rows: list[str] = []
        for tr in self._children(tbl, W_TR):
            cells = []
            for tc in self._children(tr, W_TC):
                cells.append(" ".join(self._cell_lines(tc, boxes)))
            row = " | ".join(c.strip() for c in cells)
            if row.replace("|", "").strip():
                rows.append(row)
        return "\n".join(rows)

    def _cell_lines(self, tc: etree._Element, boxes: list[etree._Element]) -> Iterator[str]:
        for block in self._blocks(tc):
            if block.tag == W_TBL:
                nested = self.table_text(block, boxes)
                if nested:
                    yield nested.replace("\n", " ; ")
            else:
                text = self.inline_text(block, boxes).strip()
                if text:
                    yield text.replace("\n", " ")

    def _children(self, el: etree._Element, tag: str) -> Iterator[etree._Element]:
        for child in el:
            if child.tag == tag:
                yield child
            elif child.tag in _WRAPPERS:
                yield from self._children(child, tag)


def _all_bold(tc: etree._Element) -> bool:
    """Every run with text in the cell is bold (direct formatting)."""
    runs = [r for r in tc.iter(_w("r")) if any((t.text or "").strip() for t in r.iter(W_T))]
    if not runs:
        return False
    for r in runs:
        b = r.find(f"{_w('rPr')}/{_w('b')}")
        if b is None or b.get(W_VAL) in ("0", "false"):
            return False
    return True


def _rstrip_empty(paras: list[str]) -> list[str]:
    end = len(paras)
    while end > 0 and not paras[end - 1]:
        end -= 1
    return paras[:end]


def _expand_stacked(cells: list[tuple[int, int, list[str], bool]]) -> list[list[Cell]]:
    """One table row, or several when its cells hold one value per paragraph side by side
    (a column of labels beside columns of figures): those are zipped into rows."""
    cells = [(c0, c1, _rstrip_empty(p), bold) for c0, c1, p, bold in cells]
    multi = [p for _, _, p, _ in cells if len(p) > 1]
    n = len(multi[0]) if multi else 0
    if len(multi) >= 2 and all(len(p) == n for p in multi):
        rows: list[list[Cell]] = []
        for i in range(n):
            row = []
            for c0, c1, paras, bold in cells:
                text = paras[i] if len(paras) == n else (" ".join(paras) if i == 0 else "")
                row.append(Cell(text.strip(), c0, c1, bold, is_numeric(text)))
            rows.append(row)
        return rows
    return [
        [
            Cell(" ".join(t for t in paras if t).strip(), c0, c1, bold, is_numeric(" ".join(paras)))
            for c0, c1, paras, bold in cells
        ]
    ]


def _heading_levels(styles_root: etree._Element | None) -> dict[str, int]:
    """Map paragraph style id -> heading level (1-based), following ``w:basedOn``."""
    if styles_root is None:
        return {}
    direct: dict[str, int | None] = {}
    based_on: dict[str, str] = {}
    for style in styles_root.iter(_w("style")):
        if style.get(_w("type")) != "paragraph":
            continue
        sid = style.get(_w("styleId")) or ""
        name_el = style.find(_w("name"))
        name = (name_el.get(W_VAL) if name_el is not None else "") or ""
        level: int | None = None
        m = _HEADING_NAME.match(name.strip())
        if m:
            level = int(m.group(1))
        else:
            outline = style.find(f"{W_PPR}/{W_OUTLINE}")
            raw = (outline.get(W_VAL) or "") if outline is not None else ""
            if raw.isdigit() and int(raw) < 9:
                level = int(raw) + 1
        direct[sid] = level
        parent = style.find(_w("basedOn"))
        if parent is not None and parent.get(W_VAL):
            based_on[sid] = parent.get(W_VAL) or ""
    levels: dict[str, int] = {}
    for sid in direct:
        cur: str | None = sid
        seen: set[str] = set()
        while cur is not None and cur not in seen:
            seen.add(cur)
            if direct.get(cur) is not None:
                levels[sid] = direct[cur]  # type: ignore[assignment]
                break
            cur = based_on.get(cur)
    return levels


def _part_root(part: object) -> etree._Element | None:
    element = getattr(part, "_element", None)
    if element is not None:
        return element
    blob = getattr(part, "blob", None)
    if not blob:
        return None
    return etree.fromstring(blob, _SAFE_PARSER)


_HDR_LABEL = {"first": "first-page", "even": "even-page", "default": ""}


def extract_docx(
    data: bytes, *, zip_limits: ZipLimits, deadline: float | None, time_budget_s: float | None
) -> ExtractedDocument:
    """Extract a DOCX into sections (page is always ``None``: DOCX has no fixed pages)."""
    check_zip_safety(data, zip_limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # PackageNotFoundError, KeyError (missing part), XMLSyntaxError, ...
        reason = f"{type(exc).__name__}: {exc}"
        raise CorruptDocument("the Word file cannot be opened", detail=reason) from None

    main = document.part
    warnings: list[str] = []
    styles_root = None
    for rel in main.rels.values():
        if not rel.is_external and rel.reltype == RT.STYLES:
            styles_root = _part_root(rel.target_part)
    walker = _Walker(_heading_levels(styles_root), deadline, time_budget_s)
    body = document.element.find(_w("body"))
    if body is not None:
        walker.walk(body)

    # Footnotes / endnotes, numbered in the order they are referenced from the body.
    for reltype, note_tag, ref_tag, label in (
        (RT.FOOTNOTES, "footnote", "footnoteReference", "footnote"),
        (RT.ENDNOTES, "endnote", "endnoteReference", "endnote"),
    ):
        root = None
        for rel in main.rels.values():
            if not rel.is_external and rel.reltype == reltype:
                root = _part_root(rel.target_part)
        if root is None:
            continue
        order = {ref.get(_w("id")): n for n, ref in enumerate(document.element.iter(_w(ref_tag)), start=1)}
        notes = [n for n in root.iter(_w(note_tag)) if n.get(_w("type")) in (None, "normal")]
        notes.sort(key=lambda n: order.get(n.get(_w("id")), 10**9))
        for n, note in enumerate(notes, start=1):
            walker.label = f"{label} {n}"
            walker.walk(note, kind=label, fixed_path=(f"{label} {n}",))
            walker.label = ""

    # Headers and footers, as referenced by the section properties.
    seen_parts: set[str] = set()
    seen_texts: set[tuple[str, str]] = set()
    for sect in document.element.iter(W_SECTPR):
        for ref_tag, what in ((_w("headerReference"), "header"), (_w("footerReference"), "footer")):
            for ref in sect.findall(ref_tag):
                rid = ref.get(f"{{{R}}}id")
                if not rid or rid not in main.rels:
                    continue
                part = main.rels[rid].target_part
                if str(part.partname) in seen_parts:
                    continue
                seen_parts.add(str(part.partname))
                prefix = _HDR_LABEL.get(ref.get(_w("type")) or "default", "")
                label = f"{prefix} {what}".strip()
                root = _part_root(part)
                if root is None:
                    continue
                before = len(walker.sections)
                walker.label = label
                walker.walk(root, kind=what, fixed_path=(label,))
                walker.label = ""
                # Identical header text in several sections is indexed once.
                added = walker.sections[before:]
                del walker.sections[before:]
                for s in added:
                    if (label, s.text) not in seen_texts:
                        seen_texts.add((label, s.text))
                        walker.sections.append(s)

    if not walker.sections:
        raise EmptyFile("the document contains no text")
    title = (document.core_properties.title or "").strip() or None
    if title is None:
        title = next((s.text for s in walker.sections if s.kind == "heading"), None)
    return ExtractedDocument(kind="docx", sections=walker.sections, page_count=None, title=title, warnings=warnings)
