"""The stages of one answer, each a small function over the one ``AnswerTrace``.

retrieve -> generate -> ground -> redact -> record; :func:`qa.services.ask.qa_stream` runs them
in that order. A stage reads the trace sections of the stages before it and fills its own
(see ``qa.services.trace``). ``generate`` yields the model's tokens as they come (the only
stage that streams); :func:`corrections` yields what the client must replace afterwards.

Invariants (see ``qa.services.ask`` for the events and the guarantees of the whole answer):
- **Tenant**: chunks come from ``documents.retrieval.chunks_retrieve`` (tenant filter inside the
  vector store, DB post-filter on the tenant's rows); nothing else is read across tenants.
- **Citations**: every answer leaves ``ground`` verified: an LLM answer by
  ``qa.answering.grounding.ground_answer`` (which ends with the validator), an extractive one by
  ``qa.answering.citations.validate_citations`` with the retrieved chunk ids and texts.
- **Guardrails**: a question with a prompt injection never reaches the model (neither the
  rewrite nor the answer); injected passages are quoted inert in the prompt and never cited;
  PII never reaches the log, nor the asker when the tenant's ``redact_pii_in_answers`` is on
  (streamed deltas included: the gate below releases whole redacted sentences).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from documents.models import Document
from documents.retrieval import RetrievalConfig, chunks_retrieve
from inference.embedding import InferenceError, InferenceUnavailable
from inference.llm import LlmError, TritonChatGenerator
from inference.vectorstore import VectorStoreError
from models_registry.backends import get_embedder, get_vector_store
from portal.exceptions import ServiceUnavailable
from qa.answering.citations import MARKER, validate_citations
from qa.answering.extractive import answer_extractive
from qa.answering.grounding import GroundingConfig, ground_answer
from qa.answering.prompts import (
    PROMPT_VERSION,
    REWRITE_PROMPT_VERSION,
    build_qa_messages,
    build_rewrite_messages,
    prompt_chunks,
    rewrite_followup,
)
from qa.answering.types import NOT_FOUND_TEXT, Answer
from qa.guardrails.injection import detect_injection
from qa.guardrails.pii import redact_pii
from qa.models import Conversation, QaRecord
from qa.services.trace import (
    EXTRACTIVE_MODEL,
    QA_MAX_QUESTION_CHARS,
    AnswerTrace,
    ChunkInjection,
    Grounding,
    Redaction,
    Rewrite,
)
from usage import meter

__all__ = [
    "NOTHING_RELEVANT_NOTICE",
    "NO_DOCUMENTS_NOTICE",
    "RESTRICTED_GONE_NOTICE",
    "AnswerEvent",
    "corrections",
    "elapsed_ms",
    "generate",
    "ground",
    "record",
    "redact",
    "retrieve",
]

NO_DOCUMENTS_NOTICE = "There are no ready documents to search yet: upload documents and wait until they are ready."
RESTRICTED_GONE_NOTICE = "None of the documents this question is restricted to can be searched (deleted or not ready)."
NOTHING_RELEVANT_NOTICE = (
    "No passage in your documents supports an answer. If you asked in another language than the "
    "documents are written in, try asking in the documents' language."
)
GROUNDED_RESET = "grounded: the answer was checked against the passages and re-cited"


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """What the client sees, in order: ``delta`` (``text``: a piece of the answer), ``reset``
    (``text``: why every delta so far is withdrawn), ``citations``, ``final`` (the trace is
    finished and recorded). The API renders ``citations`` and ``final`` from the trace."""

    kind: str  # "delta" | "reset" | "citations" | "final"
    text: str = ""


def elapsed_ms(t0: float) -> float:
    """Milliseconds since ``t0`` (a ``time.perf_counter()``), as the latencies are reported."""
    return round((time.perf_counter() - t0) * 1000, 2)


# ------------------------------------------------------------------------------------------------
# retrieve
# ------------------------------------------------------------------------------------------------


def retrieve(trace: AnswerTrace, llm: TritonChatGenerator | None) -> None:
    """Screen the question, rewrite a follow-up into a standalone query, search the tenant's
    chunks, screen them. Raises ``ServiceUnavailable`` when search is down (before any event)."""
    trace.question_injection = detect_injection(trace.question)
    t0 = time.perf_counter()
    trace.standalone_query = _standalone_query(trace, llm)
    try:
        trace.retrieval = chunks_retrieve(
            tenant=trace.tenant,
            query=trace.standalone_query,
            store=get_vector_store(),
            embedder=get_embedder(),
            document_ids=trace.document_ids,
            config=RetrievalConfig(top_k=trace.top_k),
        )
    except (VectorStoreError, InferenceUnavailable, InferenceError) as exc:
        raise ServiceUnavailable("Search is unavailable right now; try again in a moment.") from exc
    trace.retrieve_ms = elapsed_ms(t0)
    for c in trace.chunks:
        finding = detect_injection(c.text)
        if finding is not None:
            trace.chunk_injections.append(ChunkInjection(c.chunk_id, c.document_id, sorted(finding.rules)))
    if not trace.chunks:
        trace.notice = _empty_notice(trace)


def _standalone_query(trace: AnswerTrace, llm: TritonChatGenerator | None) -> str:
    """The retrieval query for this turn: the question itself on a first turn; for a follow-up,
    the LLM's rewrite (unless the question carries an injection) or the rules'."""
    if not trace.is_follow_up:
        return trace.question
    if llm is not None and trace.question_injection is None:
        try:
            text, p, c = llm.generate(build_rewrite_messages(trace.history, trace.question), max_tokens=48)
        except LlmError as exc:
            trace.rewrite = Rewrite("rules", llm_error=str(exc)[:200])
            return rewrite_followup(trace.history, trace.question)
        trace.prompt_tokens += p
        trace.completion_tokens += c
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        if line and len(line) <= QA_MAX_QUESTION_CHARS:
            trace.rewrite = Rewrite("llm", prompt_version=REWRITE_PROMPT_VERSION)
            return line
    trace.rewrite = Rewrite("rules")
    return rewrite_followup(trace.history, trace.question)


def _empty_notice(trace: AnswerTrace) -> str:
    if trace.document_ids is not None:
        return RESTRICTED_GONE_NOTICE if not _any_ready(trace, trace.document_ids) else NOTHING_RELEVANT_NOTICE
    return NO_DOCUMENTS_NOTICE if not _any_ready(trace, None) else NOTHING_RELEVANT_NOTICE


def _any_ready(trace: AnswerTrace, document_ids: Sequence[int] | None) -> bool:
    qs = Document.objects.for_tenant(trace.tenant).filter(status=Document.Status.READY, generation__gt=0)
    if document_ids is not None:
        qs = qs.filter(pk__in=list(document_ids))
    return qs.exists()


# ------------------------------------------------------------------------------------------------
# generate
# ------------------------------------------------------------------------------------------------


class _PiiGate:
    """Passes LLM deltas through, or, when answers must be redacted, releases whole sentences
    redacted (a phone number split across two deltas must not slip out half by half)."""

    _BOUNDARY = re.compile(r"[.!?\n](?=\s)")

    def __init__(self, redact: bool) -> None:
        self.redact = redact
        self.buffer = ""

    def push(self, text: str) -> str:
        if not self.redact:
            return text
        self.buffer += text
        last = None
        for m in self._BOUNDARY.finditer(self.buffer):
            last = m
        if last is None:
            return ""
        out, self.buffer = self.buffer[: last.end()], self.buffer[last.end() :]
        return redact_pii(out).text

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return redact_pii(out).text if self.redact else out


def generate(trace: AnswerTrace, llm: TritonChatGenerator | None) -> Iterator[AnswerEvent]:
    """Ask the model, streaming its tokens as ``delta`` events, when there is a model, there are
    passages and the question is clean; an LLM outage sets ``fallback`` (the extractive answer
    follows in ``ground``). Without the model nothing streams here."""
    if llm is None or not trace.chunks or trace.question_injection is not None:
        return
    trace.llm_used = True
    gate = _PiiGate(trace.redact_answers)
    max_tokens = int(settings.QA_LLM_MAX_TOKENS)
    parts: list[str] = []
    prompt_tokens = completion_tokens = 0
    try:
        for delta in llm.stream(build_qa_messages(trace.standalone_query, trace.chunks), max_tokens=max_tokens):
            parts.append(delta.text)
            prompt_tokens, completion_tokens = delta.prompt_tokens, delta.completion_tokens
            out = gate.push(delta.text)
            if out:
                trace.streamed.append(out)
                yield AnswerEvent("delta", out)
        tail = gate.flush()
        if tail:
            trace.streamed.append(tail)
            yield AnswerEvent("delta", tail)
        trace.llm_text = "".join(parts).strip()
        trace.llm_truncated = completion_tokens >= max_tokens
        trace.model, trace.prompt_version = llm.model_id, PROMPT_VERSION
    except LlmError as exc:
        trace.fallback = f"extractive: the language model is unavailable ({str(exc)[:160]})"
    finally:
        trace.prompt_tokens += prompt_tokens
        trace.completion_tokens += completion_tokens


# ------------------------------------------------------------------------------------------------
# ground
# ------------------------------------------------------------------------------------------------


def ground(trace: AnswerTrace) -> None:
    """Make the answer verified: ground the model's answer on the passages it was shown; when
    there is none (no model, outage) or nothing of it is supported, answer extractively and
    validate. Sets ``answer``, ``citations``, ``found``, ``flagged`` and the removals."""
    if trace.llm_text and not trace.llm_text.startswith(NOT_FOUND_TEXT):
        _ground_llm_answer(trace, trace.llm_text)  # sets fallback when nothing is supported
    elif trace.llm_text is not None:
        # The model declined in the prompt's exact words (or said nothing): that answer stands.
        trace.answer = NOT_FOUND_TEXT
        trace.notice = trace.notice or NOTHING_RELEVANT_NOTICE
    if trace.llm_text is None or trace.fallback is not None:  # no model, an outage, or unsupported
        _answer_extractively(trace)
    trace.found = trace.answer != NOT_FOUND_TEXT and bool(trace.citations)
    if not trace.found:
        trace.answer, trace.citations = NOT_FOUND_TEXT, []


def _ground_llm_answer(trace: AnswerTrace, raw: str) -> None:
    config = GroundingConfig()
    g = ground_answer(
        raw, prompt_chunks(trace.chunks), question=trace.standalone_query, truncated=trace.llm_truncated, config=config
    )
    trace.grounding = Grounding(config=config, llm_markers=len(MARKER.findall(raw)), result=g)
    if not g.citations:
        trace.fallback = "extractive: no sentence of the language model's answer is supported by the passages"
        trace.llm_removed_markers = g.removed_markers
        trace.flagged = True
        return
    trace.answer, trace.citations = g.text, g.citations
    trace.flagged, trace.removed_markers = g.flagged, g.removed_markers


def _answer_extractively(trace: AnswerTrace) -> None:
    trace.model, trace.prompt_version = EXTRACTIVE_MODEL, ""
    answer = _extract(trace) if trace.chunks else None
    if answer is None or not answer.found:
        trace.answer = NOT_FOUND_TEXT
        trace.notice = trace.notice or NOTHING_RELEVANT_NOTICE
        return
    texts = {c.chunk_id: c.text for c in trace.chunks}
    validation = validate_citations(answer.text, answer.citations, set(texts), chunk_texts=texts)
    trace.answer, trace.citations = validation.text, validation.citations
    trace.flagged = trace.flagged or validation.flagged
    trace.removed_markers, trace.uncited_sentences = validation.removed_markers, validation.uncited_sentences
    if not trace.citations:
        trace.answer = NOT_FOUND_TEXT


def _extract(trace: AnswerTrace) -> Answer:
    """Extractive answer. A follow-up is answered from its own words first (the carried-over
    terms of the standalone query found the passages, but they would also pull the previous
    turn's sentence back in); the standalone query is the fallback."""
    if trace.standalone_query != trace.question:
        own = answer_extractive(trace.question, trace.chunks)
        if own.found:
            return own
    return answer_extractive(trace.standalone_query, trace.chunks)


# ------------------------------------------------------------------------------------------------
# redact
# ------------------------------------------------------------------------------------------------


def redact(trace: AnswerTrace) -> None:
    """PII-redacted copies: for the asker when the tenant asks for it, for the log always."""
    quotes = [c.quote for c in trace.citations]
    shown_answer, shown_quotes, in_answer = trace.answer, quotes, 0
    if trace.redact_answers:
        shown_answer, in_answer = _redacted(trace.answer)
        shown_quotes = []
        for quote in quotes:
            text, n = _redacted(quote)
            shown_quotes.append(text)
            in_answer += n
    question, n_q = _redacted(trace.question)
    query, n_s = _redacted(trace.standalone_query)
    answer, n_a = _redacted(trace.answer)
    stored_quotes = []
    n_c = 0
    for quote in quotes:
        text, n = _redacted(quote)
        stored_quotes.append(text)
        n_c += n
    removed = trace.grounding.result.removed_unsupported_sentences if trace.grounding else []
    trace.redaction = Redaction(
        shown_answer=shown_answer,
        shown_quotes=shown_quotes,
        in_answer=in_answer,
        stored_question=question,
        stored_query=query,
        stored_answer=answer,
        stored_quotes=stored_quotes,
        stored_removed_sentences=[_redacted(s)[0] for s in removed],
        in_log=n_q + n_s + n_a + n_c,
    )


def _redacted(text: str) -> tuple[str, int]:
    r = redact_pii(text)
    return r.text, len(r.findings)


_SENTENCE_END = re.compile(r"(?<=\])\s+|(?<=[.!?])\s+(?=[A-Z0-9\[(\"'])")


def _sentences(text: str) -> list[str]:
    """Split an answer for sentence-by-sentence streaming (pieces re-join with single spaces)."""
    return [p for p in _SENTENCE_END.split(text) if p]


def corrections(trace: AnswerTrace) -> Iterator[AnswerEvent]:
    """After ``redact``: the deltas that make the streamed text equal the answer shown.

    Without the model the answer streams here, sentence by sentence. When the model's tokens
    streamed but the extractive answer replaced them (``fallback``), or grounding changed them
    (markers moved or added, sentences removed), a ``reset`` withdraws them first."""
    shown = trace.shown_answer
    if trace.llm_used:
        if trace.fallback is not None:
            yield AnswerEvent("reset", trace.fallback)
        elif " ".join("".join(trace.streamed).split()) != " ".join(shown.split()):
            yield AnswerEvent("reset", GROUNDED_RESET)
        else:
            return
    for sentence in _sentences(shown):
        yield AnswerEvent("delta", sentence + " ")


# ------------------------------------------------------------------------------------------------
# record
# ------------------------------------------------------------------------------------------------


def record(trace: AnswerTrace) -> None:
    """Write the turn (creating the conversation on the first one), stored text PII-redacted.

    Validation (``full_clean``, which reads) runs before the transaction, so the transaction
    starts with a write: on SQLite a deferred transaction that reads first cannot be upgraded
    to a writer while another request commits ("database is locked"), whatever the timeout.
    """
    redaction = trace.redaction
    assert redaction is not None, "record runs after redact"
    actor = trace.actor
    user = actor.user if getattr(actor.user, "pk", None) else None
    conversation = trace.conversation
    new_conversation = conversation is None
    if conversation is None:
        conversation = Conversation(
            tenant=trace.tenant,
            title=redaction.stored_question[:120],
            created_by=user,
            created_by_token=actor.token,
            document_ids=trace.document_ids or [],
        )
        conversation.full_clean()
    row = QaRecord(
        tenant=trace.tenant,
        question=redaction.stored_question,
        standalone_query=redaction.stored_query if trace.is_follow_up else "",
        answer=redaction.stored_answer,
        found=trace.found,
        citations=trace.stored_citations,
        retrieved=trace.retrieved_json(),
        guardrails=trace.guardrails_json(),
        usage=trace.usage_json(),
        latency_ms=trace.latency_json(),
        model=trace.model[:200],
        prompt_version=trace.prompt_version,
        flagged=trace.flagged,
        asked_by=user,
        asked_by_token=actor.token,
    )
    row.full_clean(exclude=["conversation"])
    with transaction.atomic():
        if new_conversation:
            conversation.save()
        else:
            Conversation.objects.for_tenant(trace.tenant).filter(pk=conversation.pk).update(updated_at=timezone.now())
        row.conversation = conversation
        row.save()
    trace.conversation = conversation
    trace.record = row
    meter.record(
        trace.tenant.pk,
        "qa",
        token_id=actor.token.pk if actor.token is not None else None,
        model=trace.model[:200],
        requests=1,
        prompt_tokens=trace.prompt_tokens,
        completion_tokens=trace.completion_tokens,
        # LLM inference time: the generate stage while the model was asked (0 for extractive).
        inference_ms=trace.generate_ms if trace.llm_used else 0,
    )
