"""Celery tasks of the documents app (queue ``ingestion``, see CELERY_TASK_ROUTES).

Tasks take ids, load rows through ``for_tenant`` and call one service. All are idempotent and
``acks_late`` + ``reject_on_worker_lost``: a worker killed mid-task leaves the message in the
broker, it is delivered again, and the service resumes the same building generation (the task
id, kept across retries and redeliveries, is the document's lease id).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import Task, shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from documents.services.ingestion import (
    TRANSIENT_ERRORS,
    IndexIncomplete,
    LeaseHeld,
    document_ingest,
    document_mark_failed,
    document_purge,
)
from documents.services.sweep import document_sweep_stuck
from inference.embedding import InferenceUnavailable
from inference.vectorstore import VectorStoreUnavailable
from tenants.models import Tenant

logger = logging.getLogger(__name__)


#: The database went away under the task (restart, failover, network): the run is retried on a
#: fresh connection (Celery's Django fixup drops the broken one) and resumes its lease.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def _failure_message(exc: BaseException, retries: int) -> tuple[str, str]:
    if isinstance(exc, DATABASE_ERRORS):
        return (
            f"the database stayed unavailable after {retries} retries; "
            "the document is re-queued automatically once it is back",
            "database_unavailable",
        )
    if isinstance(exc, VectorStoreUnavailable):
        return (
            f"the vector store (Milvus) stayed unavailable after {retries} retries; "
            "the document is re-queued automatically once it is back",
            "vector_store_unavailable",
        )
    if isinstance(exc, InferenceUnavailable):
        return (
            f"the embedding service stayed unavailable after {retries} retries; "
            "the document is re-queued automatically once it is back",
            "inference_unavailable",
        )
    if isinstance(exc, IndexIncomplete):
        return ("the vector index stayed incomplete after several attempts; re-ingest the document", "index_incomplete")
    if isinstance(exc, SoftTimeLimitExceeded):
        return (
            f"ingestion took longer than the time limit ({settings.CELERY_TASK_SOFT_TIME_LIMIT} s); "
            "split the document and upload the parts",
            "timeout",
        )
    return (f"an internal error stopped the ingestion ({type(exc).__name__}); it has been logged", "internal_error")


class DocumentIngestTask(DjangoTask):
    """Ends the document ``failed`` whenever the task itself fails for good (retries exhausted,
    unexpected exception, soft time limit), so a failure never leaves it non-terminal."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, LeaseHeld):
            return  # another live run has the document; it will finish it
        if isinstance(exc, DATABASE_ERRORS):
            close_old_connections()  # the broken connection is useless; open a fresh one
        message, code = _failure_message(exc, self.request.retries)
        try:
            tenant = Tenant.objects.filter(pk=kwargs.get("tenant_id")).first()
            if tenant is None:
                return
            changed = document_mark_failed(
                tenant=tenant, document_id=kwargs["document_id"], lease_id=task_id, message=message, code=code
            )
        except DATABASE_ERRORS as db_exc:
            # Still no database: an exception here would stop the whole worker. The document
            # stays non-terminal and the sweep re-queues or fails it past its stage deadline.
            logger.error("documents.ingest %s: cannot record the failure (%r) for now: %r", task_id, exc, db_exc)
            return
        logger.error(
            "documents.ingest %s failed for document %s (%s): %r",
            task_id,
            kwargs.get("document_id"),
            "marked failed" if changed else "already terminal",
            exc,
        )


@shared_task(
    name="documents.ingest",
    bind=True,
    base=DocumentIngestTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=settings.DOCUMENT_INGEST_RETRY_BACKOFF_MAX_S,
    retry_jitter=True,
    max_retries=settings.DOCUMENT_INGEST_MAX_RETRIES,
)
def document_ingest_task(self: Task, *, tenant_id: int, document_id: int) -> None:
    """Ingest (or resume, or just clean up) one document; see ``document_ingest``.

    Idempotent: on a ready/failed document it only removes superseded generations.
    """
    lease_id = self.request.id or f"direct-{uuid.uuid4().hex}"
    try:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            return
        document_ingest(tenant=tenant, document_id=document_id, lease_id=lease_id)
    except LeaseHeld as exc:
        raise self.retry(exc=exc, countdown=exc.retry_in_s) from None
    except DATABASE_ERRORS as exc:
        # The database went away (restart, failover): wait for it with a growing, unjittered
        # delay (5, 10, 20 s ... capped) instead of spending every retry in the same second;
        # the retried run resumes this lease on a fresh connection.
        close_old_connections()
        countdown = min(settings.DOCUMENT_INGEST_RETRY_BACKOFF_MAX_S, 5 * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from None


@shared_task(
    name="documents.purge",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(VectorStoreUnavailable,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=20,
)
def document_purge_task(self: Task, *, tenant_id: int, document_id: int, file_name: str) -> None:
    """Remove a deleted document's vectors and stored file. Idempotent."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    document_purge(tenant=tenant, document_id=document_id, file_name=file_name)


@shared_task(name="documents.sweep_stuck", acks_late=True, reject_on_worker_lost=True)
def document_sweep_stuck_task() -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): re-queue once, then fail, documents past their deadline."""
    document_sweep_stuck()
