"""Reading order and structure of the real specimens: columns, tables, furniture, footnotes,
hyphenation, DOCX parts with their locations, contextual chunks."""

from __future__ import annotations

import re

import pytest

from documents.chunking import Chunk, chunk_document, count_tokens
from documents.extraction import ExtractedDocument
from documents.extraction.structure import is_page_number, join_lines

pytestmark = pytest.mark.timeout(120)


def _chunks(good_docs, rel: str) -> list[Chunk]:
    return chunk_document(good_docs[rel], title=rel.rsplit("/", 1)[-1])


def _lines(doc: ExtractedDocument, page: int, kind: str = "table") -> list[str]:
    return [ln for s in doc.sections if s.page == page and s.kind == kind for ln in s.text.split("\n")]


# --- columns -------------------------------------------------------------------------------


def test_i1040nr_columns_read_one_after_the_other(good_docs):
    page = good_docs["good/i1040nr.pdf"].page_text(10)
    # a sentence that wraps over four lines of the first column comes out whole
    whole = (
        "If you performed services as an employee both inside and outside the United States, "
        "you must allocate your compensation between U.S. and non-U.S. sources."
    )
    assert whole in page
    # PDFium's own order interleaved the columns line by line ("items of income amount of the
    # compensation sourced ..."): here the left column's sentence is intact and comes first
    left = "items of income from foreign sources are treated as effectively connected"
    right = "amount of the compensation sourced within and without the United States"
    assert left in page and right in page
    assert page.index(left) < page.index(right)
    assert "items of income amount" not in page
    # a sentence cut by the column break continues in the next column
    assert "They already are included as income in box 1 of your Form W-2." in page


def test_three_column_federal_register_and_two_column_latex(good_docs):
    fr = good_docs["good/federal-register-2020-17221.pdf"].page_text(2)
    assert "Hatta International Airport in Jakarta, Indonesia, resulting in 189 fatalities." in fr
    mc = good_docs["good/multicolumn.pdf"].page_text(1)
    assert "This is a sample document with two columns filled with Lorem Ipsum text." in mc
    assert "Maecenas lacinia" in mc and "Maece-" not in mc  # hyphenated across the line break


# --- tables --------------------------------------------------------------------------------


def test_nics_row_carries_its_column_labels(good_docs):
    rows = _lines(good_docs["good/nics-background-checks-2015-11.pdf"], 1)
    kentucky = [r for r in rows if "Kentucky" in r]
    assert len(kentucky) == 1
    row = kentucky[0]
    for cell in (
        "State / Territory: Kentucky",
        "Permit: 264,140",
        "Handgun: 12,155",
        "Long Gun: 14,847",
        "Redemption (Handgun: 1,491; Long Gun: 2,315; *Other: 2)",
        "Totals: 295,891",
    ):
        assert cell in row, cell
    vermont = next(r for r in rows if "Vermont" in r)
    assert "Handgun: 1,189" in vermont and "Totals: 3,136" in vermont
    assert "Totals: 2,236,457" in next(r for r in rows if r.startswith("State / Territory: Totals"))


def test_warn_header_from_page_one_labels_rows_on_later_pages(good_docs):
    doc = good_docs["good/WARN-Report-for-7-1-2015-to-03-25-2016.pdf"]
    page1 = _lines(doc, 1)
    assert page1[0].startswith("Notice Date: 06/22/2015 | Effective: 03/25/2016 | Received: 07/01/2015")
    row = next(r for r in _lines(doc, 5) if "Zenith Education Group" in r)
    assert row == (
        "Notice Date: 09/01/2015 | Effective: 11/01/2015 | Received: 09/11/2015 | "
        "Company: Zenith Education Group | City: Santa Ana | No. Of: 18 | Layoff/Closure: Layoff Permanent"
    )
    # the monthly summary on pages 15-16 is another table, its header carried to page 16
    total = next(r for r in _lines(doc, 16) if "Total |" in r)
    assert "Notices: 632" in total and "Employees Affected: 53,454" in total
    assert {s.label for s in doc.sections if s.kind == "table"} == {"table 1", "table 2"}


def test_page_of_numbers_gives_labelled_rows(good_docs):
    # i1040nr page 36 is three tax tables side by side and nothing else
    rows = _lines(good_docs["good/i1040nr.pdf"], 36)
    row = next(r for r in rows if "At least: 14,000" in r)
    assert "But less than: 14,050" in row and "Single: 1,713" in row
    assert all(":" in r for r in rows if re.search(r"\d,\d{3}", r))  # no bare row of numbers
    assert "17,000" in " ".join(rows) and "20,000" in " ".join(rows)  # the other two tables


def test_table_captions_and_cells(good_docs):
    mc = next(s for s in good_docs["good/multicolumn.pdf"].sections if s.kind == "table")
    assert mc.context == "Table 1: EU Countries Information"
    assert "Country: Finland | Population (millions): 5.5 | Area (km^2): 338,424 | Capital: Helsinki" in mc.text
    google = next(s for s in good_docs["good/google-doc-document.pdf"].sections if s.kind == "table")
    assert "Capital | Indonesia: Jakarta | Germany: Berlin | Austria: Vienna" in google.text
    # a merged cell names every column it spans
    assert "Germany / Austria / France: EUR (€)" in google.text


# --- furniture, footnotes, superscripts, hyphenation ----------------------------------------


def test_running_headers_and_page_numbers_are_kept_out_of_the_text(good_docs):
    fr = good_docs["good/federal-register-2020-17221.pdf"]
    headers = [s for s in fr.sections if s.kind == "header"]
    assert "Federal Register / Vol. 85, No. 152 / Thursday, August 6, 2020 / Proposed Rules 47699" in [
        s.text for s in headers
    ]
    body = [s.text for s in fr.sections if s.kind not in ("header", "footer")]
    assert not any("Federal Register / Vol. 85" in t or "VerDate" in t for t in body)
    i1040nr = good_docs["good/i1040nr.pdf"]
    footers = {s.page: s.text for s in i1040nr.sections if s.kind == "footer"}
    assert footers[10] == "-10- Instructions for Form 1040NR"
    assert not any("-10-" in s.text for s in i1040nr.sections if s.page == 10 and s.kind == "paragraph")

    chunks = _chunks(good_docs, "good/federal-register-2020-17221.pdf")
    sentences = [c for c in chunks if c.kind == "paragraph"]
    assert sentences and not any("Federal Register / Vol." in c.text for c in sentences)
    running = [c for c in chunks if c.kind == "header" and c.text.startswith("Federal Register / Vol. 85")]
    assert len(running) == 1  # indexed once, not on all 14 pages
    assert not any(c.text == "47698" for c in chunks)  # a bare page number is not indexed


def test_page_number_patterns():
    for text in ("-10-", "Page 10 of 48", "47699", "iv", "Seite 3 von 9", "3"):
        assert is_page_number(text), text
    for text in ("Instructions for Form 1040NR", "Page 10 is blank", "2007 Tax Table"):
        assert not is_page_number(text), text


def test_footnote_markers_are_separated(good_docs):
    google = good_docs["good/google-doc-document.pdf"]
    assert "Germany: 83,190,556^2" in google.text and "83,190,5562" not in google.text
    notes = [(s.label, s.text) for s in google.sections if s.kind == "footnote"]
    assert notes == [
        ("footnote 1", "^1 2021 estimate"),
        ("footnote 2", "^2 2020 estimate"),
        ("footnote 3", "^3 2020 estimate"),
    ]
    fr = good_docs["good/federal-register-2020-17221.pdf"]
    assert "erroneously high angle of attack (AOA) sensor^4 input" in fr.page_text(2)
    labels = [s.label for s in fr.sections if s.page == 2 and s.kind == "footnote"]
    assert labels == [f"footnote {n}" for n in range(1, 10)]
    # the footnotes are their own chunks, never inside a paragraph chunk
    chunks = _chunks(good_docs, "good/federal-register-2020-17221.pdf")
    assert not any("Preliminary KNKT" in c.text for c in chunks if c.kind == "paragraph")
    assert [c.location for c in chunks if "Preliminary KNKT" in c.text] == ["footnote 1"]


def test_superscript_exponents_and_small_caps(good_docs):
    mc = good_docs["good/multicolumn.pdf"].page_text(3)
    assert "Area (km^2)" in mc
    dmca = good_docs["good/dmca.pdf"]
    assert any(s.kind == "heading" and s.text == "TITLE I: WIPO TREATY IMPLEMENTATION" for s in dmca.sections)


def test_hyphenation_rules():
    vocab = __import__("collections").Counter({"well-known": 2, "processing": 0})
    join = _joiner(vocab)
    assert join("the pro-", "cessing of data") == "the processing of data"
    assert join("a well-", "known rule") == "a well-known rule"  # the document writes "well-known"
    assert join("Jean-", "Paul Sartre") == "Jean-Paul Sartre"  # a capital after the break
    assert join("FAA-", "approved list") == "FAA-approved list"
    assert join("pages 10-", "12 apply") == "pages 10-12 apply"
    assert join("a line", "continues") == "a line continues"


def _joiner(vocab):
    from documents.extraction.layout import Line, Seg, Word

    def line(text: str) -> Line:
        words = [Word(0, 1, 0, 1, t, 10, i, 0) for i, t in enumerate(text.split())]
        seg = Seg(words, 0, 1, 0, 1, 10, 0, text)
        return Line([seg], 0, 1, 0, 1, 10)

    return lambda a, b: join_lines([line(a), line(b)], vocab)


# --- DOCX parts and their locations ----------------------------------------------------------


def test_docx_text_box_footnote_and_first_page_header_with_locations(good_docs):
    box = _chunks(good_docs, "good/text-box.docx")
    assert [(c.text, c.kind, c.location) for c in box] == [("Datum plane", "textbox", "text box")]
    notes = _chunks(good_docs, "good/footnotes.docx")
    assert ("A tachyon walks into a bar.", "footnote 1") in [(c.text, c.location) for c in notes]
    assert "footnote 1\nA tachyon walks into a bar." in next(c.index_text for c in notes if c.location == "footnote 1")
    hf = _chunks(good_docs, "good/DiffFirstPageHeadFoot.docx")
    first = [c for c in hf if c.location == "first-page header"]
    assert [c.text for c in first] == ["I am the header on the first page, and I\u2019m nice and simple"]
    assert first[0].kind == "header"


def test_docx_tables_rows_are_labelled_and_located(good_docs):
    doc = good_docs["good/IllustrativeCases.docx"]
    tables = [s for s in doc.sections if s.kind == "table"]
    assert [s.label for s in tables] == [f"table {n}" for n in range(1, 9)]
    # label and figures stacked as paragraphs inside two cells are zipped back into rows
    assert "Gross Income | 2006: 17,542 | 2007: 17,542" in tables[0].text.split("\n")
    assert tables[1].context == "Siobhan"  # the short paragraph naming the table
    chunks = _chunks(good_docs, "good/IllustrativeCases.docx")
    siobhan = next(c for c in chunks if c.kind == "table" and "24,960" in c.text)
    assert siobhan.location.startswith("table 2, rows 1-")
    assert "Siobhan" in siobhan.index_text and "Siobhan" not in siobhan.text


# --- contextual chunks ---------------------------------------------------------------------


def test_index_text_adds_title_heading_and_table_context(good_docs):
    chunks = _chunks(good_docs, "good/WARN-Report-for-7-1-2015-to-03-25-2016.pdf")
    vmware = [c for c in chunks if "VMware, Inc." in c.text]
    assert len(vmware) == 1
    c = vmware[0]
    assert c.pages == (12,) and c.kind == "table" and re.fullmatch(r"table 1, rows? \d+(-\d+)?", c.location)
    head, _, _body = c.index_text.partition("Notice Date:")
    assert head.startswith("WARN-Report-for-7-1-2015-to-03-25-2016.pdf\n") and "table 1" in head
    assert c.index_text.endswith(c.text) and "WARN-Report" not in c.text
    # table chunks are cut between rows: every line is a whole, labelled row
    for t in (x for x in chunks if x.kind == "table"):
        assert all(ln.startswith(("Notice Date:", "Summary by Month:")) for ln in t.text.split("\n")), t.text[:80]
        assert count_tokens(t.index_text) <= 200


def test_index_text_fits_the_budget_with_a_long_heading():
    from documents.extraction import Section

    long_path = tuple(f"Heading level {i} with several words in it" for i in range(12))
    doc = ExtractedDocument("txt", [Section("word " * 400, None, long_path, "paragraph")], None, title="T")
    chunks = chunk_document(doc, max_tokens=100, overlap_tokens=10)
    assert len(chunks) > 4
    for c in chunks:
        assert count_tokens(c.index_text) <= 100 and c.index_text.endswith(c.text)
        assert c.index_text.startswith("T\nHeading level 0")


# --- rotation ------------------------------------------------------------------------------


def _turned(angle: int, rotate: int) -> bytes:
    """multicolumn.pdf page 1 with its content turned by ``angle`` and the page's /Rotate set."""
    import io

    import pypdf

    from tests.documents.conftest import DOCS

    writer = pypdf.PdfWriter(clone_from=DOCS / "good" / "multicolumn.pdf")
    while len(writer.pages) > 1:
        writer.remove_page(len(writer.pages) - 1)
    page = writer.pages[0]
    height, width = float(page.mediabox.height), float(page.mediabox.width)
    if angle:
        shift = {90: (height, 0.0), -90: (0.0, width)}[angle]
        page.add_transformation(pypdf.Transformation().rotate(angle).translate(tx=shift[0], ty=shift[1]))
        page.mediabox = page.cropbox = pypdf.generic.RectangleObject([0, 0, height, width])
    if rotate:
        page.rotate(rotate)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(("angle", "rotate"), [(0, 90), (0, 180), (0, 270), (90, 0), (90, 270), (-90, 0), (-90, 90)])
def test_turned_pages_still_read_column_by_column(angle, rotate):
    from documents.extraction import extract

    text = extract(_turned(angle, rotate), "turned.pdf").page_text(1)
    assert "This is a sample document with two columns filled with Lorem Ipsum text." in text
    assert "Maecenas lacinia. Nam ipsum ligula, eleifend at, accumsan nec, suscipit a, ipsum." in text
