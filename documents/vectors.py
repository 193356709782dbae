"""How a tenant's chunks are keyed in the shared vector store (ingestion writes, retrieval reads)."""

from __future__ import annotations


def tenant_vector_key(tenant_pk: int) -> str:
    """The ``tenant`` value every vector of a tenant is written, searched and deleted under."""
    return str(tenant_pk)
