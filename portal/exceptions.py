"""Domain exceptions raised by services; portal.api.exception_handler maps them to HTTP."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base for expected, user-facing errors. `message` is a sentence a person understands."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "too_large"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "unavailable"


class QuotaExceeded(ApplicationError):
    """429: a tenant quota, budget or token rate is used up; ``retry_after_s`` becomes Retry-After."""

    status_code = 429
    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra={**(extra or {}), "retry_after_s": int(retry_after_s)})
        self.retry_after_s = int(retry_after_s)
