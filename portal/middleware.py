from __future__ import annotations

import functools
import ipaddress
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from portal import metrics
from portal.context import RequestContext, current_request

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# More proxies than this between a client and the portal is a misconfiguration or an attack.
MAX_FORWARDED_HOPS = 20

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_hop(value: str) -> IPAddress | None:
    """One X-Forwarded-For entry as an address ("ip", "ip:port", "[v6]" or "[v6]:port"), or None."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def trusted_proxy_networks() -> tuple[IPNetwork, ...]:
    """settings.TRUSTED_PROXY_NETWORKS parsed (cached per distinct value, so tests may override it)."""
    return _networks(tuple(getattr(settings, "TRUSTED_PROXY_NETWORKS", ()) or ()))


def peer_is_trusted_proxy(request: HttpRequest) -> bool:
    """Is the direct peer (REMOTE_ADDR) one of settings.TRUSTED_PROXY_NETWORKS? Only such a peer's
    claims about the request (X-Forwarded-For, X-Request-Start) are believed."""
    networks = trusted_proxy_networks()
    address = _parse_hop(request.META.get("REMOTE_ADDR") or "") if networks else None
    return address is not None and any(address in net for net in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: THE function for token IP allow-lists, audit IPs, throttles and logs.

    X-Forwarded-For is only a claim made by whoever sent the request. It is believed only when the
    direct peer (REMOTE_ADDR) is one of settings.TRUSTED_PROXY_NETWORKS (default: none, so the
    header is ignored), and then only as far as it was written by trusted proxies: the hops are
    read right to left (each proxy appends the address it saw), trusted proxies are skipped, and
    the first address that is not a trusted proxy is the client. Entries left of that one were
    written by the client itself and are never read. A malformed entry ends the walk at the last
    trusted hop (the proxy that passed it on).
    """
    peer = request.META.get("REMOTE_ADDR") or None
    if peer is None or not peer_is_trusted_proxy(request):
        return peer
    networks = trusted_proxy_networks()
    address = _parse_hop(peer)
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for raw in reversed(hops[-MAX_FORWARDED_HOPS:]):
        hop = _parse_hop(raw)
        if hop is None:
            break
        address = hop
        if not any(hop in net for net in networks):
            break
    return str(address)


class RequestIdMiddleware:
    """Gives every request an id (honouring a sane inbound X-Request-ID) for logs and audit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        inbound = request.headers.get("X-Request-ID", "")
        request_id = inbound if _SAFE_ID.match(inbound) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request.set(
            RequestContext(
                request_id=request_id,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", "")[:255],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = request_id
        return response


class FeatureMetricsMiddleware:
    """Counts and times the tenant-facing feature endpoints for /metrics (portal.metrics).

    The feature comes from the path (``settings.METRICS_FEATURE_PATHS``, a fixed map), the tenant
    from ``request.metrics_tenant_slug``, which the tenant API base sets once it has resolved the
    tenant (so a request for a tenant that does not exist never becomes a label).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefixes = tuple(getattr(settings, "METRICS_FEATURE_PATHS", {}).items())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        feature = next((f for prefix, f in self.prefixes if request.path.startswith(prefix)), None)
        if feature is None:
            return self.get_response(request)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            metrics.observe_feature_request(
                tenant_slug=getattr(request, "metrics_tenant_slug", None),
                tenant_id=getattr(request, "metrics_tenant_id", None),
                token_id=getattr(request, "metrics_token_id", None),
                feature=feature,
                status=status,
                seconds=time.perf_counter() - started,
            )
