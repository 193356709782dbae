from __future__ import annotations

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from documents.console.charts import documents_dashboard_charts
        from documents.console.views import documents_dashboard_cards
        from tenants.console.nav import NavItem, register_nav
        from tenants.console.views import DASHBOARD_CARDS, register_dashboard_chart

        register_nav(NavItem("Documents", "documents:list", "documents.read", 10))
        from documents.selectors import document_storage
        from usage.registry import register_storage

        register_storage(document_storage)
        if documents_dashboard_cards not in DASHBOARD_CARDS:
            DASHBOARD_CARDS.append(documents_dashboard_cards)
        register_dashboard_chart("documents.read", documents_dashboard_charts)
