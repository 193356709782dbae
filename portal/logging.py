from __future__ import annotations

import logging

from portal.context import current_request


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every log record (empty outside a request).

    Django logs 4xx/5xx responses ("Not Found: /x") in its handler after the middleware chain
    has returned, when the ContextVar is already reset; those records carry the request itself
    (`extra={"request": ...}`), whose `request_id` RequestIdMiddleware set.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request.get().request_id
        if not request_id:
            request_id = getattr(getattr(record, "request", None), "request_id", "") or ""
        record.request_id = request_id
        return True
