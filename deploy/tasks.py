"""Celery tasks for deployments (queue `deploy`). Each takes ids, loads rows through
`for_tenant`, calls one service and returns nothing. All are idempotent (claim by conditional
update inside the services) and acks_late + reject_on_worker_lost, so a worker that dies mid-task
gets the message redelivered instead of losing it."""

from __future__ import annotations

from celery import shared_task

from deploy.services import deployment_measure, rollout_execute, rollout_sweep_stale
from tenants.models import Tenant


@shared_task(name="deploy.rollout", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def rollout_execute_task(self, *, tenant_id: int, rollout_id: int) -> None:  # type: ignore[no-untyped-def]
    """Drive a rollout to active / rolled_back / failed (states: see deploy.services.rollouts)."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        rollout_execute(tenant=tenant, rollout_id=rollout_id)


@shared_task(name="deploy.sweep_stale_rollouts", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sweep_stale_rollouts_task() -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): end in-progress rollouts past their deadline."""
    rollout_sweep_stale()


@shared_task(
    name="deploy.measure",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def deployment_measure_task(*, tenant_id: int, deployment_id: int) -> None:
    """Plan vs actual on the local Triton target: measure latency at the planned concurrency."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        deployment_measure(tenant=tenant, deployment_id=deployment_id)
