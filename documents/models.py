"""Documents and their chunks (the Q&A records built on them live in ``qa.models``).

Status machine of a Document (see documents/services/ingestion.py):
    queued -> extracting -> chunking -> embedding -> indexing -> ready
                 \\-----------\\-----------\\-----------\\--> failed (with `error`, a sentence)
Every non-terminal state carries `stage_deadline`; a sweep fails documents past it, so nothing
stays non-terminal forever. `generation` counts ingestions: chunks and vectors of the active
generation are searchable; a re-ingest builds generation+1 beside it and swaps atomically.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from tenants.querysets import TenantOwnedModel


def document_upload_to(instance: Any, filename: str) -> str:
    """Storage name for an upload: ``documents/<tenant id>/<uuid4>.<kind>``.

    The uploader's file name is never part of the path (it is untrusted: ``../`` and friends);
    it is kept only as display metadata in ``Document.filename``.
    """
    ext = instance.kind if instance.kind in Document.Kind.values else "bin"
    return f"documents/{instance.tenant_id}/{uuid.uuid4().hex}.{ext}"


class Document(TenantOwnedModel):
    """An uploaded file and the state of its ingestion.

    Invariants: ``status`` is terminal (ready/failed) or carries a ``stage_deadline``; only the
    holder of ``lease_id`` moves a non-terminal document (every write is a conditional UPDATE on
    it); chunks and vectors of ``generation`` are the searchable set, those of
    ``building_generation`` (when different) are being built and are never searched.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        EXTRACTING = "extracting", "Extracting text"
        CHUNKING = "chunking", "Chunking"
        EMBEDDING = "embedding", "Embedding"
        INDEXING = "indexing", "Indexing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    TERMINAL = (Status.READY, Status.FAILED)

    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word (DOCX)"
        TXT = "txt", "Text"
        MD = "md", "Markdown"

    title = models.CharField(max_length=300)
    filename = models.CharField(max_length=255, help_text="The uploader's file name; metadata only.")
    file = models.FileField(upload_to=document_upload_to, max_length=300)
    content_type = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    # Progress for the console and API
    pages_total = models.PositiveIntegerField(null=True, blank=True)
    pages_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    # Ingestion bookkeeping
    generation = models.PositiveIntegerField(default=0, help_text="Active (searchable) generation; 0 = none yet")
    building_generation = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    requeues = models.PositiveSmallIntegerField(default=0, help_text="Times the sweep re-queued it")
    lease_id = models.CharField(max_length=64, blank=True, help_text="Id of the task run that holds the work")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    status_detail = models.CharField(max_length=300, blank=True, help_text="e.g. 'retrying: Milvus unavailable'")
    stage_started_at = models.DateTimeField(null=True, blank=True)
    stage_deadline = models.DateTimeField(null=True, blank=True)
    ingested_at = models.DateTimeField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status"]),
            models.Index(fields=["tenant", "sha256"]),
            # the platform-wide count of documents still being indexed (upload backlog bound):
            # nearly every row is ready, so the few pending ones are found through this index
            models.Index(fields=["status"], name="documents_doc_status_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def progress_percent(self) -> int:
        """0-100 for the console's progress bar (stages weighted by their usual cost)."""
        if self.status == self.Status.READY:
            return 100
        if self.status in (self.Status.QUEUED, self.Status.FAILED):
            return 0
        if self.status == self.Status.EXTRACTING:
            return 5
        if self.status == self.Status.CHUNKING:
            return 10
        if self.status == self.Status.EMBEDDING and self.chunks_total:
            return 10 + int(85 * min(self.chunks_done, self.chunks_total) / self.chunks_total)
        return 97


class Chunk(TenantOwnedModel):
    """A piece of a document's text as embedded and indexed; its pk is the vector's primary key."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    generation = models.PositiveIntegerField()
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page = models.PositiveIntegerField(null=True, blank=True, help_text="First 1-based page (PDF)")
    pages = models.JSONField(default=list, blank=True)
    heading_path = models.JSONField(default=list, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    # What is embedded and BM25-indexed: title, heading path and table context, then ``text``.
    # ``text`` stays the verbatim passage that quotes are cut from. Empty on rows written before
    # contextual chunks existed (they are indexed by ``text`` until re-ingested).
    index_text = models.TextField(blank=True, default="")
    location = models.CharField(
        max_length=300, blank=True, default="", help_text="Where a reader finds it: heading path, 'Table 2, rows 3-9'"
    )
    kind = models.CharField(max_length=20, blank=True, default="paragraph", help_text="paragraph, table, footnote, ...")

    class Meta:
        ordering = ["document_id", "generation", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "document", "generation", "ordinal"], name="uniq_chunk_ordinal"),
        ]
        indexes = [models.Index(fields=["tenant", "document", "generation"])]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal} (gen {self.generation})"

    @property
    def indexed_text(self) -> str:
        """The text embedded and BM25-indexed for this chunk."""
        return self.index_text or self.text
