"""Celery tasks for the local Triton target (queue ``deploy``). They take ids, load rows through
the services, and are idempotent: a redelivered serve re-claims only a row still LOADING."""

from __future__ import annotations

from celery import shared_task

from deploy.triton.client import TritonUnavailable

QUEUE = "deploy"
_COMMON = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


def enqueue_on_commit(task, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """``task.delay_on_commit(**kwargs)`` on the ``deploy`` queue (the task-level ``queue`` option
    is deprecated in Celery 5 and CELERY_TASK_ROUTES only routes ``deploy.*`` names there)."""
    from functools import partial

    from django.db import transaction

    transaction.on_commit(partial(task.apply_async, kwargs=kwargs, queue=QUEUE))


@shared_task(
    name="models_registry.serve", autoretry_for=(TritonUnavailable,), retry_backoff=True, max_retries=5, **_COMMON
)
def serving_load_task(self, *, serving_id: int, triggered_by_user_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    """Load one version on the local tritonserver (starting the server if needed)."""
    from models_registry.services import serving_fail, serving_load
    from models_registry.serving import LocalTritonConfig

    try:
        serving_load(
            serving_id=serving_id, config=LocalTritonConfig.from_settings(), triggered_by_user_id=triggered_by_user_id
        )
    except TritonUnavailable as exc:
        if self.request.retries < self.max_retries:
            raise  # autoretry_for retries it with backoff
        # Out of retries: the row must not stay LOADING forever.
        serving_fail(
            serving_id=serving_id,
            error=f"Triton unreachable after retries: {exc}",
            triggered_by_user_id=triggered_by_user_id,
        )


@shared_task(
    name="models_registry.unserve", autoretry_for=(TritonUnavailable,), retry_backoff=True, max_retries=5, **_COMMON
)
def serving_unload_task(self, *, serving_id: int, triggered_by_user_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    from models_registry.services import serving_unload
    from models_registry.serving import LocalTritonConfig

    serving_unload(
        serving_id=serving_id, config=LocalTritonConfig.from_settings(), triggered_by_user_id=triggered_by_user_id
    )


@shared_task(name="models_registry.local_triton", **_COMMON)
def local_triton_task(self, *, action: str) -> None:  # type: ignore[no-untyped-def]
    """``action="start"``: start the local tritonserver unless one answers; ``"stop"``: stop it."""
    from models_registry.serving import LocalTritonConfig, local_server_ensure, local_server_stop

    config = LocalTritonConfig.from_settings()
    if action == "start":
        local_server_ensure(config).close()
    elif action == "stop":
        local_server_stop(config)
    else:
        raise ValueError(f"unknown action {action!r}; use 'start' or 'stop'")
