"""Document services: the only code that changes documents, chunks and their vectors."""

from documents.services.documents import (
    DocumentBusy,
    DocumentRejected,
    DocumentTooLarge,
    DuplicateDocument,
    StorageFull,
    document_delete,
    document_reingest,
    document_upload,
    documents_reindex,
    tenant_max_upload_bytes,
)
from documents.services.ingestion import (
    IndexIncomplete,
    IngestConfig,
    IngestTimings,
    LeaseHeld,
    LeaseLost,
    document_ingest,
    document_mark_failed,
    document_purge,
)
from documents.services.sweep import SweepResult, document_sweep_stuck

__all__ = [
    "DocumentBusy",
    "DocumentRejected",
    "DocumentTooLarge",
    "DuplicateDocument",
    "IndexIncomplete",
    "IngestConfig",
    "IngestTimings",
    "LeaseHeld",
    "LeaseLost",
    "StorageFull",
    "SweepResult",
    "document_delete",
    "document_ingest",
    "document_mark_failed",
    "document_purge",
    "document_reingest",
    "document_sweep_stuck",
    "document_upload",
    "documents_reindex",
    "tenant_max_upload_bytes",
]
