"""The trace of one answer: every input, decision and measurement of the pipeline, in typed fields.

``qa.services.ask.qa_prepare`` creates it from a validated question; each stage of
``qa.services.pipeline`` (retrieve -> generate -> ground -> redact -> record) fills its own
section below and reads only the sections before it. The stored ``QaRecord`` and the API
response (``qa.api.serializers.QaAnswerSerializer``) are both built from a finished trace, and
their JSON parts come from the methods here, so the two never disagree:
``guardrails_json`` (the decisions an auditor reads), ``usage_json``, ``latency_json``,
``retrieved_json`` and the citation lists.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from documents.passages import RetrievedChunk
from documents.retrieval import RetrievalResult
from qa.answering.grounding import GroundingConfig, GroundingResult
from qa.answering.types import NOT_FOUND_TEXT, Citation
from qa.guardrails.injection import InjectionFinding
from qa.models import Conversation, QaRecord
from tenants.actors import Actor
from tenants.models import Tenant

__all__ = [
    "EXTRACTIVE_MODEL",
    "QA_MAX_QUESTION_CHARS",
    "AnswerTrace",
    "ChunkInjection",
    "Grounding",
    "Redaction",
    "Rewrite",
]

QA_MAX_QUESTION_CHARS = 2000
EXTRACTIVE_MODEL = "extractive-v1"
QUESTION_INJECTION_ACTION = "answered from document text only; the question was not sent to a language model"
CHUNK_INJECTION_ACTION = "quoted inert in the prompt; never quoted in the answer"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """How a follow-up became a standalone query: by the LLM, or by rules (with the LLM's error
    when it failed)."""

    method: str  # "llm" | "rules"
    prompt_version: str | None = None
    llm_error: str | None = None

    def as_json(self) -> dict[str, str]:
        out = {"method": self.method}
        if self.prompt_version is not None:
            out["prompt_version"] = self.prompt_version
        if self.llm_error is not None:
            out["llm_error"] = self.llm_error
        return out


@dataclass(frozen=True, slots=True)
class ChunkInjection:
    """A retrieved passage that carries a prompt injection (it is quoted inert, never cited)."""

    chunk_id: Hashable
    document_id: Hashable
    rules: list[str]


@dataclass(frozen=True, slots=True)
class Grounding:
    """The grounding of the model's answer: the config it ran with, the model's own marker count
    and the result (sentences kept, re-cited, removed)."""

    config: GroundingConfig
    llm_markers: int
    result: GroundingResult


@dataclass(frozen=True, slots=True)
class Redaction:
    """PII-redacted copies (redact stage). ``shown_*`` is what the asker sees (redacted only when
    the tenant's ``redact_pii_in_answers`` is on); ``stored_*`` is what the log keeps (always
    redacted). Quotes are aligned with ``AnswerTrace.citations``."""

    shown_answer: str
    shown_quotes: list[str]
    in_answer: int
    stored_question: str
    stored_query: str
    stored_answer: str
    stored_quotes: list[str]
    stored_removed_sentences: list[str]
    in_log: int


@dataclass(eq=False)
class AnswerTrace:
    # -- the validated question (qa_prepare) ---------------------------------------------------
    tenant: Tenant
    actor: Actor
    question: str
    top_k: int
    document_ids: list[int] | None  # None: every document of the tenant
    conversation: Conversation | None  # None: the first turn of a new conversation
    history: list[tuple[str, str]] = field(default_factory=list)  # earlier (question, answer), oldest first
    redact_answers: bool = False  # the tenant's redact_pii_in_answers setting

    # -- retrieve --------------------------------------------------------------------------------
    question_injection: InjectionFinding | None = None
    standalone_query: str = ""  # the question itself on a first turn
    rewrite: Rewrite | None = None  # follow-ups only
    retrieval: RetrievalResult | None = None
    chunk_injections: list[ChunkInjection] = field(default_factory=list)
    notice: str = ""  # why nothing could be found, for the asker

    # -- generate --------------------------------------------------------------------------------
    model: str = EXTRACTIVE_MODEL
    prompt_version: str = ""
    llm_used: bool = False  # the model was asked to answer (it may have failed)
    llm_text: str | None = None  # the model's raw answer; None when it was not asked or failed
    llm_truncated: bool = False  # the model stopped at the token budget
    streamed: list[str] = field(default_factory=list)  # the deltas sent while the model wrote
    fallback: str | None = None  # why the extractive answer replaced the model's
    prompt_tokens: int = 0
    completion_tokens: int = 0

    # -- ground ----------------------------------------------------------------------------------
    grounding: Grounding | None = None  # the model's answer was grounded
    answer: str = NOT_FOUND_TEXT  # verbatim-checked; NOT_FOUND_TEXT exactly when not found
    citations: list[Citation] = field(default_factory=list)
    found: bool = False
    flagged: bool = False  # a marker, citation or sentence had to be removed
    removed_markers: list[int] = field(default_factory=list)
    llm_removed_markers: list[int] | None = None  # markers of a model answer that was dropped whole
    uncited_sentences: int = 0

    # -- redact ----------------------------------------------------------------------------------
    redaction: Redaction | None = None

    # -- record ----------------------------------------------------------------------------------
    record: QaRecord | None = None

    # -- timing (milliseconds) -------------------------------------------------------------------
    retrieve_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0

    # -- derived views -----------------------------------------------------------------------------

    @property
    def chunks(self) -> list[RetrievedChunk]:
        return self.retrieval.chunks if self.retrieval is not None else []

    @property
    def is_follow_up(self) -> bool:
        return bool(self.history)

    @property
    def rewritten_query(self) -> str:
        """The standalone query of a follow-up; "" on a first turn (it is the question itself)."""
        return self.standalone_query if self.is_follow_up else ""

    @property
    def shown_answer(self) -> str:
        return self._redaction.shown_answer

    @property
    def shown_citations(self) -> list[dict[str, Any]]:
        return self._citations_json(self._redaction.shown_quotes)

    @property
    def stored_citations(self) -> list[dict[str, Any]]:
        return self._citations_json(self._redaction.stored_quotes)

    @property
    def _redaction(self) -> Redaction:
        if self.redaction is None:
            raise RuntimeError("the redact stage has not run on this trace")
        return self.redaction

    def _citations_json(self, quotes: Sequence[str]) -> list[dict[str, Any]]:
        scores = {c.chunk_id: c.score for c in self.chunks}
        # where the quote sits for a reader: "Part II > Line 8", "Table 1, row 4", "footnote 2"
        locations = {c.chunk_id: getattr(c, "location", "") for c in self.chunks}
        return [
            {
                "index": c.n,
                "document_id": c.document_id,
                "document_title": c.document_title,
                "page": c.page,
                "chunk_id": c.chunk_id,
                "score": round(float(scores.get(c.chunk_id, 0.0)), 6),
                "quote": quote,
                # appended last: the keys before it are an ordered contract
                "location": locations.get(c.chunk_id, ""),
            }
            for c, quote in zip(self.citations, quotes, strict=True)
        ]

    def retrieved_json(self) -> list[dict[str, Any]]:
        injected = {i.chunk_id for i in self.chunk_injections}
        return [
            {
                "chunk_id": c.chunk_id,
                "document_id": c.document_id,
                "page": c.page,
                "score": round(c.score, 6),
                "injection": c.chunk_id in injected,
            }
            for c in self.chunks
        ]

    def guardrails_json(self) -> dict[str, Any]:
        """The guardrail decisions as stored on the QaRecord and returned by the API.

        The keys and their order are a contract (exports and auditors read them):
        ``question_injection``, ``chunk_injection``, ``citations``, ``pii``, ``fallback``, then
        ``rewrite`` on follow-ups and ``grounding`` when the model's answer was grounded.
        """
        finding = self.question_injection
        citations: dict[str, Any] = {}
        if self.llm_removed_markers is not None:
            citations["llm_removed_markers"] = self.llm_removed_markers
        citations.update(
            {
                "validated": True,
                "flagged": self.flagged,
                "removed_markers": self.removed_markers,
                "uncited_sentences": self.uncited_sentences,
            }
        )
        redaction = self._redaction
        out: dict[str, Any] = {
            "question_injection": {
                "detected": finding is not None,
                "rules": sorted(finding.rules) if finding else [],
                "action": QUESTION_INJECTION_ACTION if finding else "none",
            },
            "chunk_injection": [
                {
                    "chunk_id": i.chunk_id,
                    "document_id": i.document_id,
                    "rules": i.rules,
                    "action": CHUNK_INJECTION_ACTION,
                }
                for i in self.chunk_injections
            ],
            "citations": citations,
            "pii": {
                "answer_redaction": self.redact_answers,
                "redacted_in_answer": redaction.in_answer,
                "redacted_in_log": redaction.in_log,
            },
            "fallback": self.fallback,
        }
        if self.rewrite is not None:
            out["rewrite"] = self.rewrite.as_json()
        if self.grounding is not None:
            g = self.grounding.result
            out["grounding"] = {
                "method": "lexical-idf",
                "min_support": self.grounding.config.min_support,
                "llm_markers": self.grounding.llm_markers,
                "cited_sentences": g.cited_sentences,
                "grounded_sentences": g.grounded_sentences,
                # Redacted: the guardrails are stored as they are returned.
                "removed_unsupported_sentences": redaction.stored_removed_sentences,
                "removed_duplicate_sentences": g.removed_duplicate_sentences,
                "removed_incomplete_sentence": g.removed_incomplete_sentence,
            }
        return out

    def usage_json(self) -> dict[str, Any]:
        result = self.retrieval
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "retrieved_chunks": len(self.chunks),
            "retrieval": {
                "fusion": "rrf(dense, bm25)",
                "top_k": self.top_k,
                "dropped_stale": result.dropped_stale if result else 0,
                "reranked": result.reranked if result else False,
                "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()} if result else {},
            },
        }

    def latency_json(self) -> dict[str, float]:
        return {"retrieve": self.retrieve_ms, "generate": self.generate_ms, "total": self.total_ms}
