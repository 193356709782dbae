"""Celery tasks of the usage app."""

from __future__ import annotations

from celery import shared_task

from usage.services import usage_flush


@shared_task(name="usage.flush", acks_late=True, reject_on_worker_lost=True)
def usage_flush_task() -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): move metered counters into UsageHour rows.

    Idempotent and safe to run twice at once (usage/meter.py: the ledger admits a processing
    key once), so a redelivered or overlapping run never counts anything twice.
    """
    usage_flush()
