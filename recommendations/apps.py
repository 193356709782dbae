from __future__ import annotations

from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.console.nav import NavItem, register_nav

        register_nav(NavItem("Recommendations", "recs:catalog", "catalog.read", 30))
