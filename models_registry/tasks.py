"""Celery tasks of the model registry: local Triton serving (queue ``deploy``, routed by name).

Each takes ids, loads the tenant, calls one service and is idempotent: a redelivered serve
re-claims only a row still LOADING, a redelivered unserve only a row still UNLOADING.
``tenant_id`` is None for platform-shared models; a deleted tenant's task does nothing.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from inference.triton.client import TritonUnavailable
from inference.triton.local import local_server_ensure, local_server_stop
from models_registry.backends import local_triton_config
from models_registry.services import serving_fail, serving_load, serving_reconcile, serving_unload
from tenants.models import Tenant

_COMMON: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}
_MISSING = object()


def _tenant(tenant_id: int | None) -> Any:
    """The row's tenant, None for a platform-shared model, or ``_MISSING`` if it was deleted."""
    if tenant_id is None:
        return None
    return Tenant.objects.filter(pk=tenant_id).first() or _MISSING


@shared_task(
    name="models_registry.serve", autoretry_for=(TritonUnavailable,), retry_backoff=True, max_retries=5, **_COMMON
)
def serving_load_task(
    self: Any, *, tenant_id: int | None, serving_id: int, triggered_by_user_id: int | None = None
) -> None:
    """Load one version on the local tritonserver (starting the server if needed)."""
    tenant = _tenant(tenant_id)
    if tenant is _MISSING:
        return
    try:
        serving_load(
            tenant=tenant,
            serving_id=serving_id,
            config=local_triton_config(),
            triggered_by_user_id=triggered_by_user_id,
        )
    except TritonUnavailable as exc:
        if self.request.retries < self.max_retries:
            raise  # autoretry_for retries it with backoff
        # Out of retries: the row must not stay LOADING forever.
        serving_fail(
            tenant=tenant,
            serving_id=serving_id,
            error=f"Triton unreachable after retries: {exc}",
            triggered_by_user_id=triggered_by_user_id,
        )


@shared_task(
    name="models_registry.unserve", autoretry_for=(TritonUnavailable,), retry_backoff=True, max_retries=5, **_COMMON
)
def serving_unload_task(
    self: Any, *, tenant_id: int | None, serving_id: int, triggered_by_user_id: int | None = None
) -> None:
    """Unload one serving row's model from the local tritonserver."""
    tenant = _tenant(tenant_id)
    if tenant is _MISSING:
        return
    serving_unload(
        tenant=tenant, serving_id=serving_id, config=local_triton_config(), triggered_by_user_id=triggered_by_user_id
    )


@shared_task(name="models_registry.local_triton_start", **_COMMON)
def local_triton_start_task(self: Any) -> None:
    """Start the local tritonserver unless one answers (platform operation)."""
    local_server_ensure(local_triton_config()).close()


@shared_task(name="models_registry.local_triton_stop", **_COMMON)
def local_triton_stop_task(self: Any) -> None:
    """Stop the local tritonserver, whichever process started it (platform operation)."""
    local_server_stop(local_triton_config())


@shared_task(name="models_registry.reconcile_local", **_COMMON)
def serving_reconcile_task(self: Any) -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): reload what the local tritonserver lost (platform sweep)."""
    serving_reconcile(config=local_triton_config())
