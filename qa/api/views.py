"""Q&A API: ask (plain or streamed as Server-Sent Events), the Q&A log, feedback, conversations.

Views only authenticate (tenant base), validate input, call one service or selector and
serialize; the visibility rules live in ``qa.selectors``, the SSE framing in ``qa.api.sse``.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from portal.exceptions import ApplicationError
from qa.api.serializers import (
    ConversationDetailSerializer,
    ConversationSerializer,
    ConversationShareInputSerializer,
    QaAnswerSerializer,
    QaAskInputSerializer,
    QaFeedbackInputSerializer,
    QaFeedbackSerializer,
    QaRecordSerializer,
)
from qa.api.sse import answer_event_stream
from qa.selectors import (
    conversation_get,
    conversation_list,
    conversation_turns,
    qa_feedback_list,
    qa_record_get,
    qa_record_list,
)
from qa.services.ask import qa_answer, qa_prepare
from qa.services.conversations import (
    conversation_delete,
    conversation_export,
    conversation_export_markdown,
    conversation_share,
)
from qa.services.feedback import qa_feedback_create
from tenants.api.base import TenantScopedViewSet


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class QaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """``POST /qa/`` asks; ``GET /qa/`` and ``/qa/{id}/`` read the caller's visible Q&A log."""

    required_capability = {
        "list": "qa.read",
        "retrieve": "qa.read",
        "create": "qa.ask",
        "feedback": "qa.read",
        "add_feedback": "qa.ask",
    }
    serializer_class = QaRecordSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return qa_record_list(tenant=self.tenant, user=self.actor.user)

    @extend_schema(
        request=QaAskInputSerializer,
        responses={200: QaAnswerSerializer},
        parameters=[OpenApiParameter("stream", bool, description="Answer as text/event-stream (SSE)")],
    )
    def create(self, request: Request) -> Response | StreamingHttpResponse:
        """Ask a question about the tenant's documents; the answer cites its sources as [n]."""
        data = QaAskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        trace = qa_prepare(
            tenant=self.tenant,
            actor=self.actor,
            question=v["question"],
            document_ids=v.get("document_ids"),
            top_k=v.get("top_k"),
            conversation_id=v.get("conversation_id"),
        )
        if _truthy(request.query_params.get("stream")):
            return answer_event_stream(trace)
        return Response(QaAnswerSerializer(qa_answer(trace)).data, status=status.HTTP_200_OK)

    @extend_schema(responses={200: QaFeedbackSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def feedback(self, request: Request, pk: str | None = None) -> Response:
        """Feedback given on this answer."""
        record = qa_record_get(tenant=self.tenant, user=self.actor.user, record_id=pk)
        rows = qa_feedback_list(tenant=self.tenant, record=record)
        return Response(QaFeedbackSerializer(rows, many=True).data)

    @extend_schema(request=QaFeedbackInputSerializer, responses={201: QaFeedbackSerializer})
    @feedback.mapping.post
    def add_feedback(self, request: Request, pk: str | None = None) -> Response:
        """Rate an answer up or down, with an optional comment."""
        record = qa_record_get(tenant=self.tenant, user=self.actor.user, record_id=pk)
        data = QaFeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fb = qa_feedback_create(tenant=self.tenant, actor=self.actor, record=record, **data.validated_data)
        return Response(QaFeedbackSerializer(fb).data, status=status.HTTP_201_CREATED)


class ConversationViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """Conversations: the caller's own and those shared in the tenant."""

    required_capability = {
        "list": "qa.read",
        "retrieve": "qa.read",
        "export": "qa.read",
        "destroy": "qa.ask",
        "share": "qa.ask",
    }
    serializer_class = ConversationSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return conversation_list(tenant=self.tenant, user=self.actor.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "user": self.actor.user}

    def _conversation(self, pk: str | None):  # type: ignore[no-untyped-def]
        return conversation_get(tenant=self.tenant, user=self.actor.user, conversation_id=pk)

    @extend_schema(responses={200: ConversationDetailSerializer})
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        conv = self._conversation(pk)
        turns = conversation_turns(tenant=self.tenant, conversation=conv)
        ser = ConversationDetailSerializer(conv, context={"user": self.actor.user, "turns": turns})
        return Response(ser.data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        conversation_delete(tenant=self.tenant, actor=self.actor, conversation=self._conversation(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ConversationShareInputSerializer, responses={200: ConversationSerializer})
    @action(detail=True, methods=["post"])
    def share(self, request: Request, pk: str | None = None) -> Response:
        """Share the conversation with the tenant's members (``{"shared": false}`` to stop)."""
        data = ConversationShareInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conv = conversation_share(
            tenant=self.tenant, actor=self.actor, conversation=self._conversation(pk), **data.validated_data
        )
        return Response(ConversationSerializer(conv, context={"user": self.actor.user}).data)

    @extend_schema(
        parameters=[OpenApiParameter("fmt", str, enum=["md", "json"], description="Markdown (default) or JSON")],
        responses={(200, "text/markdown"): str, (200, "application/json"): dict},
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The conversation's evidence trail: questions, answers, citations, retrieved chunks,
        model and prompt versions, guardrail decisions."""
        fmt = (request.query_params.get("fmt") or "md").lower()
        if fmt not in ("md", "json"):
            raise ApplicationError("fmt must be 'md' or 'json'.")
        conv = self._conversation(pk)
        return export_response(tenant=self.tenant, conversation=conv, fmt=fmt)


def export_response(*, tenant: Any, conversation: Any, fmt: str) -> HttpResponse:
    """The download for one conversation export (shared by the API and the console)."""
    if fmt == "json":
        body = json.dumps(conversation_export(tenant=tenant, conversation=conversation), indent=2, ensure_ascii=False)
        resp = HttpResponse(body, content_type="application/json; charset=utf-8")
    else:
        body = conversation_export_markdown(tenant=tenant, conversation=conversation)
        resp = HttpResponse(body, content_type="text/markdown; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.{fmt}"'
    return resp
