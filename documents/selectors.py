"""Read-side queries for documents and chunks; every one starts from ``for_tenant``."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncHour

from documents.models import Chunk, Document
from portal.exceptions import NotFound
from tenants.models import Tenant


def document_list(*, tenant: Tenant, status: str | None = None) -> QuerySet[Document]:
    """The tenant's documents, newest first (optionally one status)."""
    qs = Document.objects.for_tenant(tenant).select_related("uploaded_by")
    if status:
        qs = qs.filter(status=status)
    return qs


def document_get(*, tenant: Tenant, document_id: int) -> Document:
    """One of the tenant's documents; ``NotFound`` (404) for a missing or foreign id."""
    document = Document.objects.for_tenant(tenant).filter(pk=document_id).first()
    if document is None:
        raise NotFound("Document not found.")
    return document


def document_find_duplicate(*, tenant: Tenant, sha256: str) -> Document | None:
    """The oldest of the tenant's documents with these exact bytes, if any."""
    return Document.objects.for_tenant(tenant).filter(sha256=sha256).order_by("created_at", "id").first()


def chunk_list(*, tenant: Tenant, document: Document, generation: int | None = None) -> QuerySet[Chunk]:
    """Chunks of one document, in reading order; the active generation unless one is named."""
    gen = document.generation if generation is None else generation
    return Chunk.objects.for_tenant(tenant).filter(document=document, generation=gen).order_by("ordinal")


def document_counts(*, tenant: Tenant) -> dict[str, int]:
    """{status: count} over the tenant's documents (dashboard card)."""
    rows = Document.objects.for_tenant(tenant).values("status").annotate(n=Count("id")).order_by()
    return {r["status"]: r["n"] for r in rows}


def document_storage(tenant: Tenant) -> dict[str, int]:
    """What the tenant stores (usage pricing and storage quotas): documents, file bytes, and
    vectors (chunks of each document's searchable generation)."""
    docs = Document.objects.for_tenant(tenant).aggregate(n=Count("id"), size=Sum("size_bytes"))
    vectors = Chunk.objects.for_tenant(tenant).filter(generation=F("document__generation")).count()
    return {"documents": int(docs["n"] or 0), "bytes": int(docs["size"] or 0), "vectors": int(vectors)}


def ingestion_hourly(*, tenant: Tenant, since: datetime) -> dict[str, dict[datetime, int]]:
    """Documents uploaded, ingested (ready) and failed per UTC hour since ``since``."""
    base = Document.objects.for_tenant(tenant)
    uploaded = (
        base.filter(created_at__gte=since).annotate(hour=TruncHour("created_at")).values("hour").annotate(n=Count("id"))
    )
    # A ready document records when it became ready; a failed one only when it last changed.
    ready = (
        base.filter(status=Document.Status.READY, ingested_at__gte=since)
        .annotate(hour=TruncHour("ingested_at"))
        .values("hour")
        .annotate(n=Count("id"))
    )
    failed = (
        base.filter(status=Document.Status.FAILED, updated_at__gte=since)
        .annotate(hour=TruncHour("updated_at"))
        .values("hour")
        .annotate(n=Count("id"))
    )
    return {
        name: {row["hour"]: row["n"] for row in qs.order_by()}
        for name, qs in (("uploaded", uploaded), ("ready", ready), ("failed", failed))
    }
