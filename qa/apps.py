from __future__ import annotations

from django.apps import AppConfig


class QaConfig(AppConfig):
    name = "qa"
    verbose_name = "Document Q&A"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.console.nav import NavItem, register_nav

        register_nav(NavItem("Ask", "qa:chat", "qa.ask", 20))
