"""Factories for documents tests: Document rows with a stored file, optionally one chunk."""

from __future__ import annotations

from django.core.files.base import ContentFile

from documents.models import Chunk, Document
from tenants.models import Tenant


def document(
    tenant: Tenant,
    *,
    title: str = "doc",
    status: str = Document.Status.READY,
    chunks_total: int = 1,
    chunks_done: int | None = None,
    with_chunk: bool = False,
) -> Document:
    """A generation-1 document with a 3-byte file; `with_chunk` adds chunk 0 ("text of <slug>").

    `chunks_done` defaults to `chunks_total` for a READY document and to one less otherwise.
    """
    if chunks_done is None:
        chunks_done = chunks_total if status == Document.Status.READY else max(chunks_total - 1, 0)
    doc = Document(
        tenant=tenant,
        title=title,
        filename=f"{title}.txt",
        kind="txt",
        size_bytes=3,
        sha256="0" * 64,
        status=status,
        generation=1,
        building_generation=1,
        chunks_total=chunks_total,
        chunks_done=chunks_done,
    )
    doc.file.save("x", ContentFile(b"abc"), save=False)
    doc.save()
    if with_chunk:
        Chunk.objects.create(tenant=tenant, document=doc, generation=1, ordinal=0, text=f"text of {tenant.slug}")
    return doc
