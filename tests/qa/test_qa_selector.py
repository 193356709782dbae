"""The learned sentence selector (qa/answering/selector_weights.json) and the answerer rules
added with it: fragments joined, index lines never quoted, German nouns not taken for names,
negations read by yes/no answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from documents.passages import RetrievedChunk
from qa.answering.extractive import (
    FEATURES,
    SELECTOR_PATH,
    _question_terms,
    answer_extractive,
    load_selector,
    sentence_candidates,
)
from qa.answering.qtypes import answers_yes_no, question_type

REPO = Path(__file__).resolve().parents[2]


def _chunk(text: str, *, page: int | None = 1, title: str = "doc.pdf", index_text: str = "", cid: str = "c1"):
    return RetrievedChunk(
        chunk_id=cid, document_id=title, document_title=title, page=page, text=text, score=1.0, index_text=index_text
    )


def test_shipped_selector_matches_the_features_and_the_tune_half() -> None:
    model = load_selector()
    assert model is not None, f"{SELECTOR_PATH} is missing or stale; run bench/train_answer_selector.py --write"
    data = json.loads(SELECTOR_PATH.read_text())
    assert data["features"] == list(FEATURES) and len(data["weights"]) == len(FEATURES)
    rows = [json.loads(line) for line in (REPO / "bench/data/qa_eval/questions.jsonl").read_text().splitlines() if line]
    tune = [r for r in rows if r["split"] == "tune"]
    text = "\n".join(json.dumps(r, sort_keys=True) for r in tune)
    assert data["split"] == "tune" and data["split_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert 0.0 <= model.min_confidence < 1.0 and 0.0 <= model.min_support < 1.0


def test_selector_prefers_the_sentence_that_answers() -> None:
    chunk = _chunk(
        "The IRS conducts an overseas taxpayer assistance program during the filing season. "
        "If overseas, you may call 215-516-2000 (English-speaking only). "
        "Taxpayer Assistance IRS assistance is available to help you prepare your return."
    )
    ans = answer_extractive("What number can taxpayers overseas call for IRS assistance?", [chunk])
    assert ans.found
    assert "215-516-2000" in ans.citations[0].quote


def test_lower_case_continuation_is_joined_not_quoted_alone() -> None:
    text = (
        "Under section 1204 penalties range up to a $500,000 fine or up to five years imprisonment for a first offense,\n\n"
        "and up to a $1,000,000 fine or up to 10 years imprisonment for subsequent offenses."
    )
    cands, reason = sentence_candidates("What is the maximum fine for subsequent offenses?", [_chunk(text)])
    assert not reason
    assert all(not c.text.lstrip().startswith("and up") for c in cands)
    assert any("$500,000" in c.text and "$1,000,000" in c.text for c in cands)


def test_run_on_line_of_a_double_spaced_transcript_is_joined() -> None:
    text = (
        "APPEARANCES:\n\nSTEVEN E. MERCER, ESQ., Deputy Attorney General, Los\n\n"
        "Angeles, Cal.; on behalf of the Petitioner.\n\nCHARLES M. SEVILLA, ESQ., San Diego, Cal.; on behalf\n\n"
        "of the Respondent."
    )
    ans = answer_extractive("Who argued on behalf of the petitioner?", [_chunk(text)], min_confidence=0.0)
    assert ans.found
    assert "STEVEN E. MERCER" in ans.citations[0].quote and "Petitioner" in ans.citations[0].quote


def test_index_lines_with_leader_dots_are_never_the_answer() -> None:
    text = (
        "Domestic production activities deduction . . . . . . . . . . . . 9\n"
        "Dual-status taxpayers . . . . . . . . . . . . . . 17\n"
    )
    ans = answer_extractive("What is the domestic production activities deduction?", [_chunk(text)])
    assert not ans.found


def test_passage_context_names_the_table_a_row_belongs_to() -> None:
    row = "Levies | 2006: 499 | 2007: 0"
    chunk = _chunk(
        "2006: € | 2007: €\nGross Income | 2006: 24,960 | 2007: 24,960\n" + row,
        page=None,
        title="IllustrativeCases",
        index_text="IllustrativeCases\ntable 2\nSiobhan\n2006: € | 2007: €\nGross Income | 2006: 24,960",
    )
    # "Siobhan" is only in the table's caption (the index context), not in any row.
    ans = answer_extractive("How much did Siobhan pay in levies in 2006?", [chunk], min_confidence=0.0)
    assert ans.found and "499" in ans.text


def test_german_nouns_are_not_key_terms_but_numbers_and_acronyms_are() -> None:
    _terms, keys = _question_terms(
        "In welchem Buch kann man den Beweis des Satzes von Gauß-Bonnet im Jahr 2016 nachlesen?"
    )
    assert "buch" not in keys and "beweis" not in keys
    assert "2016" in keys
    _terms, keys = _question_terms("In which book can the proof of Gauss-Bonnet be read?")
    assert any(k.startswith("gauss") or k.startswith("bonnet") for k in keys)


def test_yes_no_reads_exemptions_and_without_as_no() -> None:
    q = "Can nonprofit libraries be held criminally liable under section 1204?"
    assert answers_yes_no(q, "Nonprofit libraries are entirely exempted from criminal liability.") == "No"
    assert answers_yes_no("Is CNIG a for-profit association?", "O CNIG é uma associação sem fins lucrativos.") == "No"
    assert answers_yes_no(q, "Nonprofit libraries are criminally liable.") == "Yes"


def test_question_types_for_measures_and_names() -> None:
    assert question_type("What is the elevation of the datum plane?") == "number"
    assert question_type("What standard deduction amount is printed on Form 1040NR?") == "number"
    assert question_type("What was the name of the diarist's bedridden sister?") == "person"
    assert question_type("What unsafe condition does the directive address?") == "other"


def test_person_question_without_a_name_in_the_passages_declines() -> None:
    chunk = _chunk("My thoughts were of home, and of the dear sister there, bedridden, with but little hope.")
    ans = answer_extractive("What was the name of the diarist's bedridden sister?", [chunk])
    assert not ans.found


def test_long_sentence_with_one_value_of_the_asked_type_opens_with_it() -> None:
    from qa.answering.qtypes import sole_value

    when = "When is Form 1040NR due for an individual who did not receive wages?"
    sentence = "File Form 1040NR by June 16, 2008, if you did not receive wages as an employee subject to withholding."
    assert sole_value("date", sentence, when) == "June 16, 2008"
    ans = answer_extractive(when, [_chunk(sentence)], min_confidence=0.0, min_support=0.0)
    assert ans.found and ans.text.startswith("June 16, 2008. [1] File Form 1040NR")
    # two values: no guess, the sentence alone answers
    two = "Penalties range up to a $500,000 fine or up to five years imprisonment for a first offense."
    assert sole_value("number", two, "What is the maximum penalty for a first offense?") == ""


def test_a_sentence_cut_by_the_passage_boundary_is_never_quoted() -> None:
    first = _chunk(
        "Section 1201 contains seven exceptions. An exception for encryption research permits "
        "circumvention of access control measures, and the",
        cid="c1",
    )
    ans = answer_extractive("What does the exception for encryption research permit?", [first], min_confidence=0.0)
    assert not any(c.quote.rstrip().endswith("and the") for c in ans.citations)


def test_numbers_inside_identifiers_are_not_taken_for_the_answer_value() -> None:
    from qa.answering.qtypes import sole_value

    s = "AD 2018\u201323\u201351, the procedural information required by that AD would be outdated when the rule is effective."
    assert sole_value("date", s, "When would the procedural information be outdated?") == ""
    s = "The FAA estimates that this proposed AD affects 73 airplanes of U.S. registry, all Model 737\u20138."
    assert sole_value("number", s, "How many airplanes does the AD affect?") == "73"
