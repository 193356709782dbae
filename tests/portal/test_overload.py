"""Load shedding (portal/overload.py): beyond the queue-time or in-flight bound an API request is
answered 503 + Retry-After at once; health, metrics and the console are never shed."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from portal import metrics
from portal.overload import OverloadMiddleware, request_queue_ms, set_queued_since


def _shed_count(reason: str) -> float:
    return metrics.REQUESTS_SHED.labels(reason=reason)._value.get()


def _ok(_request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _assert_overloaded(response: HttpResponse) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    body = json.loads(response.content)
    assert body["code"] == "overloaded" and "retry" in body["detail"]


def test_inflight_bound_sheds_the_request_beyond_it_and_counts_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.OVERLOAD_MAX_INFLIGHT = 1
    settings.OVERLOAD_MAX_QUEUE_MS = 0
    entered, release = threading.Event(), threading.Event()

    def slow(_request: HttpRequest) -> HttpResponse:
        entered.set()
        release.wait(10)
        return HttpResponse("slow")

    mw = OverloadMiddleware(slow)
    rf = RequestFactory()
    first: list[HttpResponse] = []
    t = threading.Thread(target=lambda: first.append(mw(rf.get("/api/v1/recommendations/"))))
    t.start()
    assert entered.wait(5)
    before = _shed_count("inflight")
    try:
        _assert_overloaded(mw(rf.get("/api/v1/documents/")))
        assert _shed_count("inflight") == before + 1
        # never shed: health, metrics, console, admin, schema
        for path in ("/healthz", "/readyz", "/metrics", "/console/", "/admin/login/", "/api/schema/"):
            mw_fast = OverloadMiddleware(_ok)
            mw_fast._inflight = 1  # the same saturated state
            assert mw_fast(rf.get(path)).status_code == 200, path
    finally:
        release.set()
        t.join(5)
    assert first[0].status_code == 200
    assert mw(rf.get("/api/v1/documents/")).status_code == 200  # the slot is free again
    assert mw._inflight == 0


def test_bounds_set_to_zero_shed_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    settings.OVERLOAD_MAX_INFLIGHT = 0
    settings.OVERLOAD_MAX_QUEUE_MS = 0
    mw = OverloadMiddleware(_ok)
    mw._inflight = 10_000
    set_queued_since(time.monotonic() - 60)
    try:
        assert mw(RequestFactory().get("/api/v1/documents/")).status_code == 200
    finally:
        set_queued_since(None)


def test_request_that_waited_too_long_for_a_thread_is_shed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.OVERLOAD_MAX_QUEUE_MS = 100
    mw = OverloadMiddleware(_ok)
    rf = RequestFactory()
    before = _shed_count("queue")
    set_queued_since(time.monotonic() - 0.5)  # as the gunicorn worker stamps it
    try:
        assert request_queue_ms(rf.get("/api/v1/documents/")) == pytest.approx(500, abs=100)
        _assert_overloaded(mw(rf.get("/api/v1/documents/")))
        assert mw(rf.get("/healthz")).status_code == 200
    finally:
        set_queued_since(None)
    assert _shed_count("queue") == before + 1
    set_queued_since(time.monotonic() - 0.01)
    try:
        assert mw(rf.get("/api/v1/documents/")).status_code == 200
    finally:
        set_queued_since(None)


@pytest.mark.parametrize("fmt", ["t={:.3f}", "{:.3f}", "t={:.0f}000", "{:.0f}000000"])
def test_x_request_start_counts_only_from_a_trusted_proxy(settings, fmt: str) -> None:  # type: ignore[no-untyped-def]
    settings.OVERLOAD_MAX_QUEUE_MS = 1000
    settings.TRUSTED_PROXY_NETWORKS = ["10.0.0.0/8"]
    mw = OverloadMiddleware(_ok)
    rf = RequestFactory()
    stamp = fmt.format(time.time() - 5)
    from_proxy = rf.get("/api/v1/documents/", HTTP_X_REQUEST_START=stamp, REMOTE_ADDR="10.1.2.3")
    _assert_overloaded(mw(from_proxy))
    # the same claim from a client directly is ignored (it could shed nobody but could hide nothing)
    direct = rf.get("/api/v1/documents/", HTTP_X_REQUEST_START=stamp, REMOTE_ADDR="203.0.113.9")
    assert mw(direct).status_code == 200
    fresh = rf.get("/api/v1/documents/", HTTP_X_REQUEST_START=f"t={time.time():.3f}", REMOTE_ADDR="10.1.2.3")
    assert mw(fresh).status_code == 200
    garbage = rf.get("/api/v1/documents/", HTTP_X_REQUEST_START="t=yesterday", REMOTE_ADDR="10.1.2.3")
    assert mw(garbage).status_code == 200


def test_middleware_is_installed_before_authentication() -> None:
    from django.conf import settings

    stack = settings.MIDDLEWARE
    assert stack.index("portal.overload.OverloadMiddleware") < stack.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )


def test_a_shed_upload_has_its_body_read_first(settings) -> None:  # type: ignore[no-untyped-def]
    """Answering an upload early with unread bytes makes the server reset the connection; the
    client must get the 503, so the body is drained (up to OVERLOAD_DRAIN_MAX_BYTES)."""
    settings.OVERLOAD_MAX_QUEUE_MS = 100
    settings.OVERLOAD_DRAIN_MAX_BYTES = 1_000_000
    mw = OverloadMiddleware(_ok)
    rf = RequestFactory()
    body = b"x" * 300_000
    set_queued_since(time.monotonic() - 1)
    try:
        request = rf.post("/api/v1/documents/", data=body, content_type="application/octet-stream")
        _assert_overloaded(mw(request))
        assert request.read() == b""  # nothing left unread
        big = rf.post("/api/v1/documents/", data=b"y" * 2_000_000, content_type="application/octet-stream")
        _assert_overloaded(mw(big))
        assert len(big.read(10)) == 10  # over the bound: not read
    finally:
        set_queued_since(None)
