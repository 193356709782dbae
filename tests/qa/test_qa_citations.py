"""Citation validation for extractive and LLM answers."""

from __future__ import annotations

from qa.answering.citations import parse_marker, validate_citations
from qa.answering.types import Citation

TEXTS = {"a": "Alpha is one. Beta is two.", "b": "Gamma is three."}


def cit(n: int, chunk_id: str, quote: str) -> Citation:
    return Citation(n=n, chunk_id=chunk_id, document_id="doc", document_title="Doc", page=1, quote=quote)


def test_bad_marker_removed_and_flagged() -> None:
    res = validate_citations(
        "Alpha is one [1]. Gamma is three [7].",
        [cit(1, "a", "Alpha is one.")],
        {"a", "b"},
        chunk_texts=TEXTS,
    )
    assert res.flagged and res.removed_markers == [7]
    assert res.text == "Alpha is one [1]. Gamma is three."
    assert [c.n for c in res.citations] == [1]
    assert res.uncited_sentences == 1


def test_unretrieved_chunk_and_non_verbatim_quote_dropped() -> None:
    res = validate_citations(
        "Alpha [1]. Gamma [2]. Beta [3].",
        [cit(1, "a", "Alpha is one."), cit(2, "zz", "Gamma is three."), cit(3, "a", "Beta is TWO.")],
        {"a", "b"},
        chunk_texts=TEXTS,
    )
    assert res.flagged and sorted(res.removed_markers) == [2, 3]
    assert res.text == "Alpha [1]. Gamma. Beta."
    assert len(res.citations) == 1 and res.citations[0].quote == "Alpha is one."


def test_renumbering_is_contiguous_in_order_of_appearance() -> None:
    res = validate_citations(
        "Gamma is three [3][5]. Alpha is one [1, 3]. Beta is two [4].",
        [cit(1, "a", "Alpha is one."), cit(3, "b", "Gamma is three."), cit(4, "a", "Beta is two.")],
        {"a", "b"},
        chunk_texts=TEXTS,
    )
    assert res.text == "Gamma is three [1]. Alpha is one [2, 1]. Beta is two [3]."
    assert [(c.n, c.chunk_id) for c in res.citations] == [(1, "b"), (2, "a"), (3, "a")]
    assert res.removed_markers == [5] and res.flagged
    assert res.uncited_sentences == 0


def test_clean_answer_not_flagged_and_unreferenced_citation_dropped() -> None:
    res = validate_citations(
        "Beta is two. [2] Alpha is one. [1]",
        [cit(1, "a", "Alpha is one."), cit(2, "a", "Beta is two."), cit(3, "b", "Gamma is three.")],
        {"a", "b"},
        chunk_texts=TEXTS,
    )
    assert not res.flagged and res.removed_markers == []
    assert res.text == "Beta is two. [1] Alpha is one. [2]"
    assert [c.quote for c in res.citations] == ["Beta is two.", "Alpha is one."]


def test_parse_marker_forms() -> None:
    assert parse_marker("1") == [1]
    assert parse_marker("1, 2") == [1, 2]
    assert parse_marker("2-4") == [2, 3, 4]
    assert parse_marker("1; 3") == [1, 3]
