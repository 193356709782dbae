from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.api import install_strict_strings
        from tenants import signals  # noqa: F401

        install_strict_strings()  # JSON string fields take strings only (the OpenAPI contract)
