"""Liveness and readiness endpoints (no auth; they reveal nothing tenant-owned).

/readyz checks every dependency this process needs and answers 503 with a JSON body naming the
one that is down. Extra checks are registered by apps (Milvus, Triton) via `register_check`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import metrics

Check = Callable[[], tuple[bool, str]]
_CHECKS: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    _CHECKS[name] = check


def check_database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True, connection.vendor


def check_broker() -> tuple[bool, str]:
    from portal.celery import app

    url = settings.CELERY_BROKER_URL
    if url.startswith(("filesystem://", "memory://")):
        return True, url.split("://")[0]
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return True, conn.transport_cls if isinstance(conn.transport_cls, str) else "ok"


register_check("database", check_database)
register_check("broker", check_broker)

# /metrics reads the same checks as portal_backend_up{backend} (cached between scrapes).
metrics.register_collectors(lambda: dict(_CHECKS))


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    ok = True
    for name, check in _CHECKS.items():
        started = time.perf_counter()
        try:
            passed, detail = check()
        except Exception as exc:
            passed, detail = False, f"{type(exc).__name__}: {exc}"[:300]
        ok = ok and passed
        results[name] = {"ok": passed, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503)
