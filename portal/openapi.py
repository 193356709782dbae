"""OpenAPI post-processing: every operation documents the errors the API can answer.

Every error body comes from `portal.api.exception_handler` (`{"detail", "code", "request_id", ...}`),
and most errors can come from any operation: the token check (401), the tenant resolution (400
without `X-Tenant`, 404 for an unknown tenant), the capability check (403), an unknown id (404),
an unsupported method (405), an `Accept` the API cannot produce (406), the throttles (429), and a
backing service that is down (503). Operations with a request body can also answer 409 (a state
conflict), 413 (too large) and 415 (wrong media type). Codes an operation already documents
(via `extend_schema`) are kept as they are.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "ApiError"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error: a sentence, a machine-readable code and the request id.",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, as a sentence."},
        "code": {"type": "string", "description": "Machine-readable error code."},
        "request_id": {"type": "string", "description": "Quote it when reporting a problem."},
        "errors": {"description": "Validation errors per field (400 only)."},
        "retry_after_s": {"type": "integer", "description": "Seconds to wait (429 only)."},
    },
    "required": ["detail", "code"],
    "additionalProperties": True,
}

ANY_OPERATION = {
    "400": "Invalid request (the sentence in `detail` names the field).",
    "401": "Missing, malformed, expired or revoked credentials.",
    "403": "The token or member lacks the capability for this action.",
    "404": "Tenant or object not found (another tenant's objects are never visible).",
    "405": "Method not allowed on this path.",
    "406": "The `Accept` header asks for a media type this operation cannot produce.",
    "429": "Rate limit reached; retry after `retry_after_s` seconds.",
    "503": (
        "A backing service (search, model server, broker) is unavailable, or the server is shedding "
        'load (code "overloaded"); retry after the Retry-After header.'
    ),
}
WITH_BODY = {
    "409": "Conflicts with the object's current state.",
    "413": "Request body or upload too large.",
    "415": "Unsupported request media type.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: add `ApiError` responses to every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = dict(ANY_OPERATION)
            if method in WRITE_METHODS:
                codes.update(WITH_BODY)
            responses = operation["responses"]
            for code, description in codes.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": ref}}}
                )
    return result
