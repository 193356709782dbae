"""/readyz check for Triton: registered only when the portal is configured to use one.

Configured means ``TRITON_URL`` is set (documents/recommendations infer through it) or
``USE_TRITON_LOCAL`` is true (the portal runs its own local tritonserver). Readiness is Triton's
``/v2/health/ready`` (gRPC ServerReady for a grpc:// URL) with a short timeout.
"""

from __future__ import annotations

from django.conf import settings


def triton_url() -> str:
    """The Triton endpoint /readyz probes: TRITON_URL, else the local server's HTTP URL."""
    url = getattr(settings, "TRITON_URL", "") or ""
    if url:
        return url
    if settings.USE_TRITON_LOCAL:
        return f"http://127.0.0.1:{settings.TRITON_LOCAL_HTTP_PORT}"
    return ""


def check_triton() -> tuple[bool, str]:
    from deploy.triton.client import TritonAdmin

    url = triton_url()
    admin = TritonAdmin(url, timeout_s=3.0)
    try:
        ready = admin.server_ready()
    finally:
        admin.close()
    return ready, f"{url} {'ready' if ready else 'not ready or unreachable'}"


def register_triton_check() -> bool:
    """Register the check if Triton is configured; returns whether it did."""
    from portal.health import register_check

    if not triton_url():
        return False
    register_check("triton", check_triton)
    return True
