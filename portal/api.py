"""API plumbing: pagination and the one exception handler (JSON errors a person can read)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_filters import BooleanFilter, CharFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.context import current_request
from portal.exceptions import ApplicationError

MAX_OFFSET = 2**31 - 1


def _query_int(request: Any, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    """The integer query parameter `name`, None when absent; a 400 naming it when malformed."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise exceptions.ValidationError({name: f"must be a whole number, got {raw[:40]!r}."}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise exceptions.ValidationError({name: f"must be {bound}."})
    return value


class DefaultPagination(LimitOffsetPagination):
    """`?limit=&offset=`: a malformed or negative value is a 400 (DRF would silently fall back to
    the default page, so a client's bug would look like a short list); `limit` above
    `max_limit` is clamped, as documented."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request: Any) -> int:
        value = _query_int(request, self.limit_query_param, minimum=1)
        return self.default_limit if value is None else min(value, self.max_limit)

    def get_offset(self, request: Any) -> int:
        value = _query_int(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET)
        return value or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.limit_query_param:
                param["schema"] = {"type": "integer", "minimum": 1}
            elif param["name"] == self.offset_query_param:
                param["schema"] = {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
        return params


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        msg = _first_message(value)
        return msg if key in ("non_field_errors", "detail") else f"{key}: {msg}"
    return str(detail)


def retry_after_headers(exc: ApplicationError) -> dict[str, str] | None:
    """``Retry-After`` for an error that says when to come back (quota, throttle, busy), else None."""
    retry_after = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error is `{"detail": <sentence>, "code": <slug>, ...}` plus the request id."""
    request_id = current_request.get().request_id
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra, "request_id": request_id}
        return Response(body, status=exc.status_code, headers=retry_after_headers(exc))
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


BOOLEAN_WORDS = frozenset({"true", "false", "True", "False", "1", "0"})


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, minus its form leniency: a filter given but empty (`?until=`) or a boolean
    that is not true/false (`?active=null`) is a 400 naming the parameter, not "no filter"."""

    def get_filterset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        problems: dict[str, str] = {}
        for name, flt in filterset.filters.items():
            if name not in request.query_params or isinstance(flt, CharFilter):
                continue
            values = request.query_params.getlist(name)
            if len(values) > 1:
                problems[name] = "give it once."
            elif values[0].strip() == "":
                problems[name] = "must not be empty when given."
            elif isinstance(flt, BooleanFilter) and values[0] not in BOOLEAN_WORDS:
                problems[name] = "must be true or false."
        if problems:
            raise exceptions.ValidationError(problems)
        return filterset


def _strict_char_to_internal_value(self: serializers.CharField, data: Any) -> str:
    # DRF turns a JSON number into a string ("0"); the OpenAPI says string, so refuse it.
    if not isinstance(data, str):
        self.fail("invalid")
    return _drf_char_to_internal_value(self, data)


_drf_char_to_internal_value = serializers.CharField.to_internal_value


def install_strict_strings() -> None:
    """Make every DRF CharField (and its subclasses: email, slug, URL, choice-free text) accept
    only JSON strings. Called once from `tenants.apps.TenantsConfig.ready()`."""
    serializers.CharField.to_internal_value = _strict_char_to_internal_value  # type: ignore[method-assign]
