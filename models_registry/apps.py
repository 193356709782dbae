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
