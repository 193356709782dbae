from __future__ import annotations

import logging

from portal.context import current_request


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every log record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request.get().request_id
        return True
