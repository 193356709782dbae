"""Cited Q&A over a tenant's documents: validate a question, run the answer pipeline, stream it.

Two steps so that every input error is known before a streamed response starts:
:func:`qa_prepare` validates and resolves everything the caller sent (raising
``ApplicationError``s that map to 400/403/404) into an ``AnswerTrace``; :func:`qa_stream` runs
the stages of ``qa.services.pipeline`` on it (retrieve -> generate -> ground -> redact ->
record) and yields the events of the answer. :func:`qa_answer` is the same run without the
events: the API's JSON answer and its streamed ``final`` event render the same finished trace.

Invariants:
- **Tenant**: every row is read through ``for_tenant(tenant)``; vectors are searched with the
  tenant filter built inside the vector store; ``document_ids`` and ``conversation_id`` are
  resolved through tenant-scoped selectors (another tenant's id is "not found").
- **Citations**: every marker left in the answer resolves to a chunk retrieved for this question
  and every quote is verbatim text of that chunk. An LLM answer is grounded
  (``qa.answering.grounding.ground_answer``): each sentence keeps the model's markers when the
  cited passages support it, gets ``[n]`` of the passage that supports it otherwise, and is
  removed when no passage does (reported in ``guardrails.grounding``; a removal flags the
  answer). When no sentence survives, the extractive answer replaces it (``guardrails.fallback``
  says why).
- **Events** (the API sends them as SSE with the same names): ``delta`` ``{"text"}`` pieces, in
  order; ``reset`` ``{"reason"}`` withdraws every delta sent so far (the client clears the
  answer) and the deltas after it spell the answer again; ``citations`` ``{"citations",
  "flagged"}``; ``final`` (the whole API response, always last). With an LLM the model's tokens
  stream as produced; when the grounded answer differs from them (markers moved or added,
  sentences removed) or the extractive answer replaces it, a ``reset`` follows and the final text
  is re-sent sentence by sentence. Concatenated deltas after the last ``reset`` equal
  ``final.answer`` up to whitespace; ``final`` is authoritative.
- ``found`` is False exactly when the answer is ``NOT_FOUND_TEXT`` (no citations then).
- **Guardrails**: prompt injection in the question keeps the question away from the LLM;
  injected spans in chunks are quoted inert in the prompt and never quoted in an answer; PII is
  always redacted from the stored copies (question, query, answer, quotes) and from the answer
  shown when the tenant's ``redact_pii_in_answers`` setting is on.
- **Log**: every answered question writes exactly one ``QaRecord`` (and creates its
  ``Conversation`` on the first turn) in one transaction at the end of the run, before ``final``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence

from documents.models import Document
from models_registry.backends import get_llm
from portal.exceptions import ApplicationError, NotFound, PermissionDenied
from qa.models import QaRecord
from qa.selectors import conversation_get
from qa.services.pipeline import AnswerEvent, corrections, elapsed_ms, generate, ground, record, redact, retrieve
from qa.services.trace import QA_MAX_QUESTION_CHARS, AnswerTrace
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.selectors import tenant_setting
from usage.services import quota_check

__all__ = ["QA_DEFAULT_TOP_K", "QA_MAX_TOP_K", "QuestionInvalid", "qa_answer", "qa_prepare", "qa_stream"]

QA_DEFAULT_TOP_K = 8
QA_MAX_TOP_K = 20
QA_HISTORY_TURNS = 3


class QuestionInvalid(ApplicationError):
    code = "invalid_question"


def qa_prepare(
    *,
    tenant: Tenant,
    actor: Actor,
    question: str,
    document_ids: Sequence[int] | None = None,
    top_k: int | None = None,
    conversation_id: int | None = None,
) -> AnswerTrace:
    """Validate a question into the trace of its answer; raises QuestionInvalid (400), NotFound
    (404), PermissionDenied (403).

    - the actor holds ``qa.ask`` (the answer is recorded in the tenant's Q&A log);
    - the question is stripped, non-empty and at most ``QA_MAX_QUESTION_CHARS`` characters;
    - every id in ``document_ids`` must be a document of ``tenant`` (any status), else 404 with
      no hint of what exists elsewhere;
    - ``conversation_id`` must be a conversation of ``tenant`` visible to the actor (404) that the
      actor created (403: shared conversations are read-only for the other members).
    """
    access_require(tenant=tenant, actor=actor, capability="qa.ask")
    quota_check(tenant=tenant, feature="qa")
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
    return AnswerTrace(
        tenant=tenant,
        actor=actor,
        question=q,
        top_k=k,
        document_ids=ids,
        conversation=conversation,
        history=history,
        redact_answers=bool(tenant_setting(tenant, "redact_pii_in_answers", False)),
    )


def qa_stream(trace: AnswerTrace) -> Iterator[AnswerEvent]:
    """Run the pipeline on a prepared trace, yielding its events (see the module docstring).

    The ``QaRecord`` is written before ``final``. Backend outages (vector store, embedder) raise
    ``ServiceUnavailable`` before any event; an LLM outage falls back to the extractive answer.
    A trace runs once.
    """
    if trace.retrieval is not None:
        raise RuntimeError("this trace has already run; prepare the question again")
    started = time.perf_counter()
    llm = get_llm()
    retrieve(trace, llm)
    t_generate = time.perf_counter()
    yield from generate(trace, llm)
    ground(trace)
    trace.generate_ms = elapsed_ms(t_generate)
    redact(trace)
    yield from corrections(trace)
    yield AnswerEvent("citations")
    trace.total_ms = elapsed_ms(started)
    record(trace)
    yield AnswerEvent("final")


def qa_answer(trace: AnswerTrace) -> AnswerTrace:
    """The same run as :func:`qa_stream`, for callers that want only the finished trace."""
    deque(qa_stream(trace), maxlen=0)
    return trace
