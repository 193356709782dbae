"""Celery tasks of the recommendations app."""

from __future__ import annotations

from celery import shared_task

from recommendations.services import training_run_execute, training_run_worker_lost, training_runs_sweep_stale
from tenants.models import Tenant


@shared_task(name="recommendations.train", bind=True, acks_late=True, reject_on_worker_lost=True)
def training_run_task(self, *, tenant_id: int, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Train one queued run of one tenant.

    Idempotent: the service claims the run with a conditional UPDATE (queued -> running) and
    returns at once when the run was already claimed or finished, so a redelivery (acks_late)
    or a second call does nothing. Every failure ends the run FAILED with a reason and is not
    retried (training is deterministic: the same data fails the same way), except a worker that
    died under it: see the redelivery below. A deleted tenant's task does nothing.
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    if (self.request.delivery_info or {}).get("redelivered"):
        # The broker gave this message back: the worker that took it died without acking it
        # (SIGKILL, OOM). A run it left "running" is queued again (or, out of attempts, ends
        # FAILED with the reason); a run it never claimed is still queued. Either trains below.
        training_run_worker_lost(tenant=tenant, run_id=run_id)
    training_run_execute(tenant=tenant, run_id=run_id)


@shared_task(name="recommendations.sweep_stale_runs", acks_late=True, reject_on_worker_lost=True)
def training_runs_sweep_stale_task() -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): no training run stays ``running`` past STALE_RUNNING_S."""
    training_runs_sweep_stale()
