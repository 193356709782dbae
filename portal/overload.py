"""Load shedding: answer 503 + Retry-After quickly instead of letting excess requests queue.

Under overload a server that queues everything answers every request late: clients time out,
retry, and the server keeps computing answers nobody waits for (bench/load_recs.py at load 13-23
showed 5-40 % of the offered rate achieved and tens of thousands of 30 s timeouts). Shedding keeps
the requests it does serve fast and tells the rest when to come back.

Two bounds, per process, on API requests (``/api/``) only; health checks, ``/metrics``, the
console, the admin and logins are never shed:

- **queue time** (``OVERLOAD_MAX_QUEUE_MS``): how long the request waited for a worker thread
  before the application saw it. gunicorn's thread worker does not say; the portal's worker class
  (:mod:`portal.gunicorn_worker`, used by ``portal/gunicorn.conf.py``) stamps each connection when
  it is queued for a thread. Behind a proxy, a trusted proxy's ``X-Request-Start: t=<epoch>``
  header (nginx ``t=${msec}``; seconds, milli- or microseconds) counts too, and the larger of the
  two wins. A request that already waited longer than the bound is answered 503 at once: by then
  its client is likely to give up, and computing it only delays the requests behind it.
- **in flight** (``OVERLOAD_MAX_INFLIGHT``): API requests being computed at once in this process
  (useful with many threads or an async server, where requests do not wait for a thread first).

0 turns a bound off. Shed requests are counted in ``portal_requests_shed_total{reason}``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from portal import metrics
from portal.context import current_request
from portal.middleware import peer_is_trusted_proxy

log = logging.getLogger(__name__)

__all__ = ["OverloadMiddleware", "queued_since", "request_queue_ms", "set_queued_since"]

_local = threading.local()


def set_queued_since(monotonic_s: float | None) -> None:
    """Called by the server worker thread before it handles a connection (None after)."""
    _local.queued_since = monotonic_s


def queued_since() -> float | None:
    return getattr(_local, "queued_since", None)


def _proxy_queue_ms(request: HttpRequest) -> float | None:
    """Milliseconds since a trusted proxy's X-Request-Start, or None (absent, untrusted, bad)."""
    raw = request.META.get("HTTP_X_REQUEST_START", "").strip()
    # Only the proxy in front of us may say when it received the request; from anyone else the
    # header is a claim that could shed a victim's requests or hide real queueing.
    if not raw or not peer_is_trusted_proxy(request):
        return None
    value = raw[2:] if raw.startswith("t=") else raw
    try:
        stamp = float(value)
    except ValueError:
        return None
    # nginx writes seconds with a fraction (t=1733400000.123); others milli- or microseconds
    while stamp > 1e11:
        stamp /= 1000.0
    waited = (time.time() - stamp) * 1000.0
    return waited if 0.0 <= waited < 3_600_000 else None


def request_queue_ms(request: HttpRequest) -> float | None:
    """How long ``request`` waited before this process started on it, when anyone measured it."""
    waits = []
    since = queued_since()
    if since is not None:
        waits.append((time.monotonic() - since) * 1000.0)
    proxy = _proxy_queue_ms(request)
    if proxy is not None:
        waits.append(proxy)
    return max(waits) if waits else None


def _drain(request: HttpRequest) -> None:
    """Read and drop the request body before answering: a server that answers an upload early and
    closes with unread bytes resets the connection, and the client sees a network error instead of
    the 503 telling it when to retry (measured: bench/load_uploads.py lost uploads that way).
    Bodies over ``OVERLOAD_DRAIN_MAX_BYTES`` are not read (their client may see a reset)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if not 0 < length <= int(getattr(settings, "OVERLOAD_DRAIN_MAX_BYTES", 0) or 0):
        return
    with contextlib.suppress(OSError, ValueError):
        while request.read(65536):
            pass


def _sheddable(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/schema")


class OverloadMiddleware:
    """Sheds API requests beyond the queue-time and in-flight bounds (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._lock = threading.Lock()
        self._inflight = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _sheddable(request.path):
            return self.get_response(request)
        max_queue_ms = float(getattr(settings, "OVERLOAD_MAX_QUEUE_MS", 0) or 0)
        if max_queue_ms > 0:
            waited = request_queue_ms(request)
            if waited is not None and waited > max_queue_ms:
                return self._shed(request, "queue", f"waited {waited:.0f} ms for a worker")
        max_inflight = int(getattr(settings, "OVERLOAD_MAX_INFLIGHT", 0) or 0)
        with self._lock:
            if 0 < max_inflight <= self._inflight:
                busy = True
            else:
                busy = False
                self._inflight += 1
        if busy:
            return self._shed(request, "inflight", f"{max_inflight} requests already in flight")
        try:
            return self.get_response(request)
        finally:
            with self._lock:
                self._inflight -= 1

    def _shed(self, request: HttpRequest, reason: str, why: str) -> HttpResponse:
        _drain(request)
        retry_after = max(1, int(getattr(settings, "OVERLOAD_RETRY_AFTER_S", 1) or 1))
        metrics.REQUESTS_SHED.labels(reason=reason).inc()
        log.warning("shed %s %s: %s", request.method, request.path, why, extra={"shed_reason": reason})
        response = JsonResponse(
            {
                "detail": f"The service is busy right now; please retry in {retry_after} second"
                f"{'s' if retry_after != 1 else ''}.",
                "code": "overloaded",
                "request_id": current_request.get().request_id,
                "retry_after_s": retry_after,
            },
            status=503,
        )
        response["Retry-After"] = str(retry_after)
        return response
