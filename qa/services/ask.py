"""Cited Q&A over a tenant's documents: retrieve, answer (LLM or extractive), validate, log.

Two steps so that every input error is known before a streamed response starts:
``qa_prepare`` validates and resolves everything the caller sent (raising ``ApplicationError``s
that map to 400/404), and ``qa_run`` produces the events of one answer. ``qa_ask`` consumes them
for the plain JSON response; the API streams them as Server-Sent Events.

Invariants:
- **Tenant**: every row is read through ``for_tenant(tenant)``; vectors are searched with the
  tenant filter built inside the vector store; ``document_ids`` and ``conversation_id`` are
  resolved through tenant-scoped selectors (another tenant's id is "not found").
- **Citations**: the validator (``qa.answering.citations.validate_citations``) runs on every
  answer with the retrieved chunk ids and texts: every marker left in the answer resolves to a
  chunk retrieved for this question and every quote is verbatim text of that chunk. An LLM answer
  is first grounded (``qa.answering.grounding.ground_answer``, which ends with that validator):
  each sentence keeps the model's markers when the cited passages support it, gets ``[n]`` of the
  passage that supports it otherwise, and is removed when no passage does (reported in
  ``guardrails.grounding``; a removal flags the answer). When no sentence survives, the
  extractive answer replaces it (``guardrails.fallback`` says why).
- **Events** (``qa_run``; the API sends them as SSE with the same names): ``delta`` ``{"text"}``
  pieces, in order; ``reset`` ``{"reason"}`` withdraws every delta sent so far (the client clears
  the answer) and the deltas after it spell the answer again; ``citations`` ``{"citations",
  "flagged"}``; ``final`` (the whole API response, always last). With an LLM the model's tokens
  stream as produced; when the grounded answer differs from them (markers moved or added,
  sentences removed) or the extractive answer replaces it, a ``reset`` follows and the final text
  is re-sent sentence by sentence. Concatenated deltas after the last ``reset`` equal ``final.answer``
  up to whitespace; ``final`` is authoritative.
- ``found`` is False exactly when the answer is :data:`NOT_FOUND_TEXT` (no citations then).
- **Guardrails**: prompt injection in the question keeps the question away from the LLM;
  injected spans in chunks are quoted inert in the prompt and never quoted in an answer; PII is
  always redacted from the stored copies (question, query, answer, quotes) and from the answer
  shown when the tenant's ``redact_pii_in_answers`` setting is on.
- **Log**: every answered question writes exactly one ``QaRecord`` (and creates its
  ``Conversation`` on the first turn) in one transaction at the end of the run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from documents.models import Document
from documents.passages import RetrievedChunk
from documents.retrieval import RetrievalConfig, chunks_retrieve
from inference.llm import LlmError, TritonChatGenerator
from models_registry.backends import get_embedder, get_llm, get_vector_store
from portal.exceptions import ApplicationError, NotFound, PermissionDenied, ServiceUnavailable
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
from qa.answering.types import NOT_FOUND_TEXT, Answer, Citation
from qa.guardrails import detect_injection, redact_pii
from qa.models import Conversation, QaRecord
from qa.selectors import conversation_get
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.selectors import tenant_setting

__all__ = [
    "EXTRACTIVE_MODEL",
    "QA_MAX_QUESTION_CHARS",
    "QaPlan",
    "QuestionInvalid",
    "qa_ask",
    "qa_prepare",
    "qa_run",
]

QA_MAX_QUESTION_CHARS = 2000
QA_DEFAULT_TOP_K = 8
QA_MAX_TOP_K = 20
QA_HISTORY_TURNS = 3
EXTRACTIVE_MODEL = "extractive-v1"
NO_DOCUMENTS_NOTICE = "There are no ready documents to search yet: upload documents and wait until they are ready."
RESTRICTED_GONE_NOTICE = "None of the documents this question is restricted to can be searched (deleted or not ready)."
NOTHING_RELEVANT_NOTICE = (
    "No passage in your documents supports an answer. If you asked in another language than the "
    "documents are written in, try asking in the documents' language."
)


class QuestionInvalid(ApplicationError):
    code = "invalid_question"


@dataclass
class QaPlan:
    """A validated question, ready to run (the output of :func:`qa_prepare`)."""

    tenant: Tenant
    actor: Actor
    question: str
    top_k: int
    document_ids: list[int] | None
    conversation: Conversation | None
    history: list[tuple[str, str]] = field(default_factory=list)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def qa_prepare(
    *,
    tenant: Tenant,
    actor: Actor,
    question: str,
    document_ids: Sequence[int] | None = None,
    top_k: int | None = None,
    conversation_id: int | None = None,
) -> QaPlan:
    """Validate a question; raises QuestionInvalid (400), NotFound (404), PermissionDenied (403).

    - the question is stripped, non-empty and at most ``QA_MAX_QUESTION_CHARS`` characters;
    - every id in ``document_ids`` must be a document of ``tenant`` (any status), else 404 with
      no hint of what exists elsewhere;
    - ``conversation_id`` must be a conversation of ``tenant`` visible to the actor (404) that the
      actor created (403: shared conversations are read-only for the other members).
    """
    q = (question or "").strip()
    if not q:
        raise QuestionInvalid("The question is empty: ask something about your documents.")
    if len(q) > QA_MAX_QUESTION_CHARS:
        raise QuestionInvalid(
            f"The question is too long ({len(q)} characters); the limit is {QA_MAX_QUESTION_CHARS}.",
            extra={"max_chars": QA_MAX_QUESTION_CHARS},
        )
    k = QA_DEFAULT_TOP_K if top_k is None else int(top_k)
    if not 1 <= k <= QA_MAX_TOP_K:
        raise QuestionInvalid(f"top_k must be between 1 and {QA_MAX_TOP_K}.")
    ids: list[int] | None = None
    if document_ids is not None:
        ids = sorted({int(d) for d in document_ids})
        found = set(Document.objects.for_tenant(tenant).filter(pk__in=ids).values_list("pk", flat=True))
        if len(found) != len(ids):
            raise NotFound("One or more documents were not found.")
    conversation = None
    history: list[tuple[str, str]] = []
    if conversation_id is not None:
        conversation = conversation_get(tenant=tenant, user=actor.user, conversation_id=conversation_id)
        if conversation.created_by_id != actor.user_id:
            raise PermissionDenied("This conversation was shared with you read-only; start a new conversation.")
        turns = list(
            QaRecord.objects.for_tenant(tenant)
            .filter(conversation=conversation)
            .order_by("-created_at", "-id")
            .values_list("question", "answer")[:QA_HISTORY_TURNS]
        )
        history = [(tq, ta) for tq, ta in reversed(turns)]
        if ids is None and conversation.document_ids:
            # The conversation's restriction holds for every turn; documents deleted since drop out.
            ids = sorted(
                Document.objects.for_tenant(tenant)
                .filter(pk__in=[int(d) for d in conversation.document_ids])
                .values_list("pk", flat=True)
            )
    return QaPlan(
        tenant=tenant, actor=actor, question=q, top_k=k, document_ids=ids, conversation=conversation, history=history
    )


# ------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------


def _citation_json(c: Citation, scores: dict[Any, float]) -> dict[str, Any]:
    return {
        "index": c.n,
        "document_id": c.document_id,
        "document_title": c.document_title,
        "page": c.page,
        "chunk_id": c.chunk_id,
        "score": round(float(scores.get(c.chunk_id, 0.0)), 6),
        "quote": c.quote,
    }


_SENTENCE_END = re.compile(r"(?<=\])\s+|(?<=[.!?])\s+(?=[A-Z0-9\[(\"'])")


def _sentences(text: str) -> list[str]:
    """Split an answer for sentence-by-sentence streaming (pieces re-join with single spaces)."""
    return [p for p in _SENTENCE_END.split(text) if p]


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


def _rewrite(plan: QaPlan, llm: TritonChatGenerator | None, usage: dict[str, int], guard: dict[str, Any]) -> str:
    """The standalone retrieval query for this turn (the question itself on a first turn)."""
    if not plan.history:
        return plan.question
    if llm is not None and not guard["question_injection"]["detected"]:
        try:
            text, p, c = llm.generate(build_rewrite_messages(plan.history, plan.question), max_tokens=48)
            usage["prompt_tokens"] += p
            usage["completion_tokens"] += c
            line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            if line and len(line) <= QA_MAX_QUESTION_CHARS:
                guard["rewrite"] = {"method": "llm", "prompt_version": REWRITE_PROMPT_VERSION}
                return line
        except LlmError as exc:
            guard["rewrite"] = {"method": "rules", "llm_error": str(exc)[:200]}
            return rewrite_followup(plan.history, plan.question)
    guard["rewrite"] = {"method": "rules"}
    return rewrite_followup(plan.history, plan.question)


def qa_run(plan: QaPlan) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events of one answer (see the module docstring): ``delta``..., [``reset``, ``delta``...],
    ``citations``, ``final``.

    The final event's payload is the API response (see module docstring); the QaRecord is
    written before it is yielded. Backend outages (vector store, embedder) raise
    ``ServiceUnavailable`` before any event; an LLM outage falls back to the extractive answer.
    """
    from inference.embedding import InferenceError, InferenceUnavailable
    from inference.vectorstore import VectorStoreError

    t_start = time.perf_counter()
    tenant = plan.tenant
    llm = get_llm()
    redact_answers = bool(tenant_setting(tenant, "redact_pii_in_answers", False))
    usage: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0}
    q_finding = detect_injection(plan.question)
    guard: dict[str, Any] = {
        "question_injection": {
            "detected": q_finding is not None,
            "rules": sorted(q_finding.rules) if q_finding else [],
            "action": (
                "answered from document text only; the question was not sent to a language model"
                if q_finding
                else "none"
            ),
        },
        "chunk_injection": [],
        "citations": {},
        "pii": {"answer_redaction": redact_answers, "redacted_in_answer": 0},
        "fallback": None,
    }

    # -- retrieve ------------------------------------------------------------------------------
    t_ret = time.perf_counter()
    standalone = _rewrite(plan, llm, usage, guard)
    try:
        result = chunks_retrieve(
            tenant=tenant,
            query=standalone,
            store=get_vector_store(),
            embedder=get_embedder(),
            document_ids=plan.document_ids,
            config=RetrievalConfig(top_k=plan.top_k),
        )
    except (VectorStoreError, InferenceUnavailable, InferenceError) as exc:
        raise ServiceUnavailable("Search is unavailable right now; try again in a moment.") from exc
    retrieve_ms = _ms(t_ret)
    chunks = result.chunks
    scores = {c.chunk_id: c.score for c in chunks}
    texts = {c.chunk_id: c.text for c in chunks}
    retrieved_log = []
    for c in chunks:
        finding = detect_injection(c.text)
        if finding is not None:
            guard["chunk_injection"].append(
                {
                    "chunk_id": c.chunk_id,
                    "document_id": c.document_id,
                    "rules": sorted(finding.rules),
                    "action": "quoted inert in the prompt; never quoted in the answer",
                }
            )
        retrieved_log.append(
            {
                "chunk_id": c.chunk_id,
                "document_id": c.document_id,
                "page": c.page,
                "score": round(c.score, 6),
                "injection": finding is not None,
            }
        )
    usage["retrieved_chunks"] = len(chunks)
    usage["retrieval"] = {
        "fusion": "rrf(dense, bm25)",
        "top_k": plan.top_k,
        "dropped_stale": result.dropped_stale,
        "reranked": result.reranked,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
    }

    notice = ""
    if not chunks:
        if plan.document_ids is not None:
            notice = RESTRICTED_GONE_NOTICE if not _any_ready(tenant, plan.document_ids) else NOTHING_RELEVANT_NOTICE
        elif not _any_ready(tenant, None):
            notice = NO_DOCUMENTS_NOTICE
        else:
            notice = NOTHING_RELEVANT_NOTICE

    # -- answer --------------------------------------------------------------------------------
    t_gen = time.perf_counter()
    gate = _PiiGate(redact_answers)
    model = EXTRACTIVE_MODEL
    prompt_version = ""
    final_text: str | None = None
    citations: list[Citation] = []
    flagged = False
    validation = None
    removed_markers: list[int] = []
    use_llm = llm is not None and chunks and q_finding is None
    if use_llm:
        assert llm is not None
        raw_parts: list[str] = []
        streamed: list[str] = []
        prompt_tokens = completion_tokens = 0
        max_tokens = _llm_max_tokens()
        try:
            for delta in llm.stream(build_qa_messages(standalone, chunks), max_tokens=max_tokens):
                raw_parts.append(delta.text)
                prompt_tokens, completion_tokens = delta.prompt_tokens, delta.completion_tokens
                out = gate.push(delta.text)
                if out:
                    streamed.append(out)
                    yield "delta", {"text": out}
            tail = gate.flush()
            if tail:
                streamed.append(tail)
                yield "delta", {"text": tail}
            raw = "".join(raw_parts).strip()
            model, prompt_version = llm.model_id, PROMPT_VERSION
            if raw.startswith(NOT_FOUND_TEXT) or not raw:
                final_text = NOT_FOUND_TEXT
                notice = notice or NOTHING_RELEVANT_NOTICE
            else:
                final_text, citations, flagged, removed_markers = _ground(
                    raw,
                    prompt_chunks(chunks),
                    question=standalone,
                    truncated=completion_tokens >= max_tokens,
                    guard=guard,
                )
        except LlmError as exc:
            guard["fallback"] = f"extractive: the language model is unavailable ({str(exc)[:160]})"
            final_text = None
        usage["prompt_tokens"] += prompt_tokens
        usage["completion_tokens"] += completion_tokens
        if final_text is None:
            # The streamed LLM text is withdrawn; the extractive answer follows.
            yield "reset", {"reason": guard["fallback"]}
        else:
            shown = final_text if not redact_answers else redact_pii(final_text).text
            if " ".join("".join(streamed).split()) != " ".join(shown.split()):
                # The grounded answer is not what streamed (markers moved or added, sentences
                # removed): withdraw the raw tokens and send the checked text.
                yield "reset", {"reason": "grounded: the answer was checked against the passages and re-cited"}
                for sentence in _sentences(shown):
                    yield "delta", {"text": sentence + " "}
    if final_text is None:
        answer = _extract(plan, standalone, chunks) if chunks else None
        if answer is None or not answer.found:
            final_text = NOT_FOUND_TEXT
            if not notice:
                notice = NOTHING_RELEVANT_NOTICE
        else:
            validation = validate_citations(answer.text, answer.citations, set(texts), chunk_texts=texts)
            final_text, citations = validation.text, validation.citations
            flagged = flagged or validation.flagged
            if not citations:
                final_text = NOT_FOUND_TEXT
        if not use_llm or guard["fallback"]:
            model, prompt_version = EXTRACTIVE_MODEL, ""
        for sentence in _sentences(final_text if not redact_answers else redact_pii(final_text).text):
            yield "delta", {"text": sentence + " "}
    generate_ms = _ms(t_gen)

    found = final_text != NOT_FOUND_TEXT and bool(citations)
    if not found:
        final_text, citations = NOT_FOUND_TEXT, []
    guard["citations"].update(
        {
            "validated": True,
            "flagged": flagged,
            "removed_markers": validation.removed_markers if validation else removed_markers,
            "uncited_sentences": validation.uncited_sentences if validation else 0,
        }
    )
    shown_text = final_text
    cit_json = [_citation_json(c, scores) for c in citations]
    if redact_answers:
        red = redact_pii(final_text)
        shown_text = red.text
        n = len(red.findings)
        for cj in cit_json:
            r = redact_pii(cj["quote"])
            cj["quote"] = r.text
            n += len(r.findings)
        guard["pii"]["redacted_in_answer"] = n
    yield "citations", {"citations": cit_json, "flagged": flagged}

    latency = {"retrieve": retrieve_ms, "generate": generate_ms, "total": _ms(t_start)}
    record = _record_write(
        plan=plan,
        standalone=standalone,
        answer=final_text,
        found=found,
        citations=[_citation_json(c, scores) for c in citations],
        retrieved=retrieved_log,
        guard=guard,
        usage=usage,
        latency=latency,
        model=model,
        prompt_version=prompt_version,
        flagged=flagged,
    )
    response = {
        "id": record.pk,
        "answer": shown_text,
        "citations": cit_json,
        "conversation_id": record.conversation_id,
        "found": found,
        "flagged": flagged,
        "notice": notice,
        "standalone_query": standalone if plan.history else "",
        "guardrails": guard,
        "usage": usage,
        "latency_ms": latency,
        "model": model,
        "prompt_version": prompt_version,
    }
    yield "final", response


def _ground(
    raw: str, shown: list[RetrievedChunk], *, question: str, truncated: bool, guard: dict[str, Any]
) -> tuple[str | None, list[Citation], bool, list[int]]:
    """Ground the model's answer on the passages it was shown; ``(text, citations, flagged,
    removed markers)``, text None when nothing supported is left (``guard["fallback"]`` set).

    Removed sentences are reported PII-redacted: the guardrails dict is stored as is.
    """
    cfg = GroundingConfig()
    g = ground_answer(raw, shown, question=question, truncated=truncated, config=cfg)
    guard["grounding"] = {
        "method": "lexical-idf",
        "min_support": cfg.min_support,
        "llm_markers": len(MARKER.findall(raw)),
        "cited_sentences": g.cited_sentences,
        "grounded_sentences": g.grounded_sentences,
        "removed_unsupported_sentences": [redact_pii(t).text for t in g.removed_unsupported_sentences],
        "removed_duplicate_sentences": g.removed_duplicate_sentences,
        "removed_incomplete_sentence": g.removed_incomplete_sentence,
    }
    if not g.citations:
        guard["fallback"] = "extractive: no sentence of the language model's answer is supported by the passages"
        guard["citations"]["llm_removed_markers"] = g.removed_markers
        return None, [], True, []
    return g.text, g.citations, g.flagged, g.removed_markers


def _extract(plan: QaPlan, standalone: str, chunks: list[RetrievedChunk]) -> Answer:
    """Extractive answer. A follow-up is answered from its own words first (the carried-over
    terms of the standalone query found the passages, but they would also pull the previous
    turn's sentence back in); the standalone query is the fallback."""
    if standalone != plan.question:
        own = answer_extractive(plan.question, chunks)
        if own.found:
            return own
    return answer_extractive(standalone, chunks)


def _llm_max_tokens() -> int:
    return int(settings.QA_LLM_MAX_TOKENS)


def _any_ready(tenant: Tenant, document_ids: Sequence[int] | None) -> bool:
    qs = Document.objects.for_tenant(tenant).filter(status=Document.Status.READY, generation__gt=0)
    if document_ids is not None:
        qs = qs.filter(pk__in=list(document_ids))
    return qs.exists()


def _redact(text: str) -> tuple[str, int]:
    r = redact_pii(text)
    return r.text, len(r.findings)


def _record_write(
    *,
    plan: QaPlan,
    standalone: str,
    answer: str,
    found: bool,
    citations: list[dict[str, Any]],
    retrieved: list[dict[str, Any]],
    guard: dict[str, Any],
    usage: dict[str, Any],
    latency: dict[str, float],
    model: str,
    prompt_version: str,
    flagged: bool,
) -> QaRecord:
    """Write the turn (creating the conversation on the first one). Stored text is PII-redacted.

    Validation (``full_clean``, which reads) runs before the transaction, so the transaction
    starts with a write: on SQLite a deferred transaction that reads first cannot be upgraded
    to a writer while another request commits ("database is locked"), whatever the timeout.
    """
    actor = plan.actor
    token = actor.token
    user = actor.user if getattr(actor.user, "pk", None) else None
    question, n_q = _redact(plan.question)
    query, n_s = _redact(standalone)
    stored_answer, n_a = _redact(answer)
    stored_cits = []
    n_c = 0
    for c in citations:
        quote, n = _redact(c["quote"])
        n_c += n
        stored_cits.append({**c, "quote": quote})
    guard["pii"]["redacted_in_log"] = n_q + n_s + n_a + n_c
    conversation = plan.conversation
    new_conversation = conversation is None
    if conversation is None:
        conversation = Conversation(
            tenant=plan.tenant,
            title=question[:120],
            created_by=user,
            created_by_token=token,
            document_ids=plan.document_ids or [],
        )
        conversation.full_clean()
    record = QaRecord(
        tenant=plan.tenant,
        question=question,
        standalone_query=query if plan.history else "",
        answer=stored_answer,
        found=found,
        citations=stored_cits,
        retrieved=retrieved,
        guardrails={**guard, "pii": dict(guard["pii"])},
        usage=usage,
        latency_ms=latency,
        model=model[:200],
        prompt_version=prompt_version,
        flagged=flagged,
        asked_by=user,
        asked_by_token=token,
    )
    record.full_clean(exclude=["conversation"])
    with transaction.atomic():
        if new_conversation:
            conversation.save()
        else:
            Conversation.objects.for_tenant(plan.tenant).filter(pk=conversation.pk).update(updated_at=timezone.now())
        record.conversation = conversation
        record.save()
    return record


def qa_ask(
    *,
    tenant: Tenant,
    actor: Actor,
    question: str,
    document_ids: Sequence[int] | None = None,
    top_k: int | None = None,
    conversation_id: int | None = None,
) -> dict[str, Any]:
    """Ask and wait for the whole answer; returns the API response dict (see :func:`qa_run`)."""
    plan = qa_prepare(
        tenant=tenant,
        actor=actor,
        question=question,
        document_ids=document_ids,
        top_k=top_k,
        conversation_id=conversation_id,
    )
    final: dict[str, Any] = {}
    for kind, data in qa_run(plan):
        if kind == "final":
            final = data
    return final
