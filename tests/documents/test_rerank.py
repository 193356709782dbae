"""documents.rerank: the features, the ordering, and the shipped weights' provenance."""

from __future__ import annotations

import pytest

from documents.lexical import bm25_query, language
from documents.passages import RetrievedChunk
from documents.rerank import FEATURES, Candidate, RerankModel, candidate_features, rerank


def _chunk(cid: int, text: str, *, kind: str = "paragraph", heading: tuple[str, ...] = ()) -> RetrievedChunk:
    return RetrievedChunk(
        chunk_id=cid, document_id=1, document_title="Doc", page=1, text=text, kind=kind, heading_path=heading
    )


def _row(feats: list[float], name: str) -> float:
    return feats[FEATURES.index(name)]


def test_features_see_numbers_names_kind_and_language() -> None:
    q = "How many handgun checks were there in Vermont in 2015?"
    cands = [
        Candidate(_chunk(1, "State: Vermont | Handgun: 1,189 | Year: 2015", kind="table"), 0, 0.8, 0, 12.0, 1),
        Candidate(
            _chunk(2, "Der Raum ist kompakt und zusammenhängend, wenn er die Eigenschaft hat."), 1, None, None, 6.0, 0
        ),
    ]
    table, german = candidate_features(q, cands)
    assert len(table) == len(FEATURES)
    assert _row(table, "num_overlap") == 1.0 and _row(german, "num_overlap") == 0.0
    assert _row(table, "name_overlap") == 1.0 and _row(german, "name_overlap") == 0.0
    assert _row(table, "kind_table") == 1.0 and _row(table, "wants_number_x_table") == 1.0
    assert _row(german, "dense_missing") == 1.0 and _row(german, "dense_cos") == pytest.approx(0.8)
    assert _row(table, "bm25_rel") == 1.0 and _row(german, "bm25_rel") == pytest.approx(0.5)
    assert _row(german, "lang_match") == 0.0


def test_rerank_orders_by_the_model_and_keeps_the_passage() -> None:
    q = "What was the total for Vermont?"
    cands = [
        Candidate(_chunk(1, "General remarks about the table."), 0, 0.9, 0, 10.0, 0),
        Candidate(_chunk(2, "State: Vermont | Totals: 4,011", kind="table"), 1, 0.7, 1, 8.0, 1),
    ]
    model = RerankModel(weights={"name_overlap": 5.0}, bias=-2.0, meta={})
    out = rerank(q, cands, model)
    assert [c.chunk_id for c in out] == [2, 1]
    assert out[0].text == "State: Vermont | Totals: 4,011" and out[0].kind == "table"
    assert 0.0 < out[1].score < out[0].score < 1.0


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How many members can CNIG's Direcção have?", "en"),  # a Portuguese noun in an English question
        ("Who signed it?", "en"),
        ("Wie viele Mitglieder hat die Direcção?", "de"),
        ("Quantos membros tem a Direcção?", "pt"),
        ("Dois - A Direcção é composta por três, cinco ou sete membros.", "pt"),
        ("327 | 25 | 21", "?"),
    ],
)
def test_the_language_of_short_questions_and_passages(text: str, lang: str) -> None:
    assert language(text) == lang


def test_an_ordinal_also_searches_its_number() -> None:
    # the index names notes and tables by number ("footnote 1")
    assert bm25_query("What is the text of the first footnote?").split() == ["text", "first", "1", "footnote"]
    assert "2" in bm25_query("Was steht in der zweiten Tabelle?").split()
