"""The safety net: no document stays non-terminal past its stage deadline.

``document_sweep_stuck`` is a platform job (it spans tenants, hence ``all_tenants()``), run every
minute by Celery beat as ``documents.sweep_stuck``. For each non-terminal document whose
``stage_deadline`` has passed it either re-queues it (at most ``DOCUMENT_SWEEP_REQUEUES`` times:
a lost broker message or a worker that died without redelivery) or fails it with a sentence
naming the stage and its deadline. Both are conditional UPDATEs on the state it read, so a
document that moved meanwhile is left alone, and running the sweep twice changes nothing more.
A re-queued document starts a fresh generation; the stale run, if it ever wakes up, loses its
lease at its next write and removes its own leftovers.

Documents that *failed* only because a backend stayed down through every retry (codes in
``OUTAGE_CODES``: Milvus, the embedding service) are re-queued by the sweep once that backend
answers again, so an outage longer than the task's retries needs no manual re-ingest either.
Only failures younger than ``DOCUMENT_OUTAGE_REQUEUE_WINDOW_S`` are picked up, and only while
the backend's readiness check passes, so a backend that stays down re-queues nothing.

A ``queued`` document whose ingest message could not be sent at upload (broker down; see
``documents.services.documents.NOT_QUEUED_DETAIL``) is sent again once its short retry time
passes; the sweep itself only runs when the broker is back, so nothing is stuck "queued".

It also finds ``ready``/``failed`` documents that still have rows of a superseded generation
(their cleanup was interrupted, e.g. Milvus was down) and queues the ingest task, which on a
terminal document only cleans up.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from documents.models import Chunk, Document
from documents.services.documents import NOT_QUEUED_DETAIL
from models_registry.backends import check_milvus, check_triton, triton_probe_url
from portal.celery import enqueue

logger = logging.getLogger(__name__)

Status = Document.Status
CLEANUP_BATCH = 200


#: error_code of a failure caused by a backend outage -> what the backend is called in the
#: re-queued document's status_detail. documents.tasks writes these codes.
OUTAGE_CODES = {
    "vector_store_unavailable": "the vector store (Milvus)",
    "inference_unavailable": "the embedding service",
    "database_unavailable": "the database",
}


@dataclass
class SweepResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cleanups: list[int] = field(default_factory=list)
    outage_requeued: list[int] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)


def _backend_back(code: str) -> bool:
    """The backend whose outage failed a document answers its readiness check now."""
    try:
        if code == "vector_store_unavailable":
            return check_milvus()[0]
        if code == "database_unavailable":
            return True  # the sweep itself just read it
        # In-process embeddings (no Triton configured) have no separate service to wait for.
        return check_triton()[0] if triton_probe_url() else True
    except Exception:  # a check that raises means "still down"
        return False


def _requeue_after_outage(now: dt.datetime, result: SweepResult) -> None:
    window = dt.timedelta(seconds=float(settings.DOCUMENT_OUTAGE_REQUEUE_WINDOW_S))
    queued_s = float(settings.DOCUMENT_STAGE_DEADLINE_S["queued"])
    failed = Document.objects.all_tenants().filter(
        status=Status.FAILED, error_code__in=list(OUTAGE_CODES), heartbeat_at__gte=now - window
    )
    codes = set(failed.values_list("error_code", flat=True).distinct())
    for code in sorted(c for c in codes if _backend_back(c)):
        for doc in failed.filter(error_code=code).only("id", "tenant_id", "heartbeat_at").iterator():
            with transaction.atomic():
                n = (
                    Document.objects.all_tenants()
                    .filter(pk=doc.pk, status=Status.FAILED, error_code=code, heartbeat_at=doc.heartbeat_at)
                    .update(
                        status=Status.QUEUED,
                        lease_id="",
                        error="",
                        error_code="",
                        stage_started_at=now,
                        stage_deadline=now + dt.timedelta(seconds=queued_s),
                        heartbeat_at=now,
                        status_detail=f"re-queued: {OUTAGE_CODES[code]} is available again",
                    )
                )
                if n:
                    result.outage_requeued.append(doc.pk)
                    enqueue("documents.ingest", tenant_id=doc.tenant_id, document_id=doc.pk)
    if result.outage_requeued:
        logger.warning("sweep: re-queued after a backend outage: %s", result.outage_requeued)


def _deadline_message(doc: Document) -> str:
    stage = Status(doc.status).label.lower()
    seconds = (
        int((doc.stage_deadline - doc.stage_started_at).total_seconds())
        if doc.stage_deadline and doc.stage_started_at
        else None
    )
    limit = f" (limit {seconds} s)" if seconds is not None else ""
    retried = " even after an automatic retry" if doc.requeues else ""
    return (
        f"ingestion stopped: the '{stage}' stage did not finish in time{limit}{retried}; "
        "re-ingest the document to try again"
    )


def document_sweep_stuck(*, now: dt.datetime | None = None) -> SweepResult:
    """Re-queue once, then fail, every non-terminal document past its deadline (all tenants)."""
    now = now or timezone.now()
    result = SweepResult()
    max_requeues = int(settings.DOCUMENT_SWEEP_REQUEUES)
    queued_s = float(settings.DOCUMENT_STAGE_DEADLINE_S["queued"])
    stuck = (
        Document.objects.all_tenants()
        .exclude(status__in=Document.TERMINAL)
        .filter(stage_deadline__lt=now)
        .only(
            "id", "tenant_id", "status", "lease_id", "requeues", "stage_started_at", "stage_deadline", "status_detail"
        )
    )
    for doc in stuck.iterator():
        same_state = Document.objects.all_tenants().filter(
            pk=doc.pk, status=doc.status, lease_id=doc.lease_id, stage_deadline=doc.stage_deadline
        )
        with transaction.atomic():
            if doc.status == Status.QUEUED and doc.status_detail == NOT_QUEUED_DETAIL:
                # Its message never reached the broker (down at upload): send it now, without
                # spending the document's re-queue; if sending fails again the row says so again.
                n = same_state.update(status_detail="", stage_deadline=now + dt.timedelta(seconds=queued_s))
                if n:
                    result.unsent.append(doc.pk)
                    enqueue("documents.ingest", tenant_id=doc.tenant_id, document_id=doc.pk)
            elif doc.requeues < max_requeues:
                n = same_state.update(
                    status=Status.QUEUED,
                    lease_id="",
                    requeues=F("requeues") + 1,
                    stage_started_at=now,
                    stage_deadline=now + dt.timedelta(seconds=queued_s),
                    status_detail=f"re-queued: the '{Status(doc.status).label.lower()}' stage passed its deadline",
                )
                if n:
                    result.requeued.append(doc.pk)
                    enqueue("documents.ingest", tenant_id=doc.tenant_id, document_id=doc.pk)
            else:
                n = same_state.update(
                    status=Status.FAILED,
                    lease_id="",
                    error=_deadline_message(doc),
                    error_code="deadline",
                    stage_deadline=None,
                    status_detail="",
                )
                if n:
                    result.failed.append(doc.pk)
                    # The ingest task on a terminal document removes the unfinished generation.
                    enqueue("documents.ingest", tenant_id=doc.tenant_id, document_id=doc.pk)
    if result.requeued or result.failed or result.unsent:
        logger.warning(
            "sweep: re-queued %s, failed %s, sent after a broker outage %s",
            result.requeued,
            result.failed,
            result.unsent,
        )
    _requeue_after_outage(now, result)

    leftovers = (
        Chunk.objects.all_tenants()
        .filter(document__status__in=Document.TERMINAL)
        .exclude(generation=F("document__generation"))
        .values_list("document_id", "tenant_id")
        .distinct()[:CLEANUP_BATCH]
    )
    for document_id, tenant_id in leftovers:
        result.cleanups.append(document_id)
        enqueue("documents.ingest", tenant_id=tenant_id, document_id=document_id)
    return result
