"""Upload, re-ingest and delete documents (the write side the API and the console call).

Each service authorises *before* its transaction (so a refused attempt is audited even though
nothing else is written), then, inside one transaction, changes rows, writes the audit event and
enqueues Celery work on commit with ``portal.celery.enqueue`` (a rolled-back upload never reaches a worker).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import logging
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from documents.extraction import ExtractionError, detect_kind
from documents.extraction.errors import _human_bytes
from documents.models import Document
from documents.naming import sanitize_filename, title_from_filename
from documents.selectors import document_find_duplicate
from portal.celery import enqueue
from portal.exceptions import ApplicationError, Conflict, PayloadTooLarge, ServiceUnavailable
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record
from usage.services import quota_check

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
    "md": "text/markdown",
}
# Text sniffing (charset detection) of a huge text file is slow; at upload a prefix decides.
# Binary formats are judged on the whole file (a zip's directory is at its end).
_TEXT_SNIFF_BYTES = 1024 * 1024


class DocumentRejected(ApplicationError):
    """The upload cannot be a document (empty, unsupported type, encrypted Office file)."""

    status_code = 400

    def __init__(self, message: str, *, code: str, filename: str) -> None:
        super().__init__(message, extra={"filename": filename})
        self.code = code


class DocumentTooLarge(PayloadTooLarge):
    pass


class StorageFull(ApplicationError):
    """The file store has no room (ENOSPC / quota): nothing was stored, nothing was recorded."""

    status_code = 507
    code = "storage_full"


#: What writing a file raises when the disk or the quota is full.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _store_file(document: Document, data: bytes, display: str) -> None:
    """Write the upload under a generated name; on a full disk remove whatever part of it was
    written (Django's FileSystemStorage leaves the partial file behind) and refuse with 507."""
    field = document.file.field
    name = default_storage.get_available_name(field.generate_filename(document, "upload"), max_length=field.max_length)
    try:
        document.file.name = default_storage.save(name, ContentFile(data), max_length=field.max_length)
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            raise
        with contextlib.suppress(OSError):
            default_storage.delete(name)
        document.file.name = ""
        logger.error("document upload not stored: the file storage is full (%s)", exc)
        raise StorageFull(
            f"'{display}' was not stored: the portal's file storage is full. Nothing was saved; "
            "try again later, or ask the platform operator to free space.",
            extra={"filename": display},
        ) from None


class DuplicateDocument(Conflict):
    code = "duplicate"


class IngestionBusy(ServiceUnavailable):
    """503 + Retry-After: the tenant (or the platform) already has as many documents waiting for
    ingestion as the workers are allowed to owe; nothing was stored."""

    code = "ingestion_busy"

    def __init__(self, message: str, *, retry_after_s: int, extra: dict[str, object] | None = None) -> None:
        super().__init__(message, extra=extra)
        self.retry_after_s = retry_after_s


def ingestion_backlog_check(*, tenant: Tenant) -> None:
    """Refuse a new upload (IngestionBusy) when documents not yet ready or failed already number
    ``DOCUMENT_MAX_PENDING_PER_TENANT`` for this tenant or ``DOCUMENT_MAX_PENDING`` for the
    platform (0 = no bound). Shedding here keeps an upload flood from queueing hours of work that
    would block every other tenant's documents, and tells the client when to try again instead."""
    per_tenant = int(settings.DOCUMENT_MAX_PENDING_PER_TENANT)
    platform = int(settings.DOCUMENT_MAX_PENDING)
    retry = int(settings.DOCUMENT_BUSY_RETRY_AFTER_S)
    waiting = [value for value in Document.Status.values if value not in Document.TERMINAL]
    pending = Document.objects.all_tenants().filter(status__in=waiting)
    if per_tenant and pending.filter(tenant=tenant).count() >= per_tenant:
        raise IngestionBusy(
            f"This workspace already has {per_tenant:,} documents waiting to be indexed; "
            f"please retry in {retry} seconds.",
            retry_after_s=retry,
            extra={"pending_limit": per_tenant, "retry_after_s": retry},
        )
    if platform and pending.count() >= platform:
        raise IngestionBusy(
            f"Document indexing is busy right now; please retry in {retry} seconds.",
            retry_after_s=retry,
            extra={"retry_after_s": retry},
        )


class DocumentBusy(Conflict):
    code = "busy"


def tenant_max_upload_bytes(tenant: Tenant) -> int:
    """The tenant's upload limit: ``tenant.settings["max_upload_bytes"]`` or the global default."""
    value = (tenant.settings or {}).get("max_upload_bytes")
    try:
        return int(value) if value else int(settings.DOCUMENT_MAX_UPLOAD_BYTES)
    except (TypeError, ValueError):
        return int(settings.DOCUMENT_MAX_UPLOAD_BYTES)


def _detect(data: bytes, filename: str) -> str:
    head = data[:8]
    binary = b"%PDF-" in data[:1024] or head.startswith((b"PK", b"\xd0\xcf\x11\xe0"))
    sample = data if binary or len(data) <= _TEXT_SNIFF_BYTES else data[:_TEXT_SNIFF_BYTES]
    return detect_kind(sample, filename)


#: status_detail of a queued document whose ingest message could not be sent (broker down).
#: documents.services.sweep re-sends those once its retry time has passed.
NOT_QUEUED_DETAIL = "waiting for the task queue (broker unavailable); ingestion starts automatically once it is back"


def _note_not_queued(document: Document, exc: Exception) -> None:
    """The broker refused the ingest message: say so on the row and have the sweep re-send it
    after ``DOCUMENT_UNQUEUED_RETRY_S`` (without spending the document's one stuck re-queue)."""
    retry_at = timezone.now() + dt.timedelta(seconds=float(settings.DOCUMENT_UNQUEUED_RETRY_S))
    Document.objects.for_tenant(document.tenant).filter(
        pk=document.pk, status=Document.Status.QUEUED, lease_id=""
    ).update(status_detail=NOT_QUEUED_DETAIL, stage_deadline=retry_at)
    document.status_detail, document.stage_deadline = NOT_QUEUED_DETAIL, retry_at


def _enqueue_ingest(document: Document) -> None:
    enqueue(
        "documents.ingest",
        tenant_id=document.tenant_id,
        document_id=document.pk,
        on_send_error=partial(_note_not_queued, document),
    )


def _queued_deadline() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=float(settings.DOCUMENT_STAGE_DEADLINE_S["queued"]))


def document_upload(
    *,
    tenant: Tenant,
    actor: Actor,
    file: File,
    filename: str | None = None,
    title: str | None = None,
    force: bool = False,
) -> Document:
    """Store an uploaded file and queue its ingestion; returns the ``queued`` document.

    The type comes from the bytes (``detect_kind``); the name is display metadata only and the
    stored name is generated. Raises ``PermissionDenied`` (403), ``DocumentTooLarge`` (413,
    tenant limit), ``DocumentRejected`` (400: empty, unsupported type, encrypted Office file),
    ``DuplicateDocument`` (409: same SHA-256 already in this tenant, unless ``force``),
    ``IngestionBusy`` (503 + Retry-After: too many documents already waiting to be indexed).
    """
    access_require(tenant=tenant, actor=actor, capability="documents.upload")
    quota_check(tenant=tenant, feature="embedding", add_documents=1, add_bytes=file.size or 0)
    ingestion_backlog_check(tenant=tenant)
    display = sanitize_filename(filename if filename is not None else getattr(file, "name", ""))
    limit = tenant_max_upload_bytes(tenant)
    size = file.size if file.size is not None else 0
    if size > limit:
        raise DocumentTooLarge(
            f"'{display}' is too large ({_human_bytes(size)}); this tenant's upload limit is {_human_bytes(limit)}.",
            extra={"filename": display, "size_bytes": size, "limit_bytes": limit},
        )
    file.seek(0)
    data = file.read(limit + 1)
    if len(data) > limit:  # the declared size lied
        raise DocumentTooLarge(
            f"'{display}' is too large; the limit is {_human_bytes(limit)}.",
            extra={"filename": display, "limit_bytes": limit},
        )
    try:
        kind = _detect(data, display)
    except ExtractionError as exc:
        raise DocumentRejected(
            f"'{display}' was not accepted: {exc.user_message}.", code=exc.code, filename=display
        ) from None
    sha256 = hashlib.sha256(data).hexdigest()
    if not force:
        existing = document_find_duplicate(tenant=tenant, sha256=sha256)
        if existing is not None:
            raise DuplicateDocument(
                f"'{display}' is already uploaded as document {existing.pk} ('{existing.title}'); "
                "upload with force=true to add it again.",
                extra={
                    "filename": display,
                    "existing_document": {"id": existing.pk, "title": existing.title, "status": existing.status},
                },
            )
    document = Document(
        tenant=tenant,
        title=(title or "").strip()[:300] or title_from_filename(display),
        filename=display,
        content_type=CONTENT_TYPES[kind],
        kind=kind,
        size_bytes=len(data),
        sha256=sha256,
        status=Document.Status.QUEUED,
        stage_started_at=timezone.now(),
        stage_deadline=_queued_deadline(),
        uploaded_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    # The file is written before the transaction; if the transaction fails it is removed again,
    # so a failed upload leaves neither a row nor a stray file.
    _store_file(document, data, display)
    try:
        with transaction.atomic():
            document.full_clean()
            document.save()
            audit_record(
                tenant=tenant,
                actor=actor,
                action="documents.document.created",
                target=document,
                changes={
                    "filename": [None, display],
                    "kind": [None, kind],
                    "size_bytes": [None, len(data)],
                    "sha256": [None, sha256],
                    "forced": force,
                },
            )
            _enqueue_ingest(document)
    except BaseException:
        if document.file.name:
            default_storage.delete(document.file.name)
        raise
    return document


def document_reingest(*, tenant: Tenant, actor: Actor, document: Document) -> Document:
    """Queue a new ingestion of a ``ready`` or ``failed`` document.

    The current generation stays searchable until the new one is complete (see ingestion.py).
    Raises ``DocumentBusy`` (409) while the document is still being ingested.
    """
    access_require(tenant=tenant, actor=actor, capability="documents.upload", target=document)
    with transaction.atomic():
        before = document.status
        n = (
            Document.objects.for_tenant(tenant)
            .filter(pk=document.pk, status__in=Document.TERMINAL)
            .update(
                status=Document.Status.QUEUED,
                error="",
                error_code="",
                status_detail="",
                lease_id="",
                stage_started_at=timezone.now(),
                stage_deadline=_queued_deadline(),
                requeues=0,
                updated_at=timezone.now(),
            )
        )
        if not n:
            raise DocumentBusy(
                f"Document {document.pk} is still being ingested ({document.status}); wait until it is ready or failed."
            )
        document.refresh_from_db()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="documents.document.reingested",
            target=document,
            changes={"status": [before, document.status], "generation": document.generation},
        )
        _enqueue_ingest(document)
    return document


def documents_reindex(*, tenant: Tenant, actor: Actor, model_id: str, everything: bool = False) -> list[int]:
    """Queue a re-ingestion of the tenant's terminal documents indexed by another model than
    ``model_id`` (or all of them with ``everything``): what a change of ``EMBEDDING_MODEL`` or
    of the chunk format (contextual ``index_text``) needs. Busy documents are skipped (their
    running ingestion already uses the current code). Returns the ids queued."""
    qs = Document.objects.for_tenant(tenant).filter(status__in=Document.TERMINAL).order_by("pk")
    if not everything:
        qs = qs.exclude(embedding_model=model_id[:200])
    queued: list[int] = []
    for document in qs:
        try:
            document_reingest(tenant=tenant, actor=actor, document=document)
        except DocumentBusy:
            continue
        queued.append(document.pk)
    return queued


def document_delete(*, tenant: Tenant, actor: Actor, document: Document) -> None:
    """Delete a document and its chunks now; its vectors and stored file go right after commit
    (``documents.purge``, retried while Milvus is down). A run still ingesting it notices the
    row is gone at its next write and removes what it wrote."""
    access_require(tenant=tenant, actor=actor, capability="documents.delete", target=document)
    with transaction.atomic():
        audit_record(
            tenant=tenant,
            actor=actor,
            action="documents.document.deleted",
            target=document,
            changes={"filename": [document.filename, None], "status": [document.status, None]},
        )
        document_id, file_name = document.pk, document.file.name
        document.delete()  # cascades to its chunks
        enqueue("documents.purge", tenant_id=tenant.pk, document_id=document_id, file_name=file_name)
