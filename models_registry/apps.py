from __future__ import annotations

from django.apps import AppConfig

from models_registry.backends import register_readiness_checks
from tenants.console.nav import NavItem, register_nav


class ModelsRegistryConfig(AppConfig):
    name = "models_registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        register_nav(NavItem("Models", "models_registry:list", "models.read", 40))
        register_nav(NavItem("Serving", "models_registry:serving", "models.read", 41))
        register_readiness_checks()
        _stop_local_triton_with_the_worker()


def _stop_local_triton_with_the_worker() -> None:
    """A tritonserver a Celery process started stops when that process shuts down.

    Prefork pool processes leave through ``os._exit`` (no ``atexit``): without this hook a
    served model's tritonserver, which leads its own process group, outlived ``make run``.
    """
    from celery.signals import worker_process_shutdown, worker_shutdown

    from inference.triton.local import local_servers_stop_started

    def _stop(**_: object) -> None:
        local_servers_stop_started()

    # weak=False: the receiver is a closure that nothing else keeps alive.
    worker_process_shutdown.connect(_stop, weak=False, dispatch_uid="models_registry.stop_local_triton.process")
    worker_shutdown.connect(_stop, weak=False, dispatch_uid="models_registry.stop_local_triton.worker")
