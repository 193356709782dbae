from __future__ import annotations

import logging

from django.http import HttpRequest

from portal.context import current_request
from portal.middleware import client_ip


class RequestIdFilter(logging.Filter):
    """Adds the current request id and client address to every log record (empty outside a request).

    Django logs 4xx/5xx responses ("Not Found: /x") in its handler after the middleware chain
    has returned, when the ContextVar is already reset; those records carry the request itself
    (`extra={"request": ...}`), whose `request_id` RequestIdMiddleware set.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_request.get()
        request = getattr(record, "request", None)
        request_id = context.request_id
        if not request_id:
            request_id = getattr(request, "request_id", "") or ""
        record.request_id = request_id
        # The same client address the audit log records (one function decides it).
        ip = context.ip
        if not ip and isinstance(request, HttpRequest):
            ip = client_ip(request)
        record.client_ip = ip or ""
        return True
