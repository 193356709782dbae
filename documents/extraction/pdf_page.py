"""What the layout analysis needs from one PDFium page: characters with boxes, ruling lines, fonts.

Speed matters here (the extraction stage must stay far below the embedding time of the same
pages): one ctypes call per character (the loose character box, which also gives the font size)
through a prototype that takes plain integers, so no ctypes objects are built per call; the
text comes from one ``FPDFText_GetText`` call. Font names are looked up lazily, only for the few
words whose boldness matters (table headers, heading candidates), and cached per font.

Must be called with the PDFium lock held (see ``pdf.py``).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from documents.extraction.layout import Rule, Word, build_words


def _addr(fn: object) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value or 0


_VP, _INT = ctypes.c_void_p, ctypes.c_int
# (textpage, index, FS_RECTF*) -> bool: prototype over plain addresses (no per-call conversion)
_LOOSE_BOX = ctypes.CFUNCTYPE(_INT, _VP, _INT, _VP)(_addr(pdfium_c.FPDFText_GetLooseCharBox))
_TEXT_OBJECT = ctypes.CFUNCTYPE(_VP, _VP, _INT)(_addr(pdfium_c.FPDFText_GetTextObject))
_TEXT_FONT = ctypes.CFUNCTYPE(_VP, _VP)(_addr(pdfium_c.FPDFTextObj_GetFont))
_FONT_WEIGHT = ctypes.CFUNCTYPE(_INT, _VP)(_addr(pdfium_c.FPDFFont_GetWeight))
_FONT_NAME = ctypes.CFUNCTYPE(ctypes.c_ulong, _VP, _VP, ctypes.c_ulong)(_addr(pdfium_c.FPDFFont_GetBaseFontName))
_FONT_SIZE = ctypes.CFUNCTYPE(ctypes.c_double, _VP, _INT)(_addr(pdfium_c.FPDFText_GetFontSize))
_ORIGIN = ctypes.CFUNCTYPE(_INT, _VP, _INT, _VP, _VP)(_addr(pdfium_c.FPDFText_GetCharOrigin))
_MATRIX = ctypes.CFUNCTYPE(_INT, _VP, _INT, _VP)(_addr(pdfium_c.FPDFText_GetMatrix))

_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi", "-bd", "extrab")
_MAX_PATH_SEGMENTS = 256


@dataclass(slots=True)
class PageData:
    words: list[Word]
    rules: list[Rule]
    width: float
    height: float
    chars: int
    fonts: FontInfo


class FontInfo:
    """Font facts for one text page, looked up lazily per character index.

    ``bold`` is cached per PDFium font handle (name contains Bold/Black/..., or weight >= 600).
    ``size`` is the font size in points; ``raised`` tells a real superscript (smaller and set
    above the baseline of its neighbour) from glyphs whose boxes merely look small because
    their font has unusual ascent/descent metrics (maths fonts).
    """

    def __init__(self, textpage: pdfium.PdfTextPage, cache: dict[int, bool], fn=None) -> None:  # type: ignore[no-untyped-def]
        self._tp = _addr(textpage.raw)
        self._cache = cache
        self._fn = fn
        self._x = ctypes.c_double()
        self._y = ctypes.c_double()
        self._m = pdfium_c.FS_MATRIX()

    def __call__(self, index: int) -> bool:
        return self.bold(index)

    def bold(self, index: int) -> bool:
        obj = _TEXT_OBJECT(self._tp, index)
        if not obj:
            return False
        font = _TEXT_FONT(obj)
        if not font:
            return False
        hit = self._cache.get(font)
        if hit is None:
            buf = ctypes.create_string_buffer(256)
            n = _FONT_NAME(font, ctypes.addressof(buf), 256)
            name = buf.raw[: max(0, n - 1)].decode("latin-1").lower()
            hit = any(m in name for m in _BOLD_NAMES) or _FONT_WEIGHT(font) >= 600
            self._cache[font] = hit
        return hit

    def size(self, index: int) -> float:
        """Effective size in points: the font size times the text matrix's vertical scale
        (many producers set "Tf 1" and scale with the matrix)."""
        size = float(_FONT_SIZE(self._tp, index))
        if _MATRIX(self._tp, index, ctypes.addressof(self._m)):
            size *= math.hypot(self._m.c, self._m.d)
        return size

    def _baseline(self, index: int) -> float:
        _ORIGIN(self._tp, index, ctypes.addressof(self._x), ctypes.addressof(self._y))
        if self._fn is None:
            return -self._y.value
        return float(self._fn(self._x.value, self._y.value)[1])

    def raised(self, index: int, host: int) -> bool:
        size, host_size = self.size(index), self.size(host)
        if host_size <= 0 or size >= 0.9 * host_size:
            return False
        return self._baseline(index) < self._baseline(host) - 0.12 * host_size


def _transform(rotation: int, box: tuple[float, float, float, float]):  # type: ignore[no-untyped-def]
    """Return (f(x, y) -> display x/y arrays, display width, height) for the page rotation."""
    left, bottom, right, top = box
    w, h = right - left, top - bottom
    if rotation == 90:
        return (lambda x, y: (y - bottom, x - left)), h, w
    if rotation == 180:
        return (lambda x, y: (right - x, y - bottom)), w, h
    if rotation == 270:
        return (lambda x, y: (top - y, right - x)), h, w
    return (lambda x, y: (x - left, top - y)), w, h


def _reading_rotation(rects: np.ndarray, codes: np.ndarray) -> int:
    """0 when characters advance along x in PDF space, else the quarter turn that makes them."""
    glyph = np.flatnonzero((codes > 32) & (rects[:, 2] > rects[:, 0]))
    if len(glyph) < 8:
        return 0
    cx = (rects[glyph, 0] + rects[glyph, 2]) / 2
    cy = (rects[glyph, 1] + rects[glyph, 3]) / 2
    dx, dy = np.diff(cx), np.diff(cy)
    near = (np.abs(dx) + np.abs(dy)) < 3 * (rects[glyph[1:], 1] - rects[glyph[1:], 3]).clip(1)
    if near.sum() < 4:
        return 0
    horizontal = np.abs(dx[near]) > np.abs(dy[near])
    if horizontal.mean() >= 0.5:
        return 0
    # advancing up the page (dy > 0 in PDF space) reads left to right after a 90 degree turn
    return 90 if float(np.median(dy[near & (np.abs(dy) > np.abs(dx))])) > 0 else 270


def read_page(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, fonts: dict[int, bool] | None = None) -> PageData:
    raw = textpage.raw
    n = pdfium_c.FPDFText_CountChars(raw)
    try:
        box = page.get_cropbox()
    except Exception:  # a page without a usable box: fall back to the media box
        box = (0.0, 0.0, *page.get_size())
    if n <= 0:
        fn, width, height = _transform(0, box)
        return PageData(
            [], read_rules(page, fn), width, height, 0, FontInfo(textpage, {} if fonts is None else fonts, fn)
        )
    buf = ctypes.create_string_buffer((n + 1) * 2)
    got = pdfium_c.FPDFText_GetText(raw, 0, n, ctypes.cast(buf, ctypes.POINTER(ctypes.c_ushort)))
    text = buf.raw[: max(0, got - 1) * 2].decode("utf-16-le", "replace")
    if len(text) != n:  # characters outside the BMP: read one by one to keep indexes aligned
        text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, i) or 0xFFFD) for i in range(n))
    rects = np.zeros((n, 4), dtype=np.float32)  # FS_RECTF: left, top, right, bottom
    base = rects.ctypes.data
    tp = _addr(raw)
    f = _LOOSE_BOX
    # whitespace (generated or not) only separates words: its box is never needed
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    for k in np.flatnonzero((codes > 32) & (codes != 0xA0)).tolist():
        f(tp, k, base + 16 * k)
    # Read the text the way it runs: a page drawn upright and then turned by /Rotate is read
    # as drawn; a page whose text is drawn sideways is turned so that its lines run across.
    rot = _reading_rotation(rects, codes)
    fn, width, height = _transform(rot, box)
    info = FontInfo(textpage, {} if fonts is None else fonts, fn)
    xa, ya = fn(rects[:, 0], rects[:, 1])
    xb, yb = fn(rects[:, 2], rects[:, 3])
    x0, x1 = np.minimum(xa, xb), np.maximum(xa, xb)
    y0, y1 = np.minimum(ya, yb), np.maximum(ya, yb)
    words = build_words(text, x0, y0, x1, y1, info.raised)
    # Text outside the crop box is not shown to readers (printer's marks, proof notes).
    words = [w for w in words if -2 <= (w.x0 + w.x1) / 2 <= width + 2 and -2 <= (w.top + w.bottom) / 2 <= height + 2]
    return PageData(words, read_rules(page, fn), width, height, n, info)


def read_rules(page: pdfium.PdfPage, fn) -> list[Rule]:  # type: ignore[no-untyped-def]
    """Horizontal and vertical ruling lines from path objects (thin shapes, stroked boxes)."""
    out: list[Rule] = []
    raw = page.raw
    stack: list[tuple[object, tuple[float, ...] | None]] = [
        (pdfium_c.FPDFPage_GetObject(raw, k), None) for k in range(pdfium_c.FPDFPage_CountObjects(raw))
    ]
    l_, b_, r_, t_ = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    budget = 20000  # object visits per page: a guard for pathological vector art
    while stack and budget > 0:
        budget -= 1
        obj, matrix = stack.pop()
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            m = pdfium_c.FS_MATRIX()
            pdfium_c.FPDFPageObj_GetMatrix(obj, m)
            mine = (m.a, m.b, m.c, m.d, m.e, m.f)
            combined = mine if matrix is None else _compose(mine, matrix)
            count = pdfium_c.FPDFFormObj_CountObjects(obj)
            stack.extend((pdfium_c.FPDFFormObj_GetObject(obj, k), combined) for k in range(count))
            continue
        if kind != pdfium_c.FPDF_PAGEOBJ_PATH:
            continue
        if not pdfium_c.FPDFPageObj_GetBounds(obj, l_, b_, r_, t_):
            continue
        corners = [(l_.value, b_.value), (r_.value, t_.value)]
        if matrix is not None:
            corners = [_apply(matrix, x, y) for x, y in corners]
        (xa, ya), (xb, yb) = corners
        w, h = abs(xb - xa), abs(yb - ya)
        if w <= 2.5 or h <= 2.5:
            if max(w, h) >= 4:
                out.append(_rule(fn, xa, ya, xb, yb))
            continue
        fill, stroke = ctypes.c_int(), ctypes.c_int()
        if not pdfium_c.FPDFPath_GetDrawMode(obj, fill, stroke) or not stroke.value:
            continue
        # a stroked shape: its axis-aligned straight edges are rules
        nseg = pdfium_c.FPDFPath_CountSegments(obj)
        if nseg <= 0 or nseg > _MAX_PATH_SEGMENTS:
            continue
        m = pdfium_c.FS_MATRIX()
        pdfium_c.FPDFPageObj_GetMatrix(obj, m)
        own = (m.a, m.b, m.c, m.d, m.e, m.f)
        full = own if matrix is None else _compose(own, matrix)
        px, py = ctypes.c_float(), ctypes.c_float()
        start: tuple[float, float] | None = None
        prev: tuple[float, float] | None = None
        for k in range(nseg):
            seg = pdfium_c.FPDFPath_GetPathSegment(obj, k)
            pdfium_c.FPDFPathSegment_GetPoint(seg, px, py)
            pt = _apply(full, px.value, py.value)
            typ = pdfium_c.FPDFPathSegment_GetType(seg)
            if typ == pdfium_c.FPDF_SEGMENT_LINETO and prev is not None:
                _edge(out, fn, prev, pt)
            if typ == pdfium_c.FPDF_SEGMENT_MOVETO:
                start = pt
            prev = pt
            if pdfium_c.FPDFPathSegment_GetClose(seg) and start is not None and prev is not None:
                _edge(out, fn, prev, start)
    return out


def _edge(out: list[Rule], fn, a: tuple[float, float], b: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    if (abs(a[0] - b[0]) <= 1.0 or abs(a[1] - b[1]) <= 1.0) and max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= 4:
        out.append(_rule(fn, a[0], a[1], b[0], b[1]))


def _rule(fn, xa: float, ya: float, xb: float, yb: float) -> Rule:  # type: ignore[no-untyped-def]
    (dxa, dya), (dxb, dyb) = fn(xa, ya), fn(xb, yb)
    x0, x1 = sorted((float(dxa), float(dxb)))
    y0, y1 = sorted((float(dya), float(dyb)))
    if x1 - x0 >= y1 - y0:  # horizontal: a zero-height line
        y = (y0 + y1) / 2
        return Rule(x0, y, x1, y)
    x = (x0 + x1) / 2
    return Rule(x, y0, x, y1)


def _compose(inner: tuple[float, ...], outer: tuple[float, ...]) -> tuple[float, ...]:
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _apply(m: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f
