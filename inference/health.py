"""Readiness probes of the inference backends (one per backend; Django-free).

Each returns ``(ok, detail)`` and never raises: ``portal.health`` shows ``detail`` on /readyz.
"""

from __future__ import annotations

from inference.triton.client import TritonAdmin
from inference.vectorstore import VectorStore

__all__ = ["milvus_ready", "triton_ready"]


def triton_ready(url: str, *, timeout_s: float = 3.0) -> tuple[bool, str]:
    """Triton's ``/v2/health/ready`` (gRPC ServerReady for a ``grpc://`` URL) with a short timeout."""
    admin = TritonAdmin(url, timeout_s=timeout_s)
    try:
        ready = admin.server_ready()
    finally:
        admin.close()
    return ready, f"{url} {'ready' if ready else 'not ready or unreachable'}"


def milvus_ready(store: VectorStore) -> tuple[bool, str]:
    """The vector store answers a cheap call."""
    return (True, store.uri) if store.ping() else (False, f"Milvus at {store.uri} does not answer")
