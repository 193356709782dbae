"""The generative path FOR REAL: SmolLM2-135M-Instruct served by a real tritonserver (decoupled
python-backend model, CPU, one torch thread), queried over gRPC streaming by the Q&A service.

What is tested is the plumbing (prompt -> Triton -> token stream -> SSE), grounding and the
citation validator on real model output and the fallbacks, not the 135M model's wisdom:
assertions hold for any output the model may produce. The contract of a generative answer:
either it is the model's own (grounded) text, every sentence cited, at least one valid citation,
or the extractive answer replaced it and ``guardrails.fallback`` says why.
"""

from __future__ import annotations

import re

import pytest

from documents.passages import RetrievedChunk
from inference.llm import LlmUnavailable, TritonChatGenerator
from inference.triton.builtin.smollm2 import SMOLLM2_NAME, install_smollm2
from inference.triton.client import TritonAdmin
from qa.answering.citations import MARKER
from qa.answering.grounding import ground_answer
from qa.answering.prompts import PROMPT_VERSION
from qa.answering.types import NOT_FOUND_TEXT
from qa.services.trace import EXTRACTIVE_MODEL
from tests.qa.conftest import DMCA_PAGES
from tests.qa.test_qa_api import assert_cited, parse_sse, stream_body
from tests.support.triton import SharedTriton, triton, triton_minilm

__all__ = ["triton", "triton_minilm"]

pytestmark = [pytest.mark.usefixtures("qa_settings"), pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="session")
def smollm2(triton: SharedTriton) -> SharedTriton:
    """SmolLM2 installed into the shared server's repository and loaded once (about 50 s).

    Loaded over HTTP with a long timeout: a gRPC call held open this long gets the channel a
    GOAWAY "too_many_pings" from the server on a busy machine."""
    install_smollm2(triton.repo_dir)
    admin = TritonAdmin(triton.server.http_url, timeout_s=300)
    try:
        admin.load_model(SMOLLM2_NAME)
    finally:
        admin.close()
    return triton


@pytest.fixture
def llm_settings(qa_settings, smollm2, triton_minilm):  # type: ignore[no-untyped-def]
    qa_settings.TRITON_URL = smollm2.server.grpc_url
    qa_settings.TRITON_EMBED_MODEL = "minilm"
    qa_settings.TRITON_LLM_MODEL = SMOLLM2_NAME
    qa_settings.QA_LLM_MAX_TOKENS = 48
    return qa_settings


@pytest.fixture
def client_a(api, make_token, owner_a):  # type: ignore[no-untyped-def]
    return api(make_token(owner_a, ["qa", "read"]))


def _core(sentence: str) -> str:
    """A sentence without markers, whitespace normalised, final punctuation dropped."""
    text = " ".join(MARKER.sub(" ", sentence).split())
    return re.sub(r"\s+([.,;:!?])", r"\1", text).rstrip(" .,;:!?")


def assert_invariants(body: dict, tenant, raw: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """The contract (module docstring); ``raw``: the model's streamed text, when known."""
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0, body["usage"]
    guard = body["guardrails"]
    assert guard["citations"]["validated"] is True
    if body["found"]:
        assert_cited(body, tenant)
    else:
        assert body["answer"] == NOT_FOUND_TEXT and body["citations"] == []
    grounding = guard.get("grounding")
    if body["model"] == EXTRACTIVE_MODEL:
        # The LLM answered but was not usable, and the reason is stated.
        assert guard["fallback"].startswith("extractive: "), body
        if grounding is not None:  # it was grounded: nothing it said was supported
            assert "no sentence" in guard["fallback"] and body["flagged"] is True
        return
    assert body["model"] == f"triton:{SMOLLM2_NAME}" and body["prompt_version"] == PROMPT_VERSION == "qa-v2"
    assert guard["fallback"] is None
    if body["answer"] == NOT_FOUND_TEXT:
        return  # the model declined in the prompt's exact words
    # Kept: the model's own text, every sentence cited, at least one valid citation.
    assert body["found"] and body["citations"], body
    assert guard["citations"]["uncited_sentences"] == 0
    assert grounding["cited_sentences"] + grounding["grounded_sentences"] >= 1, grounding
    assert body["flagged"] is bool(grounding["removed_unsupported_sentences"] or guard["citations"]["removed_markers"])
    if raw is not None:
        spoken = _core(raw)
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", body["answer"]):
            assert _core(sentence) in spoken, (sentence, raw)  # the words are the model's


def test_generator_streams_tokens_and_grounding_cleans_real_output(llm_settings):
    gen = TritonChatGenerator(llm_settings.TRITON_URL, SMOLLM2_NAME, timeout_s=60)
    # A prompt this 135M model follows verbatim (checked by hand), so its output carries a marker
    # [7] that names no passage shown: grounding (which ends with the citation validator) must
    # remove it and flag the answer, and keep the supported sentence cited to the real passage.
    messages = [{"role": "user", "content": 'Repeat after me: "The sky is blue [1]. Grass is green [7]."'}]
    deltas = list(gen.stream(messages, max_tokens=40))
    assert len(deltas) >= 5 and deltas[-1].prompt_tokens > 10
    assert [d.completion_tokens for d in deltas] == sorted(d.completion_tokens for d in deltas)
    raw = "".join(d.text for d in deltas)
    assert raw == gen.generate(messages, max_tokens=40)[0]  # greedy: deterministic
    chunk = RetrievedChunk(
        chunk_id=11,
        document_id=1,
        document_title="Colours",
        page=2,
        text="On a clear day the sky is blue. Clouds make it grey.",
    )
    result = ground_answer(raw, [chunk])
    assert "[7]" in raw, raw  # the model repeated the forged marker...
    assert result.flagged and 7 in result.removed_markers and "[7]" not in result.text  # ...which is removed
    assert [c.chunk_id for c in result.citations] == [11] and result.citations[0].quote in chunk.text


def test_unknown_model_is_unavailable(llm_settings):
    gen = TritonChatGenerator(llm_settings.TRITON_URL, "no-such-llm", timeout_s=10)
    with pytest.raises(LlmUnavailable):
        gen.generate([{"role": "user", "content": "hi"}])


def test_api_answer_through_triton(llm_settings, client_a, index_document, tenant_a):
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    body = client_a.post("/api/v1/qa/", {"question": "Who signed the DMCA into law?"}, format="json").json()
    assert_invariants(body, tenant_a)
    # The model's answer was grounded, unless it declined in the prompt's exact words.
    assert "grounding" in body["guardrails"] or (body["answer"] == NOT_FOUND_TEXT and body["model"] != EXTRACTIVE_MODEL)


def test_streamed_answer_sends_token_deltas(llm_settings, client_a, index_document, tenant_a):
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    resp = client_a.post(
        "/api/v1/qa/?stream=true", {"question": "Into how many titles is the DMCA divided?"}, format="json"
    )
    events = parse_sse(stream_body(resp))
    kinds = [k for k, _ in events]
    assert kinds[-2:] == ["citations", "final"] and kinds.count("reset") <= 1
    final = events[-1][1]
    # Tokens stream as produced: the deltas before any reset are the model's raw text, in pieces.
    cut = kinds.index("reset") if "reset" in kinds else len(events) - 2
    raw = "".join(d["text"] for k, d in events[:cut] if k == "delta")
    assert kinds[:cut].count("delta") >= 3 and final["usage"]["completion_tokens"] >= 3
    assert_invariants(final, tenant_a, raw=raw)
    # The deltas after the last reset (or all of them) spell the final answer.
    after = "".join(d["text"] for k, d in events[cut:] if k == "delta") if "reset" in kinds else raw
    assert " ".join(after.split()) == " ".join(final["answer"].split())
    assert events[-2][1]["citations"] == final["citations"]
    if final["model"] == EXTRACTIVE_MODEL:
        # The unusable LLM text was withdrawn before the fallback answer, with the reason.
        assert events[cut][1]["reason"] == final["guardrails"]["fallback"]
    elif "reset" in kinds:
        assert events[cut][1]["reason"].startswith("grounded:")


def test_follow_up_is_rewritten_by_the_llm(llm_settings, client_a, index_document, tenant_a):
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    first = client_a.post("/api/v1/qa/", {"question": "Who signed the DMCA into law?"}, format="json").json()
    follow = client_a.post(
        "/api/v1/qa/", {"question": "And when?", "conversation_id": first["conversation_id"]}, format="json"
    ).json()
    assert follow["guardrails"]["rewrite"]["method"] == "llm" and follow["standalone_query"]
    assert_invariants(follow, tenant_a)


def test_llm_outage_falls_back_to_the_extractive_answer(llm_settings, client_a, index_document, tenant_a):
    llm_settings.TRITON_LLM_MODEL = "no-such-llm"
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    body = client_a.post("/api/v1/qa/", {"question": "Who signed the DMCA into law?"}, format="json").json()
    assert body["model"] == EXTRACTIVE_MODEL and "unavailable" in body["guardrails"]["fallback"]
    assert_cited(body, tenant_a)
