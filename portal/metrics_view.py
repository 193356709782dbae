"""The ``/metrics`` view: django-prometheus' exporter behind a network allow-list."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView

from portal.middleware import client_ip


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for scrapers on ``settings.METRICS_ALLOWED_NETWORKS`` only (404 elsewhere):
    it names tenant slugs, which nobody on the internet needs to enumerate."""
    ip = client_ip(request)
    networks = [ipaddress.ip_network(n, strict=False) for n in getattr(settings, "METRICS_ALLOWED_NETWORKS", ())]
    try:
        allowed = ip is not None and any(ipaddress.ip_address(ip) in net for net in networks)
    except ValueError:
        allowed = False
    if not allowed:
        raise Http404("Not found.")
    return ExportToDjangoView(request)
