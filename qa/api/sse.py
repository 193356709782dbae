"""Server-Sent Events for a streamed answer: the framing and the streaming response.

The pipeline yields ``AnswerEvent``s; this adapter renders them (``citations`` and ``final``
from the trace, through the same serializers as the JSON answer) and frames each as one SSE
message. An ``ApplicationError`` after the stream started becomes an ``error`` event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

from portal.exceptions import ApplicationError
from qa.api.serializers import CitationSerializer, QaAnswerSerializer
from qa.services.ask import qa_stream
from qa.services.pipeline import AnswerEvent
from qa.services.trace import AnswerTrace

__all__ = ["answer_event_stream", "sse"]


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event (``data`` as one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


def _payload(event: AnswerEvent, trace: AnswerTrace) -> Any:
    if event.kind == "delta":
        return {"text": event.text}
    if event.kind == "reset":
        return {"reason": event.text}
    if event.kind == "citations":
        return {"citations": CitationSerializer(trace.shown_citations, many=True).data, "flagged": trace.flagged}
    return QaAnswerSerializer(trace).data


def answer_event_stream(trace: AnswerTrace) -> StreamingHttpResponse:
    """Stream the answer of a prepared trace. The first event is computed before the response
    starts, so errors raised while retrieving (503, ...) are still plain HTTP errors."""
    events = qa_stream(trace)
    first = next(events)

    def body() -> Iterator[bytes]:
        yield sse(first.kind, _payload(first, trace))
        try:
            for event in events:
                yield sse(event.kind, _payload(event, trace))
        except ApplicationError as exc:
            yield sse("error", {"detail": exc.message, "code": exc.code})

    resp = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return resp
