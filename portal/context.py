"""Per-request context (request id, client IP, user agent) for logs and the audit log.

Set by portal.middleware.RequestIdMiddleware; Celery tasks start with an empty context. The
tenant is never kept here: it is always passed explicitly.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""


EMPTY_CONTEXT = RequestContext()  # frozen, so sharing one default is safe
current_request: ContextVar[RequestContext] = ContextVar("current_request", default=EMPTY_CONTEXT)
