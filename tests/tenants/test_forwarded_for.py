"""X-Forwarded-For is believed only from configured proxies: one function (portal.middleware.client_ip)
decides the client address for token IP allow-lists, audit IPs, throttles and log lines."""

from __future__ import annotations

import logging

import pytest
from django.test import RequestFactory

from portal.context import RequestContext, current_request
from portal.logging import RequestIdFilter
from portal.middleware import client_ip
from tenants.throttling import TenantRateThrottle, TokenRateThrottle
from tests.tenants.helpers import events

PROXY = "10.0.0.2"
PROXIES = ["10.0.0.0/24", "fd00::/8"]


def _ip(remote: str, xff: str | None = None) -> str | None:
    meta = {"REMOTE_ADDR": remote}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    return client_ip(RequestFactory().get("/", **meta))


# -- the function ----------------------------------------------------------------------------------


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_NETWORKS = []
    assert _ip("203.0.113.9", "10.1.0.5") == "203.0.113.9"
    assert _ip(PROXY, "203.0.113.9") == PROXY


def test_a_peer_that_is_not_a_trusted_proxy_cannot_forge_its_address(settings):
    settings.TRUSTED_PROXY_NETWORKS = PROXIES
    assert _ip("198.51.100.7", "10.1.0.5") == "198.51.100.7"
    assert _ip("198.51.100.7", "10.0.0.3, 10.1.0.5") == "198.51.100.7"


def test_the_right_most_untrusted_hop_is_the_client(settings):
    settings.TRUSTED_PROXY_NETWORKS = PROXIES
    # The client sent "XFF: 1.2.3.4" (forged); the proxy appended the address it saw.
    assert _ip(PROXY, "1.2.3.4, 203.0.113.9") == "203.0.113.9"
    # Two trusted proxies in a row are skipped.
    assert _ip(PROXY, "1.2.3.4, 203.0.113.9, 10.0.0.3") == "203.0.113.9"
    # Ports and IPv6 forms some proxies write.
    assert _ip(PROXY, "203.0.113.9:4711") == "203.0.113.9"
    assert _ip(PROXY, "[2001:db8::1]:443") == "2001:db8::1"
    assert _ip("fd00::5", "2001:db8::7") == "2001:db8::7"


def test_edge_cases_fall_back_to_the_last_trusted_hop(settings):
    settings.TRUSTED_PROXY_NETWORKS = PROXIES
    assert _ip(PROXY) == PROXY  # no header
    assert _ip(PROXY, "") == PROXY
    assert _ip(PROXY, "garbage, 10.0.0.3") == "10.0.0.3"  # a malformed hop ends the walk
    assert _ip(PROXY, "10.0.0.4, 10.0.0.3") == "10.0.0.4"  # every hop trusted: the left-most


# -- token IP allow-lists and audit IPs ------------------------------------------------------------


def test_a_forged_header_does_not_pass_a_token_ip_allow_list(viewer_a, make_token, client, settings):
    settings.TRUSTED_PROXY_NETWORKS = []
    plaintext = make_token(viewer_a, ["read"], allowed_ips=["10.1.0.0/16"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    resp = client.get("/api/v1/me/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.0.5", **auth)
    assert resp.status_code == 403 and "203.0.113.9" in resp.json()["detail"]
    denial = events("tenants.permission.denied", viewer_a.tenant)[-1]
    assert denial.ip == "203.0.113.9" and denial.changes["ip"] == "203.0.113.9"  # not the forged address

    # Through the configured proxy the real client address counts, a forged left part does not.
    settings.TRUSTED_PROXY_NETWORKS = PROXIES
    forged = client.get("/api/v1/me/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.1.0.5, 203.0.113.9", **auth)
    assert forged.status_code == 403
    assert events("tenants.permission.denied", viewer_a.tenant)[-1].ip == "203.0.113.9"
    real = client.get("/api/v1/me/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.1.0.5", **auth)
    assert real.status_code == 200


def test_audit_events_record_the_address_client_ip_decides(admin_a, api, settings):
    settings.TRUSTED_PROXY_NETWORKS = PROXIES
    client = api(user=admin_a.user, tenant="acme")
    for remote, xff, expected in [
        ("198.51.100.7", "192.0.2.1", "198.51.100.7"),
        (PROXY, "192.0.2.1, 198.51.100.8", "198.51.100.8"),
    ]:
        resp = client.post(
            "/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=xff
        )
        assert resp.status_code == 201, resp.content
        assert events("tenants.apitoken.created", admin_a.tenant)[-1].ip == expected


# -- throttles and logs ----------------------------------------------------------------------------


@pytest.mark.parametrize("throttle_class", [TokenRateThrottle, TenantRateThrottle])
def test_throttles_identify_clients_by_the_same_function(throttle_class, settings):
    settings.TRUSTED_PROXY_NETWORKS = []
    throttle = throttle_class()
    factory = RequestFactory()
    # DRF's own get_ident would use the whole header: a fresh bucket per forged value.
    a = throttle.get_ident(factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.1.1.1"))
    b = throttle.get_ident(factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="2.2.2.2"))
    assert a == b == "203.0.113.9"
    settings.TRUSTED_PROXY_NETWORKS = PROXIES
    assert throttle.get_ident(factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.1.1.1")) == "1.1.1.1"


def test_log_lines_carry_the_client_address():
    record = logging.LogRecord("portal.test", logging.INFO, __file__, 1, "hello", None, None)
    token = current_request.set(RequestContext(request_id="r1", ip="198.51.100.4"))
    try:
        assert RequestIdFilter().filter(record)
    finally:
        current_request.reset(token)
    assert (record.request_id, record.client_ip) == ("r1", "198.51.100.4")
    # Django's "Not Found" lines are logged after the middleware returned: read the request.
    late = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found", None, None)
    late.request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.44")
    RequestIdFilter().filter(late)
    assert late.client_ip == "192.0.2.44"
