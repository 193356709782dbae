"""Reading order and structure of one PDF page, computed from character boxes.

Pure geometry (numpy + Python, no PDFium): ``pdf_page.py`` reads the characters, ruling lines and
fonts; ``pdf.py`` runs the document-level passes (running headers/footers, table headers carried
across pages, de-hyphenation) and renders the text.

Coordinates are display coordinates in PDF points: x grows to the right, y grows downwards, the
page's /Rotate is already applied.

Per page:
1. ``build_words``: glyphs in PDFium order are split into words at whitespace, line changes,
   gaps and font-size changes. A short word that is smaller and raised right after (or before) a
   normal word is a superscript (footnote marker, exponent) and becomes ``^N`` glued to its host
   word, so "1,234" + superscript "1" reads "1,234^1", never "1,2341".
2. ``build_segments``: words on one baseline, split into segments at wide gaps, at gaps between
   words that are not neighbours in the content stream (two columns whose lines share a
   baseline), and at vertical ruling lines.
3. ``layout_page``: ruled grids (lattices) become tables, or layout boxes when their cells hold
   multi-column text (a boxed precinct printout); the rest is cut recursively at vertical gutters
   into columns when the text on both sides reads as prose, and at full-width elements
   (titles) into bands. A leaf region is one column read top to bottom: runs of multi-cell
   rows become tables, the other lines become paragraphs (split at vertical gaps, indents,
   bullets and size changes), short larger or bold ones headings, small ones below the text
   with a leading marker footnotes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Word:
    x0: float
    x1: float
    top: float
    bottom: float
    text: str
    size: float  # loose glyph box height, about the font size
    index: int  # position in the content stream (word order)
    char: int  # index of the first character (font queries)
    hyphen: bool = False  # ends with PDFium's end-of-line hyphen marker
    sup: bool = False
    glued: bool = False  # follows the previous word with no space between ("km^2" + ")")
    end: int = -1  # stream position of the last word merged into this one (a superscript)

    def __post_init__(self) -> None:
        if self.end < 0:
            self.end = self.index


@dataclass(slots=True)
class Seg:
    """Words on one baseline without a wide gap: a line of a column, or a table cell."""

    words: list[Word]
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    row: int = 0  # index of the baseline cluster on the page
    text: str = ""  # the words joined by spaces (set once: words do not change afterwards)

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(slots=True)
class Line:
    """Segments of one baseline inside one region, left to right."""

    segs: list[Seg]
    x0: float
    x1: float
    top: float
    bottom: float
    size: float

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segs)


@dataclass(slots=True)
class Rule:
    """A ruling line: horizontal (``y0 == y1`` within tolerance) or vertical."""

    x0: float
    top: float
    x1: float
    bottom: float

    @property
    def horizontal(self) -> bool:
        return (self.x1 - self.x0) >= (self.bottom - self.top)


@dataclass(slots=True)
class Block:
    """A paragraph-like run of lines. ``kind``: paragraph, heading, footnote, caption."""

    kind: str
    lines: list[Line]
    size: float
    bold: bool = False  # a short block set in bold where the body is not
    short: bool = False  # up to three lines, at most 160 characters, with letters (heading-sized)
    pt: float = 0.0  # font size in points of a short block (heading candidates)

    @property
    def top(self) -> float:
        return self.lines[0].top


@dataclass(slots=True)
class Cell:
    text: str
    col0: int  # first and last column index covered
    col1: int
    bold: bool = False
    numeric: bool = False


@dataclass(slots=True)
class Table:
    """Rows of cells on a column grid; ``header`` holds the rows that label the columns."""

    columns: list[tuple[float, float]]
    rows: list[list[Cell]]
    header: list[list[Cell]] = field(default_factory=list)
    caption: str = ""
    x0: float = 0.0
    x1: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    ruled: bool = False


PageItem = Block | Table

# Bounds on the work per page (pathological but valid PDFs must not stall a worker).
MAX_RULE_PAIRS = 400_000
MAX_LAYOUT_SEGMENTS = 6000


@dataclass(slots=True)
class PageLayout:
    items: list[PageItem]
    edge_top: list[Line]  # set aside: running header candidates (decided per document)
    edge_bottom: list[Line]
    body_size: float
    body_pt: float = 0.0  # body font size in points
    bottom_blocks: list[PageItem] = field(default_factory=list)  # edge_bottom as page text
    top_blocks: list[Block] = field(default_factory=list)  # one per edge_top line


class Fonts(Protocol):
    def bold(self, index: int) -> bool: ...
    def size(self, index: int) -> float: ...


class FontQuery:
    """Font lookups by character index for one page, plus two page facts: whether bold is the
    body style (then bold says nothing about headings) and the body font size in points."""

    def __init__(self, fonts: Fonts, bold_body: bool = False, body_pt: float = 0.0) -> None:
        self.fonts = fonts
        self.bold_body = bold_body
        self.body_pt = body_pt

    def __call__(self, index: int) -> bool:
        return self.fonts.bold(index)

    def size(self, index: int) -> float:
        return self.fonts.size(index)


# --------------------------------------------------------------------------------------------
# 1. words
# --------------------------------------------------------------------------------------------

_WS = np.array([9, 10, 13, 32, 0xA0, 0x2002, 0x2003, 0x2009, 0x200A, 0x200B, 0x3000], dtype=np.uint32)


def build_words(
    text: str,
    x0: np.ndarray,
    top: np.ndarray,
    x1: np.ndarray,
    bottom: np.ndarray,
    raised: Callable[[int, int], bool] | None = None,
) -> list[Word]:
    """Words from PDFium's characters (one entry per character index, display coordinates).

    ``text`` holds exactly one character per index. Characters without a box (generated
    spaces and line breaks) and whitespace only separate words.
    """
    n = len(text)
    if n == 0:
        return []
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    width = x1 - x0
    height = bottom - top
    is_ws = np.isin(codes, _WS)
    marker = (codes == 2) | (codes == 0xFFFE)  # PDFium: a hyphen that ended a line
    glyph = ~is_ws & ~marker & ((width > 0) | (height > 0))
    g = np.nonzero(glyph)[0]
    if len(g) == 0:
        return []
    sep = np.cumsum(is_ws | marker)
    gx0, gx1, gt, gb = x0[g], x1[g], top[g], bottom[g]
    gh = np.maximum(gb - gt, 0.01)
    brk = np.zeros(len(g), dtype=bool)
    brk[0] = True
    if len(g) > 1:
        ha, hb = gh[:-1], gh[1:]
        hmax = np.maximum(ha, hb)
        overlap = np.minimum(gb[:-1], gb[1:]) - np.maximum(gt[:-1], gt[1:])
        gap = gx0[1:] - gx1[:-1]
        brk[1:] = (
            (sep[g[1:]] != sep[g[:-1]])
            | (overlap < 0.5 * np.minimum(ha, hb))
            | (gap > 0.25 * hmax)
            | (gx0[1:] < gx0[:-1] - 0.3 * hmax)  # moved back (a ligature's parts share one box)
            # a size change on another baseline (superscript); small caps share the baseline
            | (((hb < 0.8 * ha) | (hb > 1.25 * ha)) & (np.abs(gb[1:] - gb[:-1]) > 0.15 * hmax))
        )
    # Rotated text (margin stamps, printer's slugs set vertically): glyphs stacked one below
    # the other with nothing between them. Dropped: it is not part of the reading flow.
    vertical = np.zeros(len(g), dtype=bool)
    if len(g) > 1:
        gw = np.maximum(gx1 - gx0, 0.01)
        wmin = np.minimum(gw[:-1], gw[1:])
        stacked = (
            (sep[g[1:]] == sep[g[:-1]])
            & (np.abs(gx0[1:] - gx0[:-1]) < 0.3 * wmin)  # both edges aligned: one column of glyphs
            & (np.abs(gx1[1:] - gx1[:-1]) < 0.3 * wmin)
            & (np.abs(gt[1:] - gt[:-1]) > 0.5 * np.minimum(ha, hb))
            & (np.abs(gt[1:] - gt[:-1]) < 2.0 * hmax)
        )
        vertical[1:] |= stacked
        vertical[:-1] |= stacked
    starts = np.nonzero(brk)[0]
    wx0 = np.minimum.reduceat(gx0, starts)
    wx1 = np.maximum.reduceat(gx1, starts)
    wt = np.minimum.reduceat(gt, starts)
    wb = np.maximum.reduceat(gb, starts)
    wh = np.maximum.reduceat(gh, starts)
    wvert = np.logical_and.reduceat(vertical, starts)
    ends = np.append(starts[1:], len(g))
    first_char = g[starts]
    last_char = g[ends - 1]
    words: list[Word] = []
    lx0, lx1, lt, lb, lh = wx0.tolist(), wx1.tolist(), wt.tolist(), wb.tolist(), wh.tolist()
    fc, lc = first_char.tolist(), last_char.tolist()
    vert = wvert.tolist()
    # a word split off only by a size change (no whitespace, touching) is glued to the previous one
    glued_at = np.zeros(len(g), dtype=bool)
    if len(g) > 1:
        # (PDFium may put a generated line break between a superscript and what follows it;
        # only a real space separates words here)
        spaces = np.cumsum((codes == 32) | (codes == 9) | (codes == 0xA0))
        glued_at[1:] = (spaces[g[1:]] == spaces[g[:-1]]) & (gap < 0.15 * hmax) & (gap > -0.3 * hmax) & (overlap > 0)
    wglued = glued_at[starts].tolist()
    for k in range(len(starts)):
        if vert[k]:
            continue
        a, b = fc[k], lc[k]
        s = text[a : b + 1]
        if b - a + 1 != ends[k] - starts[k]:  # characters without a box inside the word
            s = "".join(ch for ch in s if not ch.isspace() and ch not in "\x02\ufffe")
        hyphen = b + 1 < n and text[b + 1] in "\x02\ufffe"
        if hyphen:
            s += "-"
        words.append(Word(lx0[k], lx1[k], lt[k], lb[k], s, lh[k], k, a, hyphen, False, wglued[k]))
    _mark_superscripts(words, raised)
    return [w for w in words if w.text]


def _mark_superscripts(words: list[Word], raised: Callable[[int, int], bool] | None) -> None:
    """Glue superscripts to their host word as ``^N`` (the superscript word is emptied).

    Boxes propose candidates (smaller, raised, touching a word); ``raised`` confirms them from
    the font size and the baseline, since a maths font's boxes can look small and high too.
    """
    for i, w in enumerate(words):
        if len(w.text) > 4:
            continue
        for j in (i - 1, i + 1):
            if not 0 <= j < len(words):
                continue
            h = words[j]
            if h.sup or not h.text or w.size >= 0.85 * h.size:
                continue
            if w.bottom > h.bottom - 0.15 * h.size or w.bottom < h.top:  # not raised, or above the line
                continue
            gap = w.x0 - h.x1 if j < i else h.x0 - w.x1
            if not -0.3 * h.size <= gap <= 0.6 * h.size:
                continue
            if raised is not None and not raised(w.char, h.char):
                continue
            w.sup = True
            if j < i:
                h.text = f"{h.text}^{w.text}"
                h.x1 = max(h.x1, w.x1)
                h.end = w.index
                w.text = ""
            else:
                w.text = f"^{w.text}"
                w.top, w.bottom, w.size = h.top, h.bottom, h.size  # ride on the host's line
            break


# --------------------------------------------------------------------------------------------
# 2. rows and segments
# --------------------------------------------------------------------------------------------


def build_segments(words: list[Word], rules: Sequence[Rule]) -> list[Seg]:
    """Cluster words by baseline, then split each row into segments."""
    if not words:
        return []
    order = sorted(words, key=lambda w: w.bottom)
    rows: list[list[Word]] = []
    base = -1e9
    size = 1.0
    for w in order:
        if rows and w.bottom - base <= 0.3 * min(size, w.size):
            rows[-1].append(w)
        else:
            rows.append([w])
            base, size = w.bottom, w.size
    vrules = [r for r in rules if not r.horizontal]
    segs: list[Seg] = []
    for r, row in enumerate(rows):
        row.sort(key=lambda w: w.x0)
        cur: list[Word] = [row[0]]
        for prev, w in itertools.pairwise(row):
            gap = w.x0 - prev.x1
            small, large = sorted((prev.size, w.size))
            em = small if large > 1.3 * small else large  # a heading beside body text
            split = gap > 1.0 * em or (gap > 0.4 * em and (w.index != prev.end + 1 or large > 1.3 * small))
            if not split and vrules and gap > -0.5:
                mid_top, mid_bottom = min(prev.top, w.top), max(prev.bottom, w.bottom)
                split = any(
                    prev.x1 - 1 <= v.x0 <= w.x0 + 1 and v.top <= mid_bottom and v.bottom >= mid_top for v in vrules
                )
            if split:
                segs.append(_seg(cur, r))
                cur = [w]
            else:
                cur.append(w)
        segs.append(_seg(cur, r))
    return segs


def _seg(words: list[Word], row: int) -> Seg:
    x0 = words[0].x0
    x1 = words[0].x1
    top, bottom = words[0].top, words[0].bottom
    for w in words:
        if w.x0 < x0:
            x0 = w.x0
        if w.x1 > x1:
            x1 = w.x1
        if w.top < top:
            top = w.top
        if w.bottom > bottom:
            bottom = w.bottom
    if len(words) == 1:
        size = words[0].size
    else:
        sizes = sorted(w.size for w in words)
        size = sizes[len(sizes) // 2]
    parts = [words[0].text]
    for prev, w in itertools.pairwise(words):
        if not (w.glued and w.index == prev.end + 1):
            parts.append(" ")
        parts.append(w.text)
    return Seg(words, x0, x1, top, bottom, size, row, "".join(parts))


def lines_of(segs: Sequence[Seg]) -> list[Line]:
    """Group segments of one region into lines (same page row), top to bottom."""
    by_row: dict[int, list[Seg]] = {}
    for s in segs:
        by_row.setdefault(s.row, []).append(s)
    lines = []
    for row in by_row.values():
        row.sort(key=lambda s: s.x0)
        sizes = sorted(s.size for s in row)
        lines.append(
            Line(
                row,
                row[0].x0,
                max(s.x1 for s in row),
                min(s.top for s in row),
                max(s.bottom for s in row),
                sizes[len(sizes) // 2],
            )
        )
    lines.sort(key=lambda ln: (ln.bottom, ln.x0))
    return _merge_overlapping_lines(lines)


def _merge_overlapping_lines(lines: list[Line]) -> list[Line]:
    """Rows split by a slightly different baseline (a raised word) but overlapping mostly."""
    out: list[Line] = []
    for ln in lines:
        if out:
            prev = out[-1]
            overlap = min(prev.bottom, ln.bottom) - max(prev.top, ln.top)
            disjoint = all(s.x0 >= p.x1 - 0.5 or s.x1 <= p.x0 + 0.5 for s in ln.segs for p in prev.segs)
            if overlap > 0.7 * min(prev.bottom - prev.top, ln.bottom - ln.top) and disjoint:
                segs = sorted(prev.segs + ln.segs, key=lambda s: s.x0)
                out[-1] = Line(
                    segs,
                    segs[0].x0,
                    max(s.x1 for s in segs),
                    min(prev.top, ln.top),
                    max(prev.bottom, ln.bottom),
                    max(prev.size, ln.size),
                )
                continue
        out.append(ln)
    return out


# --------------------------------------------------------------------------------------------
# 3. regions
# --------------------------------------------------------------------------------------------

_NUMERIC = re.compile(r"^[-+(]?[$€£%#*]?\s?[\d.,:/\-\u2013%]+\)?%?(\^\S+)?$")
_BULLET = re.compile(r"^(?:[•◦▪▸►\-\u2013\u2014*]|\(?\d{1,2}[.)]|\(?[a-z][.)]|[IVX]{1,4}\.)(?:\s|$)")
_MARKER_START = re.compile(r"^(?:\^\S+|\d{1,3}|[*†‡§¶]+)(?:\s|$)")


_LEADERS = re.compile(r"\s*(?:\.\s?){3,}\s*")


def cell_text(text: str) -> str:
    """A cell's text without dot leaders ("$85 ......" -> "$85")."""
    return _LEADERS.sub(" ", text).strip() if "..." in text or ". . ." in text else text.strip()


def is_numeric(text: str) -> bool:
    return bool(_NUMERIC.match(text.strip())) and any(ch.isdigit() for ch in text)


def _prose(segs: Sequence[Seg]) -> bool:
    """Does this side of a gutter read as running text (not a column of values)?"""
    total = 0
    wordy = 0
    long_segs = 0
    for s in segs:
        n = len(s.text)
        total += n
        if len(s.words) >= 4:
            wordy += n
            long_segs += 1
    return total > 0 and wordy >= 0.6 * total and long_segs >= 2


def _rows_of(segs: Sequence[Seg]) -> int:
    return len({s.row for s in segs})


def _find_column_cut(
    segs: list[Seg], em: float, hs: Sequence[Rule] = ()
) -> tuple[list[Seg], list[Seg], list[Seg]] | None:
    """A vertical gutter with prose on both sides: (left, right, spanners) or None.

    Spanners are segments that cross the gutter (a title over both columns); they must form
    clean horizontal bands (nothing beside them), so the page can be cut above and below them.
    """
    if len(segs) < 4:
        return None
    lo = min(s.x0 for s in segs)
    hi = max(s.x1 for s in segs)
    n = int(hi - lo) + 2
    if n < 4:
        return None
    xs0 = np.array([s.x0 for s in segs])
    xs1 = np.array([s.x1 for s in segs])
    heights = np.array([s.bottom - s.top for s in segs])
    # coverage of each 1pt column by text height (a difference array, summed up)
    diff = np.zeros(n + 1)
    np.add.at(diff, (xs0 - lo).astype(int), heights)
    np.add.at(diff, (xs1 - lo).astype(int) + 1, -heights)
    cov = np.cumsum(diff)[:n]
    total = float(heights.sum())
    min_width = max(0.6 * em, 3.0)
    rows_of = np.array([s.row for s in segs])
    small = np.array([s.size < 0.9 * em for s in segs])
    _, row_idx = np.unique(rows_of, return_inverse=True)
    n_rows = int(row_idx.max()) + 1
    # Candidate gutters: low-coverage runs at several levels (an empty gutter between three
    # columns; one that a title or a full-width abstract crosses, that text being "spanners").
    runs: list[tuple[int, int, float]] = []
    for level in (0.02, 0.1, 0.25, 0.5):
        for i, j in _runs(cov <= level * total):
            if i == 0 or j >= n - 1:
                continue  # the page margins are not gutters
            if not any(i == a and j == b for a, b, _ in runs):
                runs.append((i, j, float(cov[i:j].min())))
    runs.sort(key=lambda r: r[2])
    for i, j, _low in runs[:12]:
        # Within the run, the cut position that leaves the widest gutter between the text on
        # either side once the rows crossing it are set aside as spanners.
        pos = lo + np.arange(i, j) + 0.5
        cross = (xs0[None, :] < pos[:, None]) & (xs1[None, :] > pos[:, None])
        # a line of small print crossing the gutter crosses it as a whole (a printer's slug
        # in pieces); other rows may hold lines of several columns on one baseline
        row_cross = np.zeros((len(pos), n_rows), dtype=bool)
        for k in range(len(pos)):
            row_cross[k, row_idx[cross[k] & small]] = True
        spanning = cross | row_cross[:, row_idx]
        lefts = np.where(~spanning & (xs1[None, :] <= pos[:, None]), xs1[None, :], -np.inf).max(axis=1)
        rights = np.where(~spanning & (xs0[None, :] >= pos[:, None]), xs0[None, :], np.inf).min(axis=1)
        width = rights - lefts
        ok = np.isfinite(width) & (width >= min_width)
        if not ok.any():
            continue
        # the fewest spanners, then the widest gutter
        score = np.where(ok, -spanning.sum(axis=1) * 1000.0 + np.minimum(width, 999.0), -np.inf)
        k = int(np.argmax(score))
        x = float(pos[k])
        span = [s for s, sp in zip(segs, spanning[k].tolist(), strict=True) if sp]
        span_ids = {id(s) for s in span}
        left = [s for s in segs if s.x1 <= x and id(s) not in span_ids]
        right = [s for s in segs if s.x0 >= x and id(s) not in span_ids]
        if span and not _clean_bands(span, left + right):
            continue
        if not (_prose(left) and _prose(right)) and not _boxed_apart(left, right, hs, em):
            continue
        return left, right, span
    return None


def _boxed_apart(left: list[Seg], right: list[Seg], hs: Sequence[Rule], em: float) -> bool:
    """Two side-by-side ruled boxes (tables printed next to each other): rules end before the
    gutter on the left and start after it on the right, and none crosses it."""
    if not hs:
        return False
    a = max(s.x1 for s in left)
    b = min(s.x0 for s in right)
    top = min(min(s.top for s in left), min(s.top for s in right))
    bottom = max(max(s.bottom for s in left), max(s.bottom for s in right))
    inside = [h for h in hs if top - em <= h.top <= bottom + em]
    lefts = sum(1 for h in inside if a - 2 * em <= h.x1 <= b and h.x0 < a - 2 * em)
    rights = sum(1 for h in inside if a <= h.x0 <= b + 2 * em and h.x1 > b + 2 * em)
    crossing = sum(1 for h in inside if h.x0 < a and h.x1 > b)
    return lefts >= 2 and rights >= 2 and crossing < min(lefts, rights)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True values."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _clean_bands(span: list[Seg], others: list[Seg]) -> bool:
    """No other text sits beside a spanner (vertically overlapping it)."""
    if not span or not others:
        return True
    tops = np.array([o.top for o in others])
    bottoms = np.array([o.bottom for o in others])
    return not any(bool(np.any((tops < s.bottom - 0.5) & (bottoms > s.top + 0.5))) for s in span)


def _bands(segs: list[Seg], span: list[Seg]) -> list[tuple[bool, list[Seg]]]:
    """Cut ``segs`` into horizontal bands at the spanning segments, top to bottom."""
    runs: list[list[float]] = []
    for s in sorted(span, key=lambda s: s.top):
        if runs and s.top <= runs[-1][1] + 0.5:
            runs[-1][1] = max(runs[-1][1], s.bottom)
        else:
            runs.append([s.top, s.bottom])
    spanning = {id(s) for s in span}
    bands: list[tuple[bool, list[Seg]]] = []
    rest = sorted((s for s in segs if id(s) not in spanning), key=lambda s: s.top)
    k = 0
    for top, bottom in runs:
        above = []
        while k < len(rest) and rest[k].bottom <= top + 0.5:
            above.append(rest[k])
            k += 1
        if above:
            bands.append((False, above))
        bands.append((True, [s for s in span if s.top >= top - 0.5 and s.bottom <= bottom + 0.5]))
    if k < len(rest):
        bands.append((False, rest[k:]))
    return bands


def split_columns(segs: list[Seg], em: float, depth: int = 0, hs: Sequence[Rule] = ()) -> list[list[Seg]]:
    """Recursive column cuts; returns leaf regions in reading order."""
    if depth > 12 or len(segs) > MAX_LAYOUT_SEGMENTS:
        return [segs]  # (a page of many thousand text runs is read row by row: bounded time)
    cut = _find_column_cut(segs, em, hs)
    if cut is None:
        return [segs]
    left, right, span = cut
    if not span:
        return split_columns(left, em, depth + 1, hs) + split_columns(right, em, depth + 1, hs)
    out: list[list[Seg]] = []
    for spanning, band in _bands(segs, span):
        if spanning:
            out.append(band)
        else:
            out.extend(split_columns(band, em, depth + 1, hs))
    return out


# --------------------------------------------------------------------------------------------
# lattices (ruled grids)
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Lattice:
    hs: list[Rule]
    vs: list[Rule]
    x0: float
    top: float
    x1: float
    bottom: float


def merge_rules(rules: Sequence[Rule]) -> list[Rule]:
    """Join collinear touching pieces (table borders are often drawn cell by cell)."""
    hs = sorted((r for r in rules if r.horizontal), key=lambda r: (round(r.top), r.x0))
    vs = sorted((r for r in rules if not r.horizontal), key=lambda r: (round(r.x0), r.top))
    out: list[Rule] = []
    for group, horizontal in ((hs, True), (vs, False)):
        cur: Rule | None = None
        for r in group:
            if cur is not None:
                if horizontal and abs(r.top - cur.top) <= 1.5 and r.x0 <= cur.x1 + 2:
                    cur.x1 = max(cur.x1, r.x1)
                    continue
                if not horizontal and abs(r.x0 - cur.x0) <= 1.5 and r.top <= cur.bottom + 2:
                    cur.bottom = max(cur.bottom, r.bottom)
                    continue
                out.append(cur)
            cur = Rule(r.x0, r.top, r.x1, r.bottom)
        if cur is not None:
            out.append(cur)
    return out


def find_lattices(rules: Sequence[Rule]) -> list[Lattice]:
    hs = [r for r in rules if r.horizontal]
    vs = [r for r in rules if not r.horizontal]
    if len(hs) < 2 or len(vs) < 2 or len(hs) * len(vs) > MAX_RULE_PAIRS:
        return []  # (a drawing of thousands of strokes is not a table grid worth the time)
    parent = list(range(len(hs) + len(vs)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    tol = 2.0
    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            if h.x0 - tol <= v.x0 <= h.x1 + tol and v.top - tol <= h.top <= v.bottom + tol:
                parent[find(i)] = find(len(hs) + j)
    groups: dict[int, tuple[list[Rule], list[Rule]]] = {}
    for i, h in enumerate(hs):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        groups.setdefault(find(len(hs) + j), ([], []))[1].append(v)
    out = []
    for ghs, gvs in groups.values():
        if len(ghs) >= 2 and len(gvs) >= 2:
            x0 = min(min(r.x0 for r in ghs), min(r.x0 for r in gvs))
            x1 = max(max(r.x1 for r in ghs), max(r.x1 for r in gvs))
            top = min(min(r.top for r in ghs), min(r.top for r in gvs))
            bottom = max(max(r.bottom for r in ghs), max(r.bottom for r in gvs))
            if x1 - x0 > 20 and bottom - top > 8:
                out.append(Lattice(ghs, gvs, x0, top, x1, bottom))
    return out


def _inside(s: Seg, x0: float, top: float, x1: float, bottom: float) -> bool:
    cx = (s.x0 + s.x1) / 2
    return x0 - 1 <= cx <= x1 + 1 and top - 1 <= s.cy <= bottom + 1


def _cluster(values: list[float], tol: float) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if out and v - out[-1] <= tol:
            continue
        out.append(v)
    return out


def lattice_items(lat: Lattice, segs: list[Seg], em: float, font: FontQuery) -> list[PageItem] | None:
    """Items for the text inside a ruled grid, or None when it is not a table.

    A grid whose cells hold several columns of text on one line (a boxed printout) is a layout
    of boxes: each box is laid out on its own. Otherwise text rows become table rows and the
    vertical rules that cross a row give its cell boundaries (merged cells span columns).
    """
    # the grid's outer edges count as column lines even when only the rules across draw them
    xs = _cluster([v.x0 for v in lat.vs] + [lat.x0, lat.x1], 2.0)
    if len(xs) < 2:
        return None
    lines = lines_of(segs)
    extra = _unruled_splits(xs, segs)
    if extra:
        xs = sorted(xs + extra)
        lat = Lattice(
            lat.hs, lat.vs + [Rule(x, lat.top, x, lat.bottom) for x in extra], lat.x0, lat.top, lat.x1, lat.bottom
        )
    multi = 0
    filled = 0
    for ln in lines:
        bounds = _row_bounds(lat, xs, ln)
        cells: dict[int, int] = {}
        for s in ln.segs:
            c = _cell_index(bounds, (s.x0 + s.x1) / 2)
            cells[c] = cells.get(c, 0) + 1
        filled += len(cells)
        multi += sum(1 for v in cells.values() if v > 1)
    if filled and multi > 0.3 * filled:
        return _boxes(lat, xs, segs, em, font)
    columns = list(itertools.pairwise(xs))
    rows: list[list[Cell]] = []
    row_lines: list[Line] = []
    for ln in lines:
        bounds = _row_bounds(lat, xs, ln)
        by_cell: dict[int, list[Seg]] = {}
        for s in ln.segs:
            by_cell.setdefault(_cell_index(bounds, (s.x0 + s.x1) / 2), []).append(s)
        row = []
        for c, cell_segs in sorted(by_cell.items()):
            if c < 0 or c >= len(bounds) - 1:
                continue
            a = _col_of(xs, bounds[c])
            b = _col_of(xs, bounds[c + 1]) - 1
            text = cell_text(" ".join(s.text for s in cell_segs))
            row.append(Cell(text, a, max(a, b), _bold(cell_segs, font), is_numeric(text)))
        if row:
            rows.append(row)
            row_lines.append(ln)
    if len(rows) < 2 or len(columns) < 2:
        return None
    rows, row_lines = _join_wrapped_rows(rows, row_lines, lat.hs)
    texts = [c.text for r in rows for c in r if c.text]
    if texts and sum(len(t) for t in texts) / len(texts) > 50:
        return _boxes(lat, xs, segs, em, font)  # boxes of running text (a form), not a grid
    table = Table(columns, rows, x0=lat.x0, x1=lat.x1, top=lat.top, bottom=lat.bottom, ruled=True)
    return _finish_table(table, row_lines, lat.hs, em)


def _unruled_splits(xs: list[float], segs: list[Seg]) -> list[float]:
    """Column boundaries the grid does not draw: a clear gap between columns of numbers."""
    out: list[float] = []
    for a, b in itertools.pairwise(xs):
        inside = [s for s in segs if a <= (s.x0 + s.x1) / 2 <= b and is_numeric(s.text)]
        if len(inside) < 3:
            continue
        spans = sorted((s.x0, s.x1) for s in inside)
        reach = spans[0][1]
        for x0, x1 in spans[1:]:
            if x0 - reach >= 3.0:
                out.append((x0 + reach) / 2)
            reach = max(reach, x1)
    return out


def _row_bounds(lat: Lattice, xs: list[float], ln: Line) -> list[float]:
    """Cell boundaries of one text row.

    The grid's lines crossing the row, plus a column line missing at this row when the drawn
    cell holds text on both sides of it (a line left out of some bands of a grid); a drawn
    cell with one text in it is a merged cell and spans its columns.
    """
    cy = (ln.top + ln.bottom) / 2
    drawn = _cluster([v.x0 for v in lat.vs if v.top - 1 <= cy <= v.bottom + 1] + [xs[0], xs[-1]], 2.0)
    extra = []
    for a, b in itertools.pairwise(drawn):
        inner = [x for x in xs if a + 2 < x < b - 2]
        if not inner:
            continue
        cell = [s for s in ln.segs if a - 1 <= (s.x0 + s.x1) / 2 <= b + 1]
        for x in inner:
            both_sides = any(s.x1 <= x + 1 for s in cell) and any(s.x0 >= x - 1 for s in cell)
            if both_sides and not any(s.x0 < x - 1 and s.x1 > x + 1 for s in cell):
                extra.append(x)
    return _cluster(drawn + extra, 2.0)


def _cell_index(bounds: list[float], x: float) -> int:
    for i in range(len(bounds) - 1):
        if bounds[i] - 1 <= x <= bounds[i + 1] + 1:
            return i
    return -1


def _col_of(xs: list[float], x: float) -> int:
    return min(range(len(xs)), key=lambda i: abs(xs[i] - x))


def _bold(segs: Sequence[Seg], font: FontQuery) -> bool:
    words = [w for s in segs for w in s.words if any(ch.isalnum() for ch in w.text)]
    if not words:
        return False
    return font(words[0].char) and font(words[-1].char)


def _join_wrapped_rows(
    rows: list[list[Cell]], lines: list[Line], hs: list[Rule]
) -> tuple[list[list[Cell]], list[Line]]:
    """In a ruled table, text lines between the same two horizontal rules are one row."""
    if not hs:
        return rows, lines
    ys = sorted(h.top for h in hs)
    out_rows: list[list[Cell]] = []
    out_lines: list[Line] = []
    last_band = None
    for row, ln in zip(rows, lines, strict=True):
        cy = (ln.top + ln.bottom) / 2
        band = sum(1 for y in ys if y < cy)
        if out_rows and band == last_band and _wraps(out_rows[-1], row):
            merged = {(c.col0, c.col1): c for c in out_rows[-1]}
            for c in row:
                if (c.col0, c.col1) in merged:
                    m = merged[(c.col0, c.col1)]
                    m.text = f"{m.text} {c.text}"
                    m.numeric = m.numeric and c.numeric
                else:
                    merged[(c.col0, c.col1)] = c
            out_rows[-1] = sorted(merged.values(), key=lambda c: c.col0)
        else:
            out_rows.append(row)
            out_lines.append(ln)
        last_band = band
    return out_rows, out_lines


def _wraps(prev: list[Cell], row: list[Cell]) -> bool:
    # A second line inside the same cells: fewer cells, each in a column the previous row uses,
    # and not a new data row (numeric cells in most columns mean a new record).
    cols = {(c.col0, c.col1) for c in prev}
    return len(row) < len(prev) and all((c.col0, c.col1) in cols for c in row)


def _boxes(lat: Lattice, xs: list[float], segs: list[Seg], em: float, font: FontQuery) -> list[PageItem]:
    ys = _cluster([h.top for h in lat.hs] + [lat.top, lat.bottom], 2.0)
    items: list[PageItem] = []
    used: set[int] = set()
    for top, bottom in itertools.pairwise(ys):
        band = [s for s in segs if top - 1 <= s.cy <= bottom + 1 and id(s) not in used]
        if not band:
            continue
        mid = (top + bottom) / 2
        inner = _cluster([v.x0 for v in lat.vs if v.top - 1 <= mid <= v.bottom + 1] + [lat.x0, lat.x1], 2.0)
        for x0, x1 in itertools.pairwise(inner):
            box = [s for s in band if x0 - 1 <= (s.x0 + s.x1) / 2 <= x1 + 1 and id(s) not in used]
            used.update(id(s) for s in box)
            if box:
                for region in split_columns(box, em):
                    items.extend(leaf_items(region, em, font))
    return items


# --------------------------------------------------------------------------------------------
# 4. leaves: tables and paragraphs
# --------------------------------------------------------------------------------------------


def _column_lines(lines: list[Line]) -> list[Line]:
    """The lines that define the grid: those with the most cells (header cells that span
    columns would merge them)."""
    most = max(len(ln.segs) for ln in lines)
    full = [ln for ln in lines if len(ln.segs) >= max(2, most - 1)]
    return full if len(full) >= 2 else lines


def _aligned_columns(lines: Sequence[Line]) -> list[tuple[float, float]]:
    spans = sorted((s.x0, s.x1) for ln in lines for s in ln.segs)
    cols: list[list[float]] = []
    for a, b in spans:
        if cols and a <= cols[-1][1] + 0.5:
            cols[-1][1] = max(cols[-1][1], b)
        else:
            cols.append([a, b])
    return [(a, b) for a, b in cols]


def _split_numbers(lines: list[Line]) -> list[Line]:
    """In a table, "14,000 14,050" with a plain space is two cells when every word is a number."""
    out = []
    for ln in lines:
        segs: list[Seg] = []
        for s in ln.segs:
            if len(s.words) > 1 and all(is_numeric(w.text) for w in s.words):
                segs.extend(_seg([w], s.row) for w in s.words)
            else:
                segs.append(s)
        out.append(Line(segs, ln.x0, ln.x1, ln.top, ln.bottom, ln.size) if len(segs) != len(ln.segs) else ln)
    return out


def _text_table(lines: list[Line], font: FontQuery, hs: Sequence[Rule], em: float) -> Table | None:
    """A run of multi-cell lines whose cells line up in at least two columns."""
    lines = _split_numbers(lines)
    multi = [ln for ln in lines if len(ln.segs) >= 2]
    if len(multi) < 2:
        return None
    body = [ln for ln in lines if len(ln.segs) >= 2]
    columns = _aligned_columns(_column_lines(body))
    if len(columns) < 2:
        return None
    # each cell goes to the columns it overlaps (a header over several columns spans them)
    rows: list[list[Cell]] = []
    for ln in lines:
        row: list[Cell] = []
        for s in ln.segs:
            cols = [i for i, (a, b) in enumerate(columns) if s.x0 < b - 0.5 and s.x1 > a + 0.5]
            if not cols:
                return None
            c0, c1 = cols[0], cols[-1]
            if row and row[-1].col1 >= c0:
                if c1 > row[-1].col1 and len(ln.segs) > 1:
                    return None  # cells of one line overlapping: not a grid
                row[-1].text = cell_text(f"{row[-1].text} {s.text}")
                continue
            text = cell_text(s.text)
            row.append(Cell(text, c0, c1, _bold([s], font), is_numeric(text)))
        rows.append(row)
    table = Table(
        columns,
        rows,
        x0=min(ln.x0 for ln in lines),
        x1=max(ln.x1 for ln in lines),
        top=lines[0].top,
        bottom=lines[-1].bottom,
    )
    return _finish_table(table, lines, hs, em)


def _finish_table(table: Table, lines: list[Line], hs: Sequence[Rule], em: float) -> list[PageItem]:
    """Split off a title row (one cell across the table) and the header rows."""
    items: list[PageItem] = []
    rows = table.rows
    width = table.x1 - table.x0
    ncols = len(table.columns)
    # Leading rows with one cell spanning most of the table are titles, not column labels.
    while rows and len(rows[0]) == 1 and ncols > 2:
        cell = rows[0][0]
        a, b = table.columns[cell.col0][0], table.columns[cell.col1][1]
        if (b - a) >= 0.6 * width:
            table.caption = f"{table.caption} {cell.text}".strip()
            rows = rows[1:]
            lines = lines[1:]
            continue
        break
    table.rows = rows
    if not rows:
        return items
    nh = _header_rows(rows, lines, hs, table.ruled)
    if nh and _wordy_header(rows[:nh]):
        nh = 0  # a form's boxes of text, not column labels
    table.header = rows[:nh]
    table.rows = rows[nh:]
    table.top = lines[0].top
    items.append(table)
    return items


def _wordy_header(header: list[list[Cell]]) -> bool:
    """Labels that would make every row long: a form's boxes of text, not column names."""
    labels: dict[int, list[str]] = {}
    for row in header:
        for c in row:
            if c.text:
                for k in range(c.col0, c.col1 + 1):
                    labels.setdefault(k, []).append(c.text)
    lengths = [len(" ".join(v)) for v in labels.values()]
    return bool(lengths) and (max(lengths) > 90 or sum(lengths) / len(lengths) > 50)


def _header_rows(rows: list[list[Cell]], lines: list[Line], hs: Sequence[Rule], ruled: bool) -> int:
    """How many leading rows label the columns.

    1. Where columns hold numbers, the leading rows whose cells in those columns are words
       (stacked headers: "Pre-Pawn" over "Handgun | Long Gun | *Other").
    2. Otherwise leading rows set in bold above rows that are not (a transposed table whose
       first column is bold too).
    3. Otherwise the rows above a horizontal rule under the top of an unruled table (booktabs).
    """
    limit = min(8, len(rows) - 1)
    if limit <= 0:
        return 0
    ncols = max((c.col1 for r in rows for c in r), default=-1) + 1
    numeric = [0] * ncols
    filled = [0] * ncols
    for r in rows:
        for c in r:
            if c.col0 == c.col1 and c.text:
                filled[c.col0] += 1
                numeric[c.col0] += c.numeric
    num_cols = {i for i in range(ncols) if filled[i] >= 2 and numeric[i] >= 0.6 * filled[i]}
    if num_cols:
        n = 0
        while n < limit:
            cells = [c for c in rows[n] if any(k in num_cols for k in range(c.col0, c.col1 + 1)) and c.text]
            if (cells and not any(c.numeric for c in cells)) or (not cells and n == 0 and len(rows[n]) > 1):
                n += 1
                continue
            break
        if n and n < len(rows):
            return n

    def all_bold(row: list[Cell]) -> bool:
        cells = [c for c in row if c.text]
        return bool(cells) and all(c.bold for c in cells)

    limit = min(4, limit)
    n = 0
    while n < limit and all_bold(rows[n]):
        n += 1
    if 0 < n < len(rows) and not all(all_bold(r) for r in rows[n:]):
        return n
    if not ruled:
        width = lines[0].x1 - lines[0].x0
        for k in range(1, min(limit, 2) + 1):
            y_above, y_below = lines[k - 1].bottom, lines[k].top
            if any(y_above - 1 <= h.top <= y_below + 1 and (h.x1 - h.x0) >= 0.5 * width for h in hs):
                return k
    return 0


def _decoration(s: Seg, em: float, font: FontQuery) -> bool:
    """Icon glyphs and tiny labels beside the text ("!" + "CAUTION" margin boxes)."""
    text = s.text
    if len(text) <= 2 and not any(ch.isalnum() for ch in text) and s.size > 1.4 * em:
        # a big box may just be a maths font's metrics: ask the font size
        return font.body_pt > 0 and font.size(s.words[0].char) > 1.4 * font.body_pt
    return s.size < 0.6 * em and len(s.words) == 1 and text.isupper() and len(text) > 2


def leaf_items(segs: list[Seg], em: float, font: FontQuery, hs: Sequence[Rule] = ()) -> list[PageItem]:
    """Tables and paragraphs of one column, top to bottom."""
    segs = [s for s in segs if not _decoration(s, em, font)] or segs
    lines = _split_numbers(lines_of(segs))
    items: list[PageItem] = []
    i = 0
    pending: list[Line] = []
    while i < len(lines):
        ln = lines[i]
        if len(ln.segs) >= 2:
            j = i
            while j < len(lines) and (len(lines[j].segs) >= 2 or (_short_line(lines[j]) and _continues(lines, j, i))):
                j += 1
            run = lines[i:j]
            if sum(1 for r in run if len(r.segs) >= 2) >= 3:
                # up to two short lines right above belong to a stacked header ("If Form")
                k = 0
                while k < 2 and k < len(pending):
                    above, below = pending[-1 - k], (pending[-k] if k else run[0])
                    if _CAPTION.match(above.text) or not (
                        _short_line(above) and len(above.segs) == 1 and below.top - above.bottom <= above.size
                    ):
                        break
                    k += 1
                table_items = _table_from_run(pending[len(pending) - k :] + run, font, hs, em) if k else None
                if table_items is not None:
                    pending = pending[: len(pending) - k]
                else:
                    table_items = _table_from_run(run, font, hs, em)
                if table_items is not None:
                    caption = _caption(pending)
                    items.extend(paragraphs(pending, em, font))
                    pending = []
                    for it in table_items:
                        if isinstance(it, Table) and caption and not it.caption:
                            it.caption = caption
                            items.pop()  # the caption paragraph
                    items.extend(table_items)
                    i = j
                    continue
        pending.append(ln)
        i += 1
    items.extend(paragraphs(pending, em, font))
    return items


def _continues(lines: list[Line], j: int, start: int) -> bool:
    """One or two one-segment lines inside a table run (a wrapped cell, a sub-heading row),
    followed by more table rows."""
    if j <= start:
        return False
    for k in (j + 1, j + 2):
        if k < len(lines) and len(lines[k].segs) >= 2:
            return True
        if k < len(lines) and not _short_line(lines[k]):
            return False
    return False


def _short_line(ln: Line) -> bool:
    return len(ln.text) <= 40


def _table_from_run(run: list[Line], font: FontQuery, hs: Sequence[Rule], em: float) -> list[PageItem] | None:
    if _prose_lines(run):
        return None
    return _text_table(run, font, hs, em)


def _prose_lines(lines: Sequence[Line]) -> bool:
    segs = [s for ln in lines for s in ln.segs]
    return _prose(segs) and sum(len(s.words) for s in segs) / max(1, len(segs)) >= 5


_CAPTION = re.compile(r"^(table|tab\.|tabelle)\s*[\dIVX]+", re.I)


def _caption(pending: list[Line]) -> str:
    if pending and _CAPTION.match(pending[-1].text):
        return pending[-1].text
    return ""


def paragraphs(lines: list[Line], em: float, font: FontQuery, notes_only: bool = False) -> list[PageItem]:
    """Group lines into paragraphs; classify headings and footnotes."""
    if not lines:
        return []
    left = min(ln.x0 for ln in lines)
    blocks: list[Block] = []
    cur: list[Line] = [lines[0]]
    for prev, ln in itertools.pairwise(lines):
        gap = ln.top - prev.bottom
        size_change = abs(ln.size - prev.size) > 0.15 * max(ln.size, prev.size)
        indent = ln.x0 - left > 0.8 * ln.size and prev.x0 - left <= 0.3 * prev.size
        bullet = bool(_BULLET.match(ln.text))
        if gap > 0.45 * max(ln.size, prev.size) or size_change or indent or bullet or gap < -0.5 * ln.size:
            split = True
        else:
            split = _bold_start(prev, ln, font)
        if split:
            blocks.append(_block(cur, em, font))
            cur = [ln]
        else:
            cur.append(ln)
    blocks.append(_block(cur, em, font))
    _mark_footnotes(blocks, em, notes_only)
    return list(blocks)


def _bold_start(prev: Line, ln: Line, font: FontQuery) -> bool:
    """A run-in heading ("Line 9a—Taxable interest.") starts a new paragraph."""
    first = ln.segs[0].words[0]
    last = prev.segs[-1].words[-1]
    if font.bold_body or not first.text[:1].isalnum() or not font(first.char):
        return False
    return not font(last.char)


def _block(lines: list[Line], em: float, font: FontQuery) -> Block:
    """A paragraph; whether it is a heading is decided per document (sizes vary by page).

    Box heights stand in for font sizes while grouping, but a heading candidate's size is
    read from the font (a maths font's boxes are taller than its text)."""
    sizes = sorted(ln.size for ln in lines)
    size = sizes[len(sizes) // 2]
    text_len = sum(len(ln.text) for ln in lines)
    short = len(lines) <= 3 and text_len <= 160 and any(ch.isalpha() for ln in lines for ch in ln.text)
    bold = False
    pt = 0.0
    if short:
        words = [w for ln in lines for s in ln.segs for w in s.words if any(ch.isalpha() for ch in w.text)]
        if words:
            pt = font.size(words[0].char)
        if text_len <= 100 and not lines[-1].text.rstrip().endswith((".", ",")):
            bold = not font.bold_body and _bold([s for ln in lines for s in ln.segs], font)
    kind = "heading" if short and (pt >= 1.15 * font.body_pt > 0 or bold) else "paragraph"
    return Block(kind, lines, size, bold, short, pt)


def _mark_footnotes(blocks: list[Block], em: float, notes_only: bool = False) -> None:
    """Small-print blocks at the bottom of a column that start with a note marker.

    ``notes_only``: the blocks are the page's bottom lines on their own (set aside as a
    possible running footer), so there is no body text above them in this list."""
    k = len(blocks)
    while k > 0 and blocks[k - 1].size < 0.9 * em and blocks[k - 1].kind != "heading":
        k -= 1
    if k == len(blocks) or (k == 0 and not notes_only):
        return
    if not _MARKER_START.match(blocks[k].lines[0].text):
        return
    notes: list[Block] = []
    for b in blocks[k:]:
        cur: list[Line] = []
        for ln in b.lines:
            if cur and _MARKER_START.match(ln.text):
                notes.append(Block("footnote", cur, b.size))
                cur = []
            cur.append(ln)
        notes.append(Block("footnote", cur, b.size))
    blocks[k:] = notes


# --------------------------------------------------------------------------------------------
# page entry point
# --------------------------------------------------------------------------------------------


def body_size(segs: Sequence[Seg]) -> float:
    """The most common text size on the page, weighted by characters."""
    weights: dict[float, int] = {}
    for s in segs:
        key = round(s.size * 2) / 2
        weights[key] = weights.get(key, 0) + len(s.text)
    if not weights:
        return 10.0
    total = sum(weights.values())
    # Body text is the largest common size: footnotes are smaller, headings are rare.
    common = [size for size, n in weights.items() if n >= 0.25 * total]
    return max(common) if common else max(weights.items(), key=lambda kv: kv[1])[0]


def _edge_row(row: list[Seg], em: float) -> bool:
    # At most three pieces (title, page number), or a line of small print in pieces (a
    # printer's slug); never a table row.
    if max(s.size for s in row) > 1.6 * em:  # a title, not a running header
        return False
    if len(row) <= 3:
        return True
    return len(row) <= 10 and max(s.size for s in row) < 0.9 * em and sum(len(s.text) for s in row) <= 200


def edge_lines(segs: list[Seg], page_height: float, em: float) -> tuple[list[Seg], list[Seg], list[Seg]]:
    """Set aside the top and bottom rows that look like running headers/footers.

    A candidate is one of the two outermost rows, inside the outer 20% of the page, with at most
    three segments and a clear gap to the text beyond it. The document pass decides.
    """
    if not segs:
        return [], [], segs
    rows: dict[int, list[Seg]] = {}
    for s in segs:
        rows.setdefault(s.row, []).append(s)
    ordered = sorted(rows.values(), key=lambda r: min(s.top for s in r))
    if len(ordered) < 3:  # a page of images with a header and a footer: position decides
        top_r = [r for r in ordered if _edge_row(r, em) and max(s.bottom for s in r) <= 0.2 * page_height]
        bot_r = [r for r in ordered if _edge_row(r, em) and min(s.top for s in r) >= 0.8 * page_height]
        taken = {id(s) for r in top_r + bot_r for s in r}
        return [s for r in top_r for s in r], [s for r in bot_r for s in r], [s for s in segs if id(s) not in taken]
    tops = [min(s.top for s in r) for r in ordered]
    bottoms = [max(s.bottom for s in r) for r in ordered]
    gaps = sorted(tops[k + 1] - bottoms[k] for k in range(len(ordered) - 1))
    usual = gaps[len(gaps) // 2]
    limit = 0.2 * page_height

    def big(k: int, edge: int) -> bool:  # the gap between row k and row k + 1 is clear
        size = max(s.size for s in ordered[edge])
        return tops[k + 1] - bottoms[k] >= max(0.8 * size, min(1.3 * usual, 2.0 * size))

    top_rows: list[list[Seg]] = []
    for k in range(min(3, len(ordered) - 2)):
        if not _edge_row(ordered[k], em) or bottoms[k] > limit:
            break
        if big(k, k):
            top_rows = ordered[: k + 1]
            break
    bottom_rows: list[list[Seg]] = []
    n = len(ordered)
    for k in range(n - 1, max(n - 4, len(top_rows) + 1), -1):
        if not _edge_row(ordered[k], em) or tops[k] < page_height - limit:
            break
        if big(k - 1, k):
            bottom_rows = ordered[k:]
            break
    taken = {id(s) for r in top_rows + bottom_rows for s in r}
    rest = [s for s in segs if id(s) not in taken]
    return [s for r in top_rows for s in r], [s for r in bottom_rows for s in r], rest


def layout_page(segs: list[Seg], rules: Sequence[Rule], em: float, font: FontQuery) -> list[PageItem]:
    """Items of one page (furniture already removed) in reading order."""
    merged = merge_rules(rules)
    lattices = find_lattices(merged)
    hs = [r for r in merged if r.horizontal]
    placed: list[tuple[float, float, list[PageItem], float]] = []
    rest = segs
    for lat in lattices:
        inside = [s for s in rest if _inside(s, lat.x0, lat.top, lat.x1, lat.bottom)]
        if not inside:
            continue
        items = lattice_items(lat, inside, em, font)
        if items is None:
            continue
        taken = {id(s) for s in inside}
        rest = [s for s in rest if id(s) not in taken]
        placed.append((lat.top, lat.x0, items, lat.x1))
    out: list[PageItem] = []
    regions = [r for r in split_columns(rest, em, 0, hs) if r] if rest else []
    pending = sorted(placed, key=lambda p: (p[0], p[1]))
    for region in regions:
        items = leaf_items(region, em, font, hs)
        x0 = min(s.x0 for s in region)
        x1 = max(s.x1 for s in region)
        top = min(s.top for s in region)
        bottom = max(s.bottom for s in region)
        # a grid inside this column's span goes where it sits among the column's items
        inside = [p for p in pending if top <= p[0] <= bottom and min(x1, p[3]) - max(x0, p[1]) > 0]
        for p in inside:
            pending.remove(p)
            k = 0
            while k < len(items) and _item_top(items[k]) <= p[0]:
                k += 1
            items[k:k] = p[2]
        # grids above this region (and not inside any) come first
        while pending and pending[0][0] <= top:
            out.extend(pending.pop(0)[2])
        out.extend(items)
    for p in pending:
        out.extend(p[2])
    return out


def _item_top(item: PageItem) -> float:
    return item.top


_LINE_NUMBER = re.compile(r"^\d{1,3}$")


def _drop_line_numbers(segs: list[Seg]) -> list[Seg]:
    """Transcript/legal line numbers in the left margin (1, 2, 3, ... down the page)."""
    nums = [s for s in segs if len(s.words) == 1 and _LINE_NUMBER.match(s.words[0].text)]
    if len(nums) < 5:
        return segs
    num_ids = {id(s) for s in nums}
    others = [s for s in segs if id(s) not in num_ids]
    if not others:
        return segs
    left = min(s.x0 for s in others)
    margin = sorted((s for s in nums if s.x1 < left - 2), key=lambda s: s.top)
    if len(margin) < 5:
        return segs
    values = [int(s.words[0].text) for s in margin]
    if all(b == a + 1 for a, b in itertools.pairwise(values)):
        drop = {id(s) for s in margin}
        return [s for s in segs if id(s) not in drop]
    return segs


def analyse_page(words: list[Word], rules: Sequence[Rule], height: float, fonts: Fonts) -> PageLayout:
    """Layout of one page; the outermost rows are set aside for the running-header pass."""
    segs = build_segments(words, rules)
    if not segs:
        return PageLayout([], [], [], 10.0)
    em = body_size(segs)
    sample = segs[:: max(1, len(segs) // 24)]
    bold_body = sum(1 for s in sample if fonts.bold(s.words[0].char)) > 0.6 * len(sample)
    body = [s for s in sample if abs(s.size - em) <= 0.1 * em] or sample
    pts = sorted(fonts.size(s.words[0].char) for s in body)
    font = FontQuery(fonts, bold_body, pts[len(pts) // 2])
    top, bottom, rest = edge_lines(segs, height, em)
    rest = _drop_line_numbers(rest)
    items = layout_page(rest, rules, em, font) if rest else []
    bottom_lines = lines_of(bottom)
    top_lines = lines_of(top)
    return PageLayout(
        items,
        top_lines,
        bottom_lines,
        em,
        font.body_pt,
        paragraphs(bottom_lines, em, font, notes_only=True),
        [_block([ln], em, font) for ln in top_lines],
    )
