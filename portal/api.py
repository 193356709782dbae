"""API plumbing: pagination and the one exception handler (JSON errors a person can read)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.context import current_request
from portal.exceptions import ApplicationError


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx/5xx (for OpenAPI ``responses={400: ErrorSerializer, ...}``)."""

    detail = serializers.CharField(help_text="A sentence a person can read.")
    code = serializers.CharField(help_text="A stable slug, e.g. invalid, permission_denied, quota_exceeded.")
    request_id = serializers.CharField(required=False)
    retry_after_s = serializers.IntegerField(required=False, help_text="On 429, also sent as Retry-After.")


class DefaultPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        msg = _first_message(value)
        return msg if key in ("non_field_errors", "detail") else f"{key}: {msg}"
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error is `{"detail": <sentence>, "code": <slug>, ...}` plus the request id."""
    request_id = current_request.get().request_id
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra, "request_id": request_id}
        retry_after = getattr(exc, "retry_after_s", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": _first_message(exc.detail),
            "code": "invalid",
            "errors": exc.detail,
            "request_id": request_id,
        }
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "detail": str(exc.detail) if not isinstance(exc.detail, dict | list) else _first_message(exc.detail),
            "code": codes if isinstance(codes, str) else "error",
            "request_id": request_id,
        }
        wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        if wait is not None:
            response.data["retry_after_s"] = int(wait) + 1
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
